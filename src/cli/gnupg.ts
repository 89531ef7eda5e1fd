// Reads keys out of a GnuPG home (GNUPGHOME or ~/.gnupg) with the gpg binary, for the
// skopeo-compatible commands that name keys by fingerprint instead of by file.
import { execFile } from 'node:child_process';
import { CliError } from './args.ts';

const MAX_EXPORT_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

function gpg(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  input?: string,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'gpg',
      ['--batch', '--no-tty', ...args],
      { env: { ...env }, encoding: 'buffer', maxBuffer: MAX_EXPORT_BYTES, timeout: TIMEOUT_MS },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new CliError('FAILED', `gpg ${args.join(' ')}: ${stderr.toString().trim() || err.message}`, {
              cause: err,
            }),
          );
          return;
        }
        resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** All public keys of the GnuPG home, binary. */
export function exportPublicKeys(env: Readonly<Record<string, string | undefined>>): Promise<Buffer> {
  return gpg(['--export'], env);
}

/** The secret key `fingerprint` (still protected by its passphrase), binary. */
export async function exportSecretKey(
  fingerprint: string,
  passphrase: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Buffer> {
  const out = await gpg(
    ['--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--export-secret-keys', fingerprint],
    env,
    `${passphrase}\n`,
  );
  if (out.byteLength === 0) throw new CliError('FAILED', `no secret key ${fingerprint} in the GnuPG home`);
  return out;
}
