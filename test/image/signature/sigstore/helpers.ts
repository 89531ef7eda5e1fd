// Shared by the sigstore tests: reading containers/image dir: fixtures and a test-side stand-in
// for the policy engine's digest and signedIdentity checks (the real ones live in the policy code).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseNormalizedNamed } from '../../../../src/image/reference/index.ts';
import type { Signature } from '../../../../src/image/types.ts';
import { conformancePath } from '../../../helpers/conformance.ts';

export const readConformanceFile = (path: string): Promise<Uint8Array> => readFile(conformancePath(path));

const SIGSTORE_PREFIX = Buffer.from('\x00sigstore-json\n');

/** containers/image's internal signature blob format: simple signing raw, sigstore prefixed JSON. */
export function parseSignatureBlob(blob: Uint8Array): Signature {
  const buf = Buffer.from(blob);
  if (buf.length === 0 || buf[0] !== 0) return { format: 'simple-signing', blob };
  if (!buf.subarray(0, SIGSTORE_PREFIX.length).equals(SIGSTORE_PREFIX))
    throw new Error('unknown signature format');
  const doc = JSON.parse(buf.subarray(SIGSTORE_PREFIX.length).toString('utf8'));
  return {
    format: 'sigstore-json',
    mimeType: doc.mimeType,
    payload: Buffer.from(doc.payload, 'base64'),
    annotations: doc.annotations ?? {},
  };
}

export interface FixtureImage {
  readonly manifest: Uint8Array | undefined;
  readonly signatures: Signature[];
}

/** A dir: image (manifest.json + signature-N) or a single signature file. */
export async function readFixtureImage(path: string): Promise<FixtureImage> {
  if (path.endsWith('.signature')) {
    return { manifest: undefined, signatures: [parseSignatureBlob(await readConformanceFile(path))] };
  }
  const manifest = await readConformanceFile(`${path}/manifest.json`).catch(() => undefined);
  const signatures: Signature[] = [];
  for (let i = 1; ; i++) {
    const blob = await readConformanceFile(`${path}/signature-${i}`).catch(() => undefined);
    if (blob === undefined) break;
    signatures.push(parseSignatureBlob(blob));
  }
  return { manifest, signatures };
}

/**
 * containers/image's manifest.MatchesDigest for these fixtures: sha256 of the manifest bytes. The
 * fixtures' only schema1 manifest has a broken "signatures" member, whose JWS stripping fails.
 */
export function manifestMatchesDigest(manifest: Uint8Array | undefined, digest: string): boolean {
  if (manifest === undefined) throw new Error('reading manifest: no manifest');
  const doc = JSON.parse(Buffer.from(manifest).toString('utf8'));
  if (doc.schemaVersion === 1 && Object.hasOwn(doc, 'signatures')) {
    throw new Error('computing schema1 manifest digest: invalid jws signatures');
  }
  return digest === `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
}

export type SignedIdentity =
  | { type: 'matchRepository' }
  | { type: 'matchExact' }
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'exactReference'; dockerReference: string };

/** The §3.5 signedIdentity rules the conformance cases use. */
export function identityMatches(identity: SignedIdentity, imageRef: string, signedRef: string): boolean {
  let signed: ReturnType<typeof parseNormalizedNamed>;
  try {
    signed = parseNormalizedNamed(signedRef);
  } catch {
    return false;
  }
  const intended = parseNormalizedNamed(imageRef);
  switch (identity.type) {
    case 'matchRepository':
      return signed.name() === intended.name();
    case 'matchExact':
      return !signed.isNameOnly() && !intended.isNameOnly() && signed.toString() === intended.toString();
    case 'matchRepoDigestOrExact':
      if (signed.isNameOnly()) return false;
      if (intended.tag !== undefined) return signed.toString() === intended.toString();
      return signed.name() === intended.name();
    case 'exactReference': {
      const want = parseNormalizedNamed(identity.dockerReference);
      return !signed.isNameOnly() && signed.toString() === want.toString();
    }
    default:
      return false;
  }
}

/** Applies a sigstore-cases.json `mutation` to a signature. */
export function applyMutation(sig: Signature, mutation: string | undefined): Signature {
  if (mutation === undefined || sig.format !== 'sigstore-json') return sig;
  const annotations: Record<string, string> = { ...sig.annotations };
  if (mutation === 'remove all annotations') return { ...sig, annotations: {} };
  const remove = /^remove annotation (\S+)$/.exec(mutation);
  const setBase64 = /^set (\S+) = base64\("(.*)"\)$/.exec(mutation);
  const setText = /^set (\S+) = "(.*)"$/.exec(mutation);
  if (remove) delete annotations[remove[1]!];
  else if (setBase64) annotations[setBase64[1]!] = Buffer.from(setBase64[2]!).toString('base64');
  else if (setText) annotations[setText[1]!] = setText[2]!;
  else throw new Error(`unknown mutation ${mutation}`);
  return { ...sig, annotations };
}

/**
 * A sigstore-cases.json requirement with its placeholders filled; explicit nulls dropped (the
 * upstream Go test leaves those fields unset).
 */
export async function fillRequirement(
  requirement: Record<string, unknown>,
  original: readonly Signature[],
): Promise<Record<string, unknown>> {
  const fill = async (v: unknown): Promise<unknown> => {
    if (v === '<base64 of cosign.pub>') {
      const pub = await readConformanceFile('containers-image/signature/fixtures/cosign.pub');
      return Buffer.from(pub).toString('base64');
    }
    if (v === '<base64 of the dev.sigstore.cosign/chain annotation value>') {
      const sig = original[0];
      if (sig?.format !== 'sigstore-json') throw new Error('fixture has no sigstore signature');
      return Buffer.from(sig.annotations['dev.sigstore.cosign/chain'] ?? '').toString('base64');
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = await fill(x);
      return out;
    }
    return v;
  };
  return (await fill(requirement)) as Record<string, unknown>;
}

/** One test per row: `make` builds the verifier's arguments, which must be rejected with `code`. */
export function rejectionTests<A extends unknown[]>(
  rows: readonly [name: string, make: () => A, code: string][],
  verify: (...args: A) => Promise<unknown>,
): void {
  for (const [name, make, code] of rows) {
    test(`rejects ${name} with ${code}`, async () => {
      await assert.rejects(verify(...make()), { code });
    });
  }
}
