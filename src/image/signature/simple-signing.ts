// Simple signing ("atomic container signature", containers-signature(5)): verify a GPG blob,
// check the signer is trusted, parse the payload strictly, then the manifest digest, then the
// identity, in upstream's order (signature/simple.go verifyAndExtractSignature).
import { createHash } from 'node:crypto';
import type { Digest } from '../digest.ts';
import { manifestDigest, matchesDigest } from '../manifest/index.ts';
import { parseNormalizedNamed } from '../reference/index.ts';
import { SignatureError } from './errors.ts';
import { type GpgKeyring, loadKeyring, type VerifiedBlob, verifyBlob } from './gpg/openpgp.ts';
import { parsePayload, SIMPLE_SIGNING_TYPE, serializePayload } from './payload.ts';

export interface AcceptanceRules {
  /** Uppercase primary-key fingerprints the caller trusts. */
  readonly acceptedKeyIdentities: readonly string[];
  /** Throws (a rejection) unless the digest the payload names is the image's. */
  validateSignedDockerManifestDigest(digest: Digest): Promise<void>;
  /** Throws (a rejection) unless the payload's docker-reference is acceptable. */
  validateSignedDockerReference(reference: string): void;
}

/** A signature whose contents have been verified and accepted. */
export interface AcceptedSignature {
  readonly dockerManifestDigest: Digest;
  readonly dockerReference: string;
  readonly keyIdentity: string;
}

/** Bounded, time-limited memo of crypto results (success and failure) by keyring and blob. */
export class VerificationCache {
  readonly #entries = new Map<
    string,
    { readonly until: number; readonly result: VerifiedBlob | SignatureError }
  >();
  readonly #maxEntries: number;
  readonly #ttlMs: number;

  /**
   * `ttlMs` bounds how long a result outlives a change it cannot see (a key expiring, a
   * signature's expiry passing); revocations arrive as new keyring bytes and so new entries.
   */
  constructor(options: { maxEntries?: number; ttlMs?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? 4096;
    this.#ttlMs = options.ttlMs ?? 60_000;
  }

  async verify(blob: Uint8Array, keyring: GpgKeyring, now: Date): Promise<VerifiedBlob> {
    const key = `${keyring.id}:${createHash('sha256').update(blob).digest('hex')}`;
    const hit = this.#entries.get(key);
    if (hit !== undefined && hit.until > now.getTime()) {
      if (hit.result instanceof SignatureError) throw hit.result;
      return hit.result;
    }
    let result: VerifiedBlob | SignatureError;
    try {
      result = await verifyBlob(blob, keyring, now);
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      result = err;
    }
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { until: now.getTime() + this.#ttlMs, result });
    if (result instanceof SignatureError) throw result;
    return result;
  }
}

/** Bounded memo of parsed keyrings by content. */
export class KeyringCache {
  readonly #entries = new Map<string, Promise<GpgKeyring>>();
  readonly #maxEntries: number;

  constructor(maxEntries = 64) {
    this.#maxEntries = maxEntries;
  }

  load(inputs: readonly Uint8Array[]): Promise<GpgKeyring> {
    const hash = createHash('sha256');
    for (const d of inputs) hash.update(`${d.byteLength}:`).update(d);
    const key = hash.digest('hex');
    const hit = this.#entries.get(key);
    if (hit !== undefined) return hit;
    const loading = loadKeyring(inputs);
    loading.catch(() => this.#entries.delete(key));
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, loading);
    return loading;
  }
}

/**
 * Verifies a simple-signing blob and applies `rules`; returns the accepted contents or throws
 * SignatureError (SIGNATURE_INVALID, SIGNATURE_KEY_NOT_ACCEPTED, ...) or the rules' rejection.
 */
export async function verifyAndExtractSignature(
  blob: Uint8Array,
  keyring: GpgKeyring,
  rules: AcceptanceRules,
  options: { readonly cache?: VerificationCache; readonly now?: Date } = {},
): Promise<AcceptedSignature> {
  const now = options.now ?? new Date();
  const verified = options.cache
    ? await options.cache.verify(blob, keyring, now)
    : await verifyBlob(blob, keyring, now);
  if (!rules.acceptedKeyIdentities.includes(verified.keyIdentity)) {
    throw new SignatureError(
      'SIGNATURE_KEY_NOT_ACCEPTED',
      verified.signingKeyFingerprint === verified.keyIdentity
        ? `signature by key ${verified.keyIdentity} is not accepted`
        : `signature by key ${verified.signingKeyFingerprint} of ${verified.keyIdentity} is not accepted`,
    );
  }
  const payload = parsePayload(verified.payload, SIMPLE_SIGNING_TYPE);
  await rules.validateSignedDockerManifestDigest(payload.dockerManifestDigest);
  rules.validateSignedDockerReference(payload.dockerReference);
  return {
    dockerManifestDigest: payload.dockerManifestDigest,
    dockerReference: payload.dockerReference,
    keyIdentity: verified.keyIdentity,
  };
}

/**
 * Upstream VerifyImageManifestSignatureUsingKeyIdentityList (what `skopeo standalone-verify`
 * does): the signature must be by one of `fingerprints`, for this manifest, and name
 * `expectedDockerReference` (compared after normalization).
 */
export async function verifyImageManifestSignature(
  blob: Uint8Array,
  manifest: Uint8Array,
  expectedDockerReference: string,
  keyring: GpgKeyring,
  fingerprints: readonly string[],
  options: { readonly now?: Date } = {},
): Promise<AcceptedSignature> {
  const expected = parseNormalizedNamed(expectedDockerReference);
  return verifyAndExtractSignature(
    blob,
    keyring,
    {
      acceptedKeyIdentities: fingerprints.map((f) => f.toUpperCase()),
      async validateSignedDockerManifestDigest(digest) {
        if (!matchesDigest(manifest, digest)) {
          throw new SignatureError(
            'SIGNATURE_DIGEST_MISMATCH',
            `Signature for docker digest ${JSON.stringify(digest)} does not match`,
          );
        }
      },
      validateSignedDockerReference(reference) {
        let signed: string;
        try {
          signed = parseNormalizedNamed(reference).toString();
        } catch (err) {
          throw new SignatureError(
            'SIGNATURE_INVALID',
            `Invalid docker reference ${JSON.stringify(reference)} in signature`,
            {
              cause: err,
            },
          );
        }
        if (signed !== expected.toString()) {
          throw new SignatureError(
            'SIGNATURE_IDENTITY_REJECTED',
            `Docker reference ${JSON.stringify(reference)} does not match ${JSON.stringify(expectedDockerReference)}`,
          );
        }
      },
    },
    options,
  );
}

/** The payload skopeo's `standalone-sign` / `copy --sign-by` signs for `manifest` and `dockerReference`. */
export function simpleSigningPayload(
  manifest: Uint8Array,
  dockerReference: string,
  options: { readonly creator?: string; readonly now?: Date } = {},
): Uint8Array {
  return serializePayload({
    type: SIMPLE_SIGNING_TYPE,
    dockerManifestDigest: manifestDigest(manifest),
    dockerReference,
    creator: options.creator ?? 'atomic 5.0.0-portcullis',
    timestamp: Math.floor((options.now ?? new Date()).getTime() / 1000),
  });
}
