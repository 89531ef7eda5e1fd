// A throwaway GnuPG home with generated keys, for tests against gpg and skopeo.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GnupgHome {
  readonly dir: string;
  readonly env: Record<string, string>;
  /** Generates a signing key; returns its uppercase primary fingerprint. */
  generate(uid: string, algo: 'ed25519' | 'rsa2048', passphrase?: string): Promise<string>;
  exportPublic(fingerprint?: string): Promise<Buffer>;
  exportSecret(fingerprint: string, passphrase?: string): Promise<Buffer>;
  remove(): Promise<void>;
}

export async function gnupgHome(): Promise<GnupgHome> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-gnupg-'));
  const env = { ...process.env, GNUPGHOME: dir } as Record<string, string>;
  const gpg = (args: string[]) =>
    run('gpg', ['--batch', '--no-tty', ...args], { env, encoding: 'buffer', maxBuffer: 16 << 20 }).then(
      (r) => r.stdout,
    );
  return {
    dir,
    env,
    async generate(uid, algo, passphrase = '') {
      await gpg([
        '--pinentry-mode',
        'loopback',
        '--passphrase',
        passphrase,
        '--quick-gen-key',
        uid,
        algo,
        'sign',
        'never',
      ]);
      const out = (await gpg(['--list-keys', '--with-colons', uid])).toString();
      const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(out)?.[1];
      if (fpr === undefined) throw new Error(`no fingerprint for ${uid}`);
      return fpr;
    },
    exportPublic: (fingerprint) => gpg(['--export', ...(fingerprint ? [fingerprint] : [])]),
    exportSecret: (fingerprint, passphrase = '') =>
      gpg(['--pinentry-mode', 'loopback', '--passphrase', passphrase, '--export-secret-keys', fingerprint]),
    async remove() {
      await run('gpgconf', ['--kill', 'gpg-agent'], { env }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
