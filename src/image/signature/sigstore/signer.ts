// Signing on copy (`copy --sign-by-sigstore-private-key`): the payload containers/image writes and
// a cosign-compatible signature over it, returned as the attachment the destination stores; or a
// sigstore bundle for an OCI 1.1 referrer.
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { type Digest, digestHex } from '../../digest.ts';
import { manifestDigest } from '../../manifest/index.ts';
import type { DockerReference } from '../../reference/index.ts';
import type { Signature } from '../../types.ts';
import { IN_TOTO_PAYLOAD_TYPE, preAuthEncoding } from './intoto.ts';
import { buildSigstorePayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.ts';
import { decryptPrivateKey } from './privatekey.ts';
import { ANNOTATION_SIGNATURE } from './verify.ts';

export interface SigstoreSigner {
  /** PEM of the public key, for `cosign verify --key` and policy keyData. */
  readonly publicKeyPem: string;
  /** Signs `manifestDigest` for `dockerReference` (the destination reference's String()). */
  sign(manifestDigest: Digest, dockerReference: string): Signature;
  /**
   * A sigstore bundle (v0.3, DSSE in-toto statement naming the manifest, no transparency log) to
   * attach as an OCI 1.1 referrer of type `artifactType`, as cosign v3 does.
   */
  signBundle(
    manifestDigest: Digest,
    dockerReference: string,
  ): { readonly artifactType: string; readonly bundle: Uint8Array };
  /** A DSSE envelope (JSON) over an in-toto statement: what a cosign `.att` layer holds. */
  signStatement(statement: Uint8Array): Buffer;
  /** A sigstore bundle (v0.3, no transparency log) holding the signed statement, as cosign v3 attests. */
  bundleStatement(statement: Uint8Array): Buffer;
}

export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export interface SignerOptions {
  /** Written as optional.creator; undefined writes `"optional": null` as cosign does. */
  readonly creator?: string;
  readonly now?: () => Date;
}

export function sigstoreSignerFromKey(privateKey: KeyObject, options: SignerOptions = {}): SigstoreSigner {
  const publicKeyPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
  const algorithm = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  const signedEnvelope = (statement: Uint8Array) => ({
    payload: Buffer.from(statement).toString('base64'),
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    signatures: [
      {
        sig: cryptoSign(algorithm, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, statement), privateKey).toString(
          'base64',
        ),
        keyid: '',
      },
    ],
  });
  const bundleStatement = (statement: Uint8Array) =>
    Buffer.from(
      JSON.stringify({
        mediaType: BUNDLE_V03_MEDIA_TYPE,
        verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [] },
        dsseEnvelope: signedEnvelope(statement),
      }),
    );
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
    signBundle(manifestDigest, dockerReference) {
      const statement = Buffer.from(
        JSON.stringify({
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ name: dockerReference, digest: { sha256: digestHex(manifestDigest) } }],
          predicateType: 'https://sigstore.dev/cosign/sign/v1',
          predicate: {},
        }),
      );
      return { artifactType: BUNDLE_V03_MEDIA_TYPE, bundle: bundleStatement(statement) };
    },
    signStatement: (statement) => Buffer.from(JSON.stringify(signedEnvelope(statement))),
    bundleStatement,
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

/** What the copy engine calls per written manifest (structurally its `Signer`). */
export interface ManifestSigner {
  sign(manifest: Uint8Array, dockerReference: DockerReference): Promise<Signature>;
}

/**
 * `copy --sign-by-sigstore-private-key KEY --sign-passphrase-file F`: signs the digest of each
 * manifest copy writes for the destination reference, as containers/image does (with creator and
 * timestamp in `optional`).
 */
export async function sigstoreCopySigner(
  privateKeyPem: string,
  passphrase: Uint8Array,
  options: SignerOptions = { creator: 'portcullis' },
): Promise<ManifestSigner> {
  const signer = await loadSigstoreSigner(privateKeyPem, passphrase, options);
  return {
    sign: async (manifest, dockerReference) =>
      signer.sign(manifestDigest(manifest), dockerReference.toString()),
  };
}
