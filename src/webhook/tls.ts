// Certificates for the webhook's HTTPS listener: a self-signed pair for first runs, and reloading.
import { execFile } from 'node:child_process';
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { promisify } from 'node:util';
import { WebhookError } from './review.ts';

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Writes a self-signed P-256 certificate for `hosts` (DNS names or IPs) and its key to `dir`.
 * Uses the `openssl` CLI: node:crypto cannot issue certificates, and openssl is on every base
 * image we target, which spares a dependency only first runs need.
 */
export async function writeSelfSignedCertificate(
  dir: string,
  hosts: readonly string[],
): Promise<{ certPath: string; keyPath: string }> {
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  try {
    await promisify(execFile)(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '365',
        '-subj',
        '/CN=portcullis',
        '-addext',
        `subjectAltName=${san}`,
      ],
      { timeout: 30_000 },
    );
  } catch (err) {
    throw new WebhookError(
      'INTERNAL',
      `creating a self-signed certificate with openssl: ${(err as Error).message}; pass --tls-cert and --tls-key instead`,
      { cause: err },
    );
  }
  return { certPath, keyPath };
}

/** Reads a certificate and key, failing unless they form a usable pair. */
export async function readKeyPair(certPath: string, keyPath: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new WebhookError('INTERNAL', `loading ${certPath} and ${keyPath}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { cert, key };
}

/**
 * Calls `onChange` when any of `paths` changes. Polls (stat) rather than using inotify: Kubernetes
 * updates mounted secrets by swapping a symlink, which inotify on the file itself misses.
 * Returns a function that stops watching.
 */
export function watchFiles(paths: readonly string[], intervalMs: number, onChange: () => void): () => void {
  const listener = (current: { mtimeMs: number; ino: number; size: number }, previous: typeof current) => {
    if (
      current.mtimeMs !== previous.mtimeMs ||
      current.ino !== previous.ino ||
      current.size !== previous.size
    )
      onChange();
  };
  for (const path of paths) watchFile(path, { interval: intervalMs, persistent: false }, listener);
  return () => {
    for (const path of paths) unwatchFile(path, listener);
  };
}
