// `portcullis standalone-sign MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT -o SIGNATURE`, as skopeo.
import { writeFile } from 'node:fs/promises';
import { loadSecretKeyring, signBlob } from '../image/signature/gpg/openpgp.ts';
import { simpleSigningPayload } from '../image/signature/simple-signing.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';
import { exportSecretKey } from './gnupg.ts';
import { readInputFile, readPassphraseFile } from './inputs.ts';

const flags = {
  output: { type: 'string', short: 'o', metavar: 'SIGNATURE', help: 'output the signature to SIGNATURE' },
  'passphrase-file': { type: 'string', metavar: 'FILE', help: 'file that contains a passphrase for the key' },
  'key-file': {
    type: 'string',
    metavar: 'FILE',
    help: 'secret key (armored or binary) instead of the GnuPG home (GNUPGHOME)',
  },
} as const;

export const standaloneSignCommand: Command = {
  usage: `Usage:
  portcullis standalone-sign [FLAGS] MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT --output SIGNATURE

Flags:
${formatFlags(flags)}
`,
  async run(argv: readonly string[], io: Io): Promise<number> {
    const { flags: f, positionals } = parseArgs(argv, flags);
    const [manifestPath, dockerReference, fingerprint] = positionals;
    if (
      positionals.length !== 3 ||
      manifestPath === undefined ||
      dockerReference === undefined ||
      fingerprint === undefined ||
      !f.output
    ) {
      throw new CliError(
        'USAGE',
        'expected MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT and --output SIGNATURE',
      );
    }
    const manifest = await readInputFile(manifestPath, 'manifest');
    const passphrase = await readPassphraseFile(f['passphrase-file']);
    if (passphrase.includes('\n'))
      throw new CliError('FAILED', 'invalid passphrase: must not contain a line break');
    const keyData = f['key-file']
      ? await readInputFile(f['key-file'], 'key file')
      : await exportSecretKey(fingerprint, passphrase, io.env);
    const keyring = await loadSecretKeyring(keyData);
    const payload = simpleSigningPayload(manifest, dockerReference);
    const signature = await signBlob(
      payload,
      keyring,
      fingerprint,
      passphrase === '' ? undefined : passphrase,
    );
    try {
      await writeFile(f.output, signature, { mode: 0o644 });
    } catch (err) {
      throw new CliError('FAILED', `Error writing signature to ${f.output}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return 0;
  },
};
