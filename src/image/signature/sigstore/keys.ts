// PEM public keys as sigstore's cryptoutils reads them, restricted to what cosign signs with.
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SigstoreError } from './errors.ts';

const ALLOWED_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
const MIN_RSA_BITS = 2048;

export interface PublicKey {
  readonly key: KeyObject;
  /** DER SubjectPublicKeyInfo, compared with what a Rekor entry records. */
  readonly spki: Uint8Array;
  /** Where the key came from, for explanations ("keyPaths[1]"). */
  readonly source: string;
}

function invalid(context: string, detail: string, cause?: unknown): SigstoreError {
  return new SigstoreError('SIGSTORE_TRUST_INVALID', `${context}: ${detail}`, { cause });
}

/** Checks a key is one cosign can sign with: ECDSA P-256/384/521, RSA >= 2048 bits, Ed25519. */
export function checkKeyType(key: KeyObject, context: string, ecdsaOnly = false): void {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === undefined || !ALLOWED_CURVES.has(curve)) {
      throw invalid(context, `unsupported elliptic curve ${curve ?? 'unknown'}`);
    }
    return;
  }
  if (ecdsaOnly) throw invalid(context, `expected an ecdsa public key, got ${type}`);
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      throw invalid(context, `expected an rsa key of at least ${MIN_RSA_BITS} bits, got ${bits}`);
    return;
  }
  if (type === 'ed25519') return;
  throw invalid(context, `unsupported public key type ${type}`);
}

/** The first PUBLIC KEY (or RSA PUBLIC KEY) block of `pem`, as Go's pem.Decode takes the first block. */
export function parsePublicKeyPem(pem: string, source: string, ecdsaOnly = false): PublicKey {
  const m = /-----BEGIN ((?:RSA )?PUBLIC KEY)-----\r?\n([\s\S]*?)-----END \1-----/.exec(pem);
  if (m === null) throw invalid(source, 'no pem public key found');
  let key: KeyObject;
  try {
    key =
      m[1] === 'RSA PUBLIC KEY'
        ? createPublicKey({
            key: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64'),
            format: 'der',
            type: 'pkcs1',
          })
        : createPublicKey({ key: m[0], format: 'pem' });
  } catch (err) {
    throw invalid(source, `invalid public key: ${err instanceof Error ? err.message : err}`, err);
  }
  checkKeyType(key, source, ecdsaOnly);
  return { key, spki: key.export({ format: 'der', type: 'spki' }), source };
}

// Whether a signature verifies is a pure function of (key, data, signature); admission sees the
// same signatures over and over, so outcomes are memoized (bounded) by their hashes.
const keyIds = new WeakMap<KeyObject, string>();
const outcomes = new Map<string, boolean>();
const MAX_OUTCOMES = 8192;

function keyId(key: KeyObject): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = createHash('sha256')
      .update(key.export({ format: 'der', type: 'spki' }))
      .digest('base64');
    keyIds.set(key, id);
  }
  return id;
}

/**
 * Verifies a cosign signature: SHA-256 for ECDSA (ASN.1) and RSA (PKCS#1 v1.5), pure Ed25519,
 * as sigstore's LoadVerifier(key, SHA256) does.
 */
export function verifyWithKey(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const memo = `${keyId(key)}:${createHash('sha256').update(data).update(signature).digest('base64')}:${signature.length}`;
  const known = outcomes.get(memo);
  if (known !== undefined) return known;
  let result: boolean;
  try {
    result = cryptoVerify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key, signature);
  } catch {
    result = false;
  }
  if (outcomes.size >= MAX_OUTCOMES) outcomes.delete(outcomes.keys().next().value!);
  outcomes.set(memo, result);
  return result;
}
