// `portcullis standalone-verify MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE`, as skopeo.
import { loadKeyring } from '../image/signature/gpg/openpgp.ts';
import { verifyImageManifestSignature } from '../image/signature/simple-signing.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';
import { exportPublicKeys } from './gnupg.ts';
import { readInputFile } from './inputs.ts';

const flags = {
  'public-key-file': {
    type: 'string',
    metavar: 'FILE',
    help: 'public keys (armored or binary keyring) instead of the GnuPG home; allows the fingerprint "any"',
  },
} as const;

export const standaloneVerifyCommand: Command = {
  usage: `Usage:
  portcullis standalone-verify [FLAGS] MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE

KEY-FINGERPRINTS is a comma-separated list, or "any" with --public-key-file.

Flags:
${formatFlags(flags)}
`,
  async run(argv: readonly string[], io: Io): Promise<number> {
    const { flags: f, positionals } = parseArgs(argv, flags);
    const [manifestPath, dockerReference, fingerprintList, signaturePath] = positionals;
    if (
      positionals.length !== 4 ||
      !manifestPath ||
      !dockerReference ||
      fingerprintList === undefined ||
      !signaturePath
    ) {
      throw new CliError('USAGE', 'expected MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE');
    }
    const wanted = fingerprintList.split(',');
    const any = wanted.length === 1 && wanted[0] === 'any';
    const keyFile = f['public-key-file'];
    if (any && keyFile === undefined)
      throw new CliError('FAILED', 'Cannot use any fingerprint without a public key file');
    const manifest = await readInputFile(manifestPath, 'manifest');
    const signature = await readInputFile(signaturePath, 'signature');
    const keys =
      keyFile === undefined ? await exportPublicKeys(io.env) : await readInputFile(keyFile, 'public keys');
    const keyring = await loadKeyring([keys]);
    try {
      const sig = await verifyImageManifestSignature(
        signature,
        manifest,
        dockerReference,
        keyring,
        any ? keyring.fingerprints : wanted,
      );
      io.stdout.write(
        `Signature verified using fingerprint ${sig.keyIdentity}, digest ${sig.dockerManifestDigest}\n`,
      );
      return 0;
    } catch (err) {
      throw new CliError('FAILED', `Error verifying signature: ${(err as Error).message}`, { cause: err });
    }
  },
};
