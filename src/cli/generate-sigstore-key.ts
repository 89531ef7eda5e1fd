// `generate-sigstore-key`: a cosign-compatible key pair, as skopeo writes it (P.private, P.pub).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { generateSigstoreKeyPair } from '../image/signature/sigstore/index.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command } from './command.ts';

const flags = {
  'output-prefix': { type: 'string', metavar: 'PREFIX', help: 'write PREFIX.private and PREFIX.pub' },
  'passphrase-file': {
    type: 'string',
    metavar: 'PATH',
    help: 'read the passphrase from the first line of PATH',
  },
} as const;

/** The first line of a passphrase file, as containers/common reads it. */
async function readPassphraseFile(path: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError('FAILED', `reading passphrase file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return new TextEncoder().encode(text.split('\n', 1)[0]!.replace(/\r$/, ''));
}

export const generateSigstoreKeyCommand: Command = {
  usage: `Usage: portcullis generate-sigstore-key --output-prefix PREFIX [--passphrase-file PATH]

Writes PREFIX.private (cosign's encrypted private key format) and PREFIX.pub (PEM public key).
Existing files are never overwritten. The passphrase file is required (no interactive prompt).

Flags:
${formatFlags(flags)}
`,
  async run(argv, io) {
    const { flags: f, positionals } = parseArgs(argv, flags);
    if (positionals.length > 0)
      throw new CliError('USAGE', `expected no arguments, got ${positionals.length}`);
    const prefix = f['output-prefix'];
    if (prefix === undefined || prefix === '')
      throw new CliError('USAGE', '--output-prefix must be specified');
    const passphraseFile = f['passphrase-file'];
    if (passphraseFile === undefined) throw new CliError('USAGE', '--passphrase-file must be specified');
    const passphrase = await readPassphraseFile(passphraseFile);
    const pair = await generateSigstoreKeyPair(passphrase);
    const privatePath = `${prefix}.private`;
    const publicPath = `${prefix}.pub`;
    try {
      await writeFile(privatePath, pair.privateKeyPem, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      throw new CliError('FAILED', `writing ${privatePath}: ${(err as Error).message}`, { cause: err });
    }
    try {
      await writeFile(publicPath, pair.publicKeyPem, { flag: 'wx', mode: 0o644 });
    } catch (err) {
      // Leave no orphaned private key behind a failed run.
      await rm(privatePath, { force: true });
      throw new CliError('FAILED', `writing ${publicPath}: ${(err as Error).message}`, { cause: err });
    }
    io.stdout.write(`Key written to ${JSON.stringify(privatePath)} and ${JSON.stringify(publicPath)}\n`);
    return 0;
  },
};
