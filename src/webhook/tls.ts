// Certificates for the webhook's HTTPS listener: a self-signed pair for first runs, and the
// sources a running listener takes its certificate from (files it watches, or the Secret of the
// self-managed mode), swapped in without a restart.
import { unwatchFile, watchFile } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { checkServingPair, type SecretData, type ServingPair } from './cert-rotation.ts';
import { issueServingCertificate } from './certificates.ts';
import type { Logger } from './log.ts';
import { WebhookError } from './review.ts';

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Where a listener's certificate comes from. */
export interface CertificateSource {
  /** The pair to serve now; undefined while none is usable (readiness fails then). */
  current(): KeyPair | undefined;
  /** `listener` is called after every change of current(). */
  onChange(listener: () => void): void;
  /** Stops watching; current() keeps its last value. */
  stop(): void;
}

const DAY_MS = 86_400_000;

/** A self-signed P-256 certificate for `hosts` (DNS names or IPs), valid for a year. */
export function selfSignedPair(hosts: readonly string[]): KeyPair {
  const now = Date.now();
  const pair = issueServingCertificate(undefined, hosts, {
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * DAY_MS),
  });
  return { cert: Buffer.from(pair.certPem), key: Buffer.from(pair.keyPem) };
}

/** Writes a self-signed certificate for `hosts` and its key to `dir` (tls.crt, tls.key). */
export async function writeSelfSignedCertificate(
  dir: string,
  hosts: readonly string[],
): Promise<{ certPath: string; keyPath: string }> {
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  const pair = selfSignedPair(hosts);
  await writeFile(keyPath, pair.key, { mode: 0o600 });
  await writeFile(certPath, pair.cert);
  return { certPath, keyPath };
}

/** Reads a certificate and key, failing unless they form a usable pair. */
export async function readKeyPair(certPath: string, keyPath: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new WebhookError('TLS_INVALID', `loading ${certPath} and ${keyPath}: ${(err as Error).message}`, {
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

/** A certificate and key file (--tls-cert, --tls-key): read now, reloaded when either changes. */
export async function fileCertificateSource(
  certPath: string,
  keyPath: string,
  intervalMs: number,
  logger: Logger,
): Promise<CertificateSource> {
  let pair = await readKeyPair(certPath, keyPath);
  const listeners: (() => void)[] = [];
  const stop = watchFiles([certPath, keyPath], intervalMs, () => {
    readKeyPair(certPath, keyPath).then(
      (next) => {
        pair = next;
        logger.info({ cert: certPath }, 'tls certificate reloaded');
        for (const l of listeners) l();
      },
      // A half-written pair is normal during a rotation: keep serving the old one.
      (err: unknown) => logger.warn({ err: (err as Error).message }, 'tls certificate not reloaded'),
    );
  });
  return { current: () => pair, onChange: (l) => listeners.push(l), stop };
}

/**
 * The serving certificate of the self-managed mode: `update` is given the certificate Secret's
 * data whenever it changes, and only a pair that passes checkServingPair is served. A bad Secret
 * is logged with its reason and the previous pair stays in service; an expired pair is no longer
 * current (the replica turns unready rather than serve what the API server refuses).
 */
export class SecretCertificateSource implements CertificateSource {
  readonly #hosts: readonly string[];
  readonly #logger: Logger;
  readonly #now: () => Date;
  readonly #listeners: (() => void)[] = [];
  #pair: ServingPair | undefined;

  constructor(hosts: readonly string[], logger: Logger, now: () => Date = () => new Date()) {
    this.#hosts = hosts;
    this.#logger = logger;
    this.#now = now;
  }

  current(): KeyPair | undefined {
    const pair = this.#pair;
    return pair !== undefined && this.#now() < pair.notAfter ? pair : undefined;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  stop(): void {}

  /** The Secret's data as it is now; undefined when the Secret does not exist. */
  update(data: SecretData | undefined, secret: string): void {
    if (data === undefined) {
      this.#logger.warn({ secret }, 'tls certificate Secret not found, keeping the current certificate');
      return;
    }
    let next: ServingPair;
    try {
      next = checkServingPair(data, this.#hosts, this.#now());
    } catch (err) {
      // An empty Secret is how every install starts: the Lease holder fills it.
      const empty = data['tls.crt'] === undefined || data['tls.crt'].length === 0;
      this.#logger[empty ? 'info' : 'error'](
        { secret, err: (err as Error).message, serving: this.#pair?.fingerprint },
        empty
          ? 'tls certificate Secret not filled yet'
          : 'tls certificate Secret refused, keeping the current certificate',
      );
      return;
    }
    if (next.fingerprint === this.#pair?.fingerprint) return;
    try {
      createSecureContext({ cert: next.cert, key: next.key });
    } catch (err) {
      this.#logger.error(
        { secret, err: (err as Error).message },
        'tls certificate Secret refused by TLS, keeping the current certificate',
      );
      return;
    }
    this.#pair = next;
    this.#logger.info(
      { secret, fingerprint: next.fingerprint, notAfter: next.notAfter.toISOString() },
      'tls certificate loaded from Secret',
    );
    for (const l of this.#listeners) l();
  }
}
