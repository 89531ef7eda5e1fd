import { readFile, stat } from 'node:fs/promises';
import { MANIFEST_SIZE_MAX, manifestDigest } from '../image/index.ts';
import { CliError, formatFlags, parseArgs } from './args.ts';
import type { Command, Io } from './command.ts';

const flags = {} as const;

/** `manifest-digest FILE`: the digest registries compute (schema1 signatures stripped). */
export const manifestDigestCommand: Command = {
  usage: `Usage: portcullis manifest-digest MANIFEST-FILE\n\nCompute a manifest digest for a manifest file.\n\nFlags:\n${formatFlags(flags)}\n`,
  async run(argv: readonly string[], io: Io): Promise<number> {
    const { positionals } = parseArgs(argv, flags);
    if (positionals.length !== 1) throw new CliError('USAGE', 'exactly one argument expected');
    const path = positionals[0]!;
    let bytes: Buffer;
    try {
      if ((await stat(path)).size > MANIFEST_SIZE_MAX)
        throw new CliError('FAILED', `${path}: larger than ${MANIFEST_SIZE_MAX} bytes`);
      bytes = await readFile(path);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError('FAILED', `reading manifest ${path}: ${(err as Error).message}`, { cause: err });
    }
    io.stdout.write(`${manifestDigest(bytes)}\n`);
    return 0;
  },
};
