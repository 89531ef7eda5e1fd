// skopeo's signing flags for copy and sync: the signers the copy engine runs after the manifest is
// written (GPG simple signing from the GnuPG home or a key file, cosign-format sigstore signatures).
import type { ReferrerSigner, Signer } from '../image/copy/index.ts';
import { type DockerReference, manifestDigest, parseNormalizedNamed } from '../image/index.ts';
import { loadSecretKeyring, signBlob } from '../image/signature/gpg/openpgp.ts';
import { loadSigstoreSigner, sigstoreCopySigner } from '../image/signature/sigstore/signer.ts';
import { simpleSigningPayload } from '../image/signature/simple-signing.ts';
import { CliError, type FlagSpec } from './args.ts';
import { exportSecretKey } from './gnupg.ts';
import { readInputFile, readPassphraseFile } from './inputs.ts';

export const signFlagSpecs = {
  'sign-by': { type: 'string', metavar: 'FINGERPRINT', help: 'sign the image with this GPG key' },
  'sign-by-key-file': {
    type: 'string',
    metavar: 'FILE',
    help: 'GPG secret key for --sign-by (armored or binary) instead of the GnuPG home',
  },
  'sign-by-sigstore-private-key': {
    type: 'string',
    metavar: 'FILE',
    help: 'sign the image with this cosign private key: a cosign .sig attachment whose payload names the destination reference (signedIdentity applies)',
  },
  'sign-sigstore-bundle': {
    type: 'boolean',
    help: 'with --sign-by-sigstore-private-key, also attach a sigstore bundle (cosign v3 format) as an OCI 1.1 referrer; it binds only the digest, so sigstoreSigned accepts it alone only with acceptDigestOnlySignatures',
  },
  'sign-passphrase-file': { type: 'string', metavar: 'FILE', help: 'passphrase of the signing key' },
  'sign-identity': {
    type: 'string',
    metavar: 'REFERENCE',
    help: 'identity to sign for (default: the destination reference)',
  },
} as const satisfies Record<string, FlagSpec>;

export interface SignFlags {
  readonly 'sign-by'?: string | undefined;
  readonly 'sign-by-key-file'?: string | undefined;
  readonly 'sign-by-sigstore-private-key'?: string | undefined;
  readonly 'sign-sigstore-bundle'?: boolean | undefined;
  readonly 'sign-passphrase-file'?: string | undefined;
  readonly 'sign-identity'?: string | undefined;
}

async function gpgSigner(
  fingerprint: string,
  keyFile: string | undefined,
  passphrase: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Signer> {
  const keyData =
    keyFile !== undefined
      ? await readInputFile(keyFile, 'key file')
      : await exportSecretKey(fingerprint, passphrase, env);
  const keyring = await loadSecretKeyring(keyData);
  return {
    async sign(manifest, dockerReference) {
      const payload = simpleSigningPayload(manifest, dockerReference.toString());
      const blob = await signBlob(payload, keyring, fingerprint, passphrase === '' ? undefined : passphrase);
      return { format: 'simple-signing', blob };
    },
  };
}

/** Signers and the signing identity the flags ask for; none when no signing flag is set. */
export async function signingFromFlags(
  flags: SignFlags,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ signers?: Signer[]; referrerSigners?: ReferrerSigner[]; signIdentity?: DockerReference }> {
  const gpgKey = flags['sign-by'];
  const sigstoreKey = flags['sign-by-sigstore-private-key'];
  if (flags['sign-by-key-file'] !== undefined && gpgKey === undefined)
    throw new CliError('USAGE', '--sign-by-key-file requires --sign-by');
  if (flags['sign-sigstore-bundle'] && sigstoreKey === undefined)
    throw new CliError('USAGE', '--sign-sigstore-bundle requires --sign-by-sigstore-private-key');
  if (gpgKey === undefined && sigstoreKey === undefined) {
    if (flags['sign-identity'] !== undefined)
      throw new CliError('USAGE', '--sign-identity can only be used with a signing flag');
    return {};
  }
  const passphrase = await readPassphraseFile(flags['sign-passphrase-file']);
  if (passphrase.includes('\r'))
    throw new CliError('FAILED', 'invalid passphrase: must not contain a line break');
  const signers: Signer[] = [];
  const referrerSigners: ReferrerSigner[] = [];
  if (gpgKey !== undefined) signers.push(await gpgSigner(gpgKey, flags['sign-by-key-file'], passphrase, env));
  if (sigstoreKey !== undefined) {
    const pem = new TextDecoder().decode(await readInputFile(sigstoreKey, 'private key'));
    const secret = new TextEncoder().encode(passphrase);
    signers.push(await sigstoreCopySigner(pem, secret));
    if (flags['sign-sigstore-bundle']) {
      const signer = await loadSigstoreSigner(pem, secret);
      referrerSigners.push({
        async sign(manifest, dockerReference) {
          const { artifactType, bundle } = signer.signBundle(
            manifestDigest(manifest),
            dockerReference.toString(),
          );
          return { artifactType, payload: bundle };
        },
      });
    }
  }
  const identity = flags['sign-identity'];
  const signing = { signers, ...(referrerSigners.length > 0 ? { referrerSigners } : {}) };
  if (identity === undefined) return signing;
  const ref = parseNormalizedNamed(identity);
  if (ref.isNameOnly())
    throw new CliError('USAGE', `--sign-identity ${JSON.stringify(identity)}: expected a tag or digest`);
  return { ...signing, signIdentity: ref };
}
