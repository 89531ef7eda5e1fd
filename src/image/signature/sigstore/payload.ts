// The cosign simple-signing payload ("cosign container image signature"), read and written with
// the shared payload code (../payload.ts); only errors and cosign's `"optional": null` are ours.
import type { Digest } from '../../digest.ts';
import { parsePayload, SIGSTORE_PAYLOAD_TYPE, serializePayload, type UntrustedPayload } from '../payload.ts';
import { SigstoreError } from './errors.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

export type SigstorePayload = UntrustedPayload;

/** Parses untrusted payload bytes; call only after the signature over them was verified. */
export function parseSigstorePayload(bytes: Uint8Array): SigstorePayload {
  try {
    return parsePayload(bytes, SIGSTORE_PAYLOAD_TYPE);
  } catch (err) {
    throw new SigstoreError(
      'SIGSTORE_PAYLOAD_INVALID',
      `parsing sigstore payload: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * The payload to sign: containers/image's form (creator and timestamp) when `optional` is given,
 * else cosign's (`"optional":null`), byte-compatible with what each writes.
 */
export function buildSigstorePayload(
  manifestDigest: Digest,
  dockerReference: string,
  optional: { creator: string; timestamp: number } | null,
): Uint8Array {
  const bytes = serializePayload({
    dockerManifestDigest: manifestDigest,
    dockerReference,
    type: SIGSTORE_PAYLOAD_TYPE,
    ...(optional ?? {}),
  });
  if (optional !== null) return bytes;
  const text = new TextDecoder().decode(bytes);
  // serializePayload always ends with the (here empty) optional object.
  return new TextEncoder().encode(`${text.slice(0, -'"optional":{}}'.length)}"optional":null}`);
}
