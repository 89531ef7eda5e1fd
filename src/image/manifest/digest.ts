import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto';
import { type Digest, type DigestAlgorithm, digestOf, isDigest } from '../digest.ts';
import { ManifestError } from './errors.ts';
import { guessMIMEType } from './guess.ts';
import { describe, isObject, tryParseJson } from './json.ts';
import { DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE } from './mediatypes.ts';

function invalidSignature(detail: string, cause?: unknown): ManifestError {
  return new ManifestError('MANIFEST_SIGNATURE_INVALID', `parsing schema1 JWS signatures: ${detail}`, {
    cause,
  });
}

// libtrust's joseBase64UrlDecode: unpadded base64url, spaces and newlines ignored, strictly decoded.
function joseBase64UrlDecode(input: string, what: string): Buffer {
  const s = input.replace(/[\n ]/g, '');
  if (s.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(s)) {
    throw invalidSignature(`${what}: illegal base64url string`);
  }
  return Buffer.from(s, 'base64url');
}

/** libtrust's key ID: base32 of the first 240 bits of SHA-256(SPKI DER), in groups of four. */
function libtrustKeyID(spkiDer: Buffer): string {
  const hash = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)?.join(':') ?? '';
}

function checkJWK(jwk: unknown, index: number): void {
  if (!isObject(jwk) || (jwk.kty !== 'EC' && jwk.kty !== 'RSA')) {
    throw invalidSignature(`signature ${index}: jwk: expected an EC or RSA public key`);
  }
  let der: Buffer;
  try {
    der = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({
      type: 'spki',
      format: 'der',
    });
  } catch (err) {
    throw invalidSignature(`signature ${index}: jwk: ${(err as Error).message}`, err);
  }
  if (jwk.kid !== undefined && jwk.kid !== libtrustKeyID(der)) {
    throw invalidSignature(`signature ${index}: jwk: key ID does not match the key`);
  }
}

/**
 * The payload a signed schema1 manifest was signed over: the bytes up to the `formatLength` every
 * signature's protected header records, plus their `formatTail` (libtrust ParsePrettySignature).
 */
export function schema1SignedPayload(manifest: Uint8Array): Uint8Array {
  const parsed = tryParseJson(manifest);
  if (parsed === undefined || !isObject(parsed.value)) {
    throw invalidSignature('expected a JSON object');
  }
  const blocks = parsed.value.signatures;
  if (blocks === undefined) throw invalidSignature('missing signature key');
  if (blocks !== null && !Array.isArray(blocks)) {
    throw invalidSignature(`signatures: expected array, got ${describe(blocks)}`);
  }
  let formatLength = 0;
  let formatTail: Buffer | undefined;
  for (const [i, block] of (blocks ?? []).entries()) {
    if (!isObject(block)) throw invalidSignature(`signature ${i}: expected object, got ${describe(block)}`);
    const { header, protected: protectedHeader, signature } = block;
    if (!isObject(header))
      throw invalidSignature(`signature ${i}: header: expected object, got ${describe(header)}`);
    if (header.alg !== undefined && header.alg !== null && typeof header.alg !== 'string') {
      throw invalidSignature(`signature ${i}: header.alg: expected string`);
    }
    if (signature !== undefined && signature !== null && typeof signature !== 'string') {
      throw invalidSignature(`signature ${i}: signature: expected string`);
    }
    if (typeof protectedHeader !== 'string' && protectedHeader !== undefined && protectedHeader !== null) {
      throw invalidSignature(`signature ${i}: protected: expected string`);
    }
    const decoded = tryParseJson(joseBase64UrlDecode(protectedHeader ?? '', `signature ${i}: protected`));
    if (decoded === undefined) throw invalidSignature(`signature ${i}: protected header is not JSON`);
    const ph = isObject(decoded.value) ? decoded.value : {};
    if (typeof ph.formatLength !== 'number')
      throw invalidSignature(`signature ${i}: missing formatted length`);
    if (typeof ph.formatTail !== 'string') throw invalidSignature(`signature ${i}: missing formatted tail`);
    const length = Math.trunc(ph.formatLength);
    const tail = joseBase64UrlDecode(ph.formatTail, `signature ${i}: formatTail`);
    if (formatLength === 0) formatLength = length;
    else if (formatLength !== length) throw invalidSignature('conflicting format length');
    if (formatTail === undefined || formatTail.length === 0) formatTail = tail;
    else if (!formatTail.equals(tail)) throw invalidSignature('conflicting format tail');
    if (header.jwk !== undefined) checkJWK(header.jwk, i);
  }
  if (formatLength < 0 || formatLength > manifest.length) throw invalidSignature('invalid format length');
  return Buffer.concat([manifest.subarray(0, formatLength), formatTail ?? Buffer.alloc(0)]);
}

/**
 * The digest of a manifest as registries compute it: signed schema1 manifests are hashed without
 * their JWS signatures (upstream manifest.Digest). Throws MANIFEST_SIGNATURE_INVALID when the
 * signatures cannot be stripped.
 */
export function manifestDigest(manifest: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const payload =
    guessMIMEType(manifest) === DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE
      ? schema1SignedPayload(manifest)
      : manifest;
  return digestOf(payload, algorithm);
}

/**
 * True when the manifest hashes to `expected` (upstream MatchesDigest). A malformed or
 * unsupported `expected` is simply no match; unstrippable schema1 signatures throw.
 */
export function matchesDigest(manifest: Uint8Array, expected: string): boolean {
  if (!isDigest(expected)) return false;
  const algorithm = expected.slice(0, expected.indexOf(':')) as DigestAlgorithm;
  return manifestDigest(manifest, algorithm) === expected;
}
