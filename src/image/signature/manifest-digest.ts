// The manifest digest a signature must name (upstream manifest.Digest / MatchesDigest): sha256
// of the bytes, except that a signed Docker schema1 manifest is hashed without its JWS
// signatures. Kept here until src/image/manifest provides it.
import { Buffer } from 'node:buffer';
import { type Digest, digestOf } from '../digest.ts';
import { SignatureError } from './errors.ts';

function fail(detail: string): never {
  throw new SignatureError('MANIFEST_DIGEST_FAILED', `computing manifest digest: ${detail}`);
}

function base64UrlDecode(s: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) fail('invalid base64url in schema1 signature');
  return Buffer.from(s, 'base64url');
}

/** The payload libtrust signed: the manifest up to `formatLength`, plus `formatTail`. */
function schema1Payload(manifest: Uint8Array, signatures: unknown): Uint8Array {
  if (!Array.isArray(signatures) || signatures.length === 0)
    fail('schema1 "signatures" is not a non-empty array');
  let payload: Uint8Array | undefined;
  for (const sig of signatures as unknown[]) {
    const protectedField = (sig as { protected?: unknown } | null)?.protected;
    if (typeof protectedField !== 'string') fail('schema1 signature without a protected header');
    let header: { formatLength?: unknown; formatTail?: unknown };
    try {
      header = JSON.parse(base64UrlDecode(protectedField).toString('utf8'));
    } catch {
      fail('schema1 signature protected header is not JSON');
    }
    const { formatLength, formatTail } = header;
    if (
      typeof formatLength !== 'number' ||
      !Number.isInteger(formatLength) ||
      typeof formatTail !== 'string'
    ) {
      fail('schema1 protected header lacks formatLength/formatTail');
    }
    if (formatLength < 0 || formatLength > manifest.byteLength) fail('schema1 formatLength out of range');
    const candidate = Buffer.concat([manifest.subarray(0, formatLength), base64UrlDecode(formatTail)]);
    if (payload !== undefined && !Buffer.from(payload).equals(candidate))
      fail('schema1 signatures disagree on the payload');
    payload = candidate;
  }
  return payload!;
}

/** sha256 digest of a manifest as signatures name it. */
export function manifestDigest(manifest: Uint8Array): Digest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      Buffer.from(manifest.buffer, manifest.byteOffset, manifest.byteLength).toString('utf8'),
    );
  } catch {
    parsed = undefined; // not JSON: hashed as is, like upstream's GuessMIMEType fallback
  }
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    (parsed as { schemaVersion?: unknown }).schemaVersion === 1 &&
    (parsed as { signatures?: unknown }).signatures != null
  ) {
    return digestOf(schema1Payload(manifest, (parsed as { signatures: unknown }).signatures));
  }
  return digestOf(manifest);
}

/** True when `expected` is the manifest's canonical (sha256) digest; other algorithms never match. */
export function manifestMatchesDigest(manifest: Uint8Array, expected: Digest): boolean {
  return manifestDigest(manifest) === expected;
}
