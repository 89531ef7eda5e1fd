// Signing on copy (`copy --sign-by-sigstore-private-key`): the payload containers/image writes and
// a cosign-compatible signature over it, returned as the attachment the destination stores.
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { Digest } from '../../digest.ts';
import type { Signature } from '../../types.ts';
import { buildSigstorePayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.ts';
import { decryptPrivateKey } from './privatekey.ts';
import { ANNOTATION_SIGNATURE } from './verify.ts';

export interface SigstoreSigner {
  /** PEM of the public key, for `cosign verify --key` and policy keyData. */
  readonly publicKeyPem: string;
  /** Signs `manifestDigest` for `dockerReference` (the destination reference's String()). */
  sign(manifestDigest: Digest, dockerReference: string): Signature;
}

export interface SignerOptions {
  /** Written as optional.creator; undefined writes `"optional": null` as cosign does. */
  readonly creator?: string;
  readonly now?: () => Date;
}

export function sigstoreSignerFromKey(privateKey: KeyObject, options: SignerOptions = {}): SigstoreSigner {
  const publicKeyPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
  const algorithm = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return {
    publicKeyPem,
    sign(manifestDigest, dockerReference) {
      const now = options.now ?? (() => new Date());
      const optional =
        options.creator === undefined
          ? null
          : { creator: options.creator, timestamp: Math.floor(now().getTime() / 1000) };
      const payload = buildSigstorePayload(manifestDigest, dockerReference, optional);
      const signature = cryptoSign(algorithm, payload, privateKey);
      return {
        format: 'sigstore-json',
        mimeType: SIMPLE_SIGNING_MEDIA_TYPE,
        payload,
        annotations: { [ANNOTATION_SIGNATURE]: signature.toString('base64') },
      };
    },
  };
}

/** Loads a cosign private key file's text with its passphrase into a signer. */
export async function loadSigstoreSigner(
  privateKeyPem: string,
  passphrase: Uint8Array,
  options: SignerOptions = {},
): Promise<SigstoreSigner> {
  return sigstoreSignerFromKey(await decryptPrivateKey(privateKeyPem, passphrase), options);
}
