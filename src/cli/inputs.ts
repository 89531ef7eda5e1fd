// Reading the local files skopeo-style commands take.
import { readFile } from 'node:fs/promises';
import { CliError } from './args.ts';

/** The file's bytes; failures are CliError FAILED "Error reading <what> <path>: ...". */
export async function readInputFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new CliError('FAILED', `Error reading ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The first line of a passphrase file, as gpg(1) and skopeo read it; "" when no file is given. */
export async function readPassphraseFile(path: string | undefined): Promise<string> {
  if (path === undefined) return '';
  const text = new TextDecoder().decode(await readInputFile(path, 'passphrase file'));
  const newline = text.indexOf('\n');
  return newline < 0 ? text : text.slice(0, newline);
}
