// Product e2e fixtures: a loopback registry holding synthetic images signed with the project's own
// signers (GPG simple signing into a file:// lookaside, cosign-format sigstore attachments), and
// `portcullis serve` run on the host as a child process the API server calls by `url:`.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SystemContext } from '../../src/image/index.ts';
import { loadSecretKeyring, signBlob } from '../../src/image/signature/gpg/openpgp.ts';
import { type SigstoreSigner, sigstoreSignerFromKey } from '../../src/image/signature/sigstore/signer.ts';
import { simpleSigningPayload } from '../../src/image/signature/simple-signing.ts';
import { DockerTransport } from '../../src/image/transports/docker/index.ts';
import { putImage } from '../../test/helpers/docker-env.ts';
import { httpsRequest } from '../../test/helpers/https.ts';
import { freePort, startRegistry, type TestRegistry } from '../../test/helpers/registry.ts';
import { syntheticImage } from '../../test/helpers/synthetic-image.ts';
import { type GnupgHome, gnupgHome } from '../../test/image/signature/gnupg.ts';
import type { Cluster, CommandResult } from '../harness.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The command's stdout; fails the test with its stderr when it did not exit 0. */
export function ok(result: CommandResult, what: string): string {
  assert.equal(result.code, 0, `${what}: ${result.stderr}`);
  return result.stdout;
}

export type Signing = 'none' | 'gpg' | 'cosign';

export interface SignedRegistry {
  /** host:port of the registry (plain HTTP, marked insecure in registriesConf). */
  readonly host: string;
  readonly work: string;
  /** registries.d with the file:// lookaside and use-sigstore-attachments for this registry. */
  readonly registriesD: string;
  readonly registriesConf: string;
  /** Public key files a policy names. */
  readonly gpgKeyPath: string;
  readonly cosignKeyPath: string;
  /** Pushes a fresh synthetic image to `repo:tag` on this registry, signed as asked. */
  push(repoTag: string, signing: Signing): Promise<void>;
  /** Writes `name` in the work folder and returns its path. */
  writeFile(name: string, content: string): Promise<string>;
  /** Marks another host:port insecure (plain HTTP) in registriesConf. */
  addInsecure(host: string): Promise<void>;
  stop(): Promise<void>;
}

export interface SignedRegistryOptions {
  /** htpasswd users of the registry; pushes use the first one. */
  readonly users?: Readonly<Record<string, string>>;
}

export async function startSignedRegistry(options: SignedRegistryOptions = {}): Promise<SignedRegistry> {
  const work = await mkdtemp(join(tmpdir(), 'portcullis-e2e-product-'));
  let registry: TestRegistry | undefined;
  let gpg: GnupgHome | undefined;
  try {
    [registry, gpg] = await Promise.all([
      startRegistry(options.users === undefined ? {} : { users: options.users }),
      gnupgHome(),
    ]);
    const host = registry.host;
    const fingerprint = await gpg.generate('E2E Signer <signer@e2e.example>', 'ed25519');
    const secretKeys = await loadSecretKeyring(await gpg.exportSecret(fingerprint));
    const gpgKeyPath = join(work, 'trusted.gpg');
    await writeFile(gpgKeyPath, await gpg.exportPublic(fingerprint));
    const cosign: SigstoreSigner = sigstoreSignerFromKey(
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    );
    const cosignKeyPath = join(work, 'cosign.pub');
    await writeFile(cosignKeyPath, cosign.publicKeyPem);

    const registriesD = join(work, 'registries.d');
    await mkdir(registriesD);
    const lookaside = `file://${join(work, 'lookaside')}`;
    await writeFile(
      join(registriesD, 'e2e.yaml'),
      `docker:\n  ${host}:\n    lookaside: ${lookaside}\n    lookaside-staging: ${lookaside}\n    use-sigstore-attachments: true\n`,
    );
    const registriesConf = join(work, 'registries.conf');
    const insecure: string[] = [];
    const addInsecure = async (location: string) => {
      insecure.push(location);
      await writeFile(
        registriesConf,
        insecure.map((l) => `[[registry]]\nlocation = "${l}"\ninsecure = true\n`).join('\n'),
      );
    };
    await addInsecure(host);

    const [user, password] = Object.entries(options.users ?? {})[0] ?? [];
    const transport = new DockerTransport({ env: {}, home: work, defaultLookaside: lookaside });
    const ctx: SystemContext = {
      registriesConfPath: registriesConf,
      registriesDirPath: registriesD,
      authFilePath: join(work, 'no-auth.json'),
      tlsVerify: false,
      ...(user === undefined || password === undefined ? {} : { credentials: { username: user, password } }),
    };
    const reg = registry;
    const home = gpg;
    return {
      host,
      work,
      registriesD,
      registriesConf,
      gpgKeyPath,
      cosignKeyPath,
      async push(repoTag, signing) {
        const image = syntheticImage({ layers: 1, layerBytes: 512, labels: { image: repoTag } });
        const dest = await transport.parseReference(`//${host}/${repoTag}`).newImageDestination(ctx);
        try {
          await putImage(dest, image);
          const identity = `${host}/${repoTag}`;
          if (signing === 'gpg') {
            const payload = simpleSigningPayload(image.manifest, identity);
            const blob = await signBlob(payload, secretKeys, fingerprint, undefined);
            await dest.putSignatures([{ format: 'simple-signing', blob }]);
          } else if (signing === 'cosign') {
            await dest.putSignatures([cosign.sign(image.manifestDigest, identity)]);
          }
        } finally {
          await dest.close();
        }
      },
      async writeFile(name, content) {
        const path = join(work, name);
        await writeFile(path, content);
        return path;
      },
      addInsecure,
      async stop() {
        await Promise.all([reg.stop(), home.remove()]);
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all([registry?.stop(), gpg?.remove()]);
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

export interface Portcullis {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly logPath: string;
  /** The serve process (for reading its memory use). */
  readonly pid: number | undefined;
  log(): string;
  /** SIGTERM, then SIGKILL after 5 s; safe to call twice. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let certificates: Promise<unknown> = Promise.resolve();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface PortcullisOptions {
  /** false: no serving certificate from the harness CA (serve makes its own); /readyz is probed without verifying. */
  readonly servingCert?: boolean;
  /** The bin/portcullis.js run (default this checkout's, which runs src/). */
  readonly cli?: string;
}

/**
 * Runs `node bin/portcullis.js serve` on a free loopback port with a serving certificate from the
 * harness CA, and waits for /readyz.
 */
export async function startPortcullis(
  cluster: Cluster,
  work: string,
  args: string[],
  env: Record<string, string> = {},
  options: PortcullisOptions = {},
): Promise<Portcullis & { readonly port: number }> {
  const port = await freePort();
  let tlsArgs: string[] = [];
  if (options.servingCert !== false) {
    // The harness CA's serial file is rewritten by every issue: concurrent issues corrupt it.
    const issued = certificates.then(() => cluster.issueServingCert(`portcullis-${port}`, ['127.0.0.1']));
    certificates = issued.catch(() => undefined);
    const cert = await issued;
    tlsArgs = [`--tls-cert=${cert.certPath}`, `--tls-key=${cert.keyPath}`];
  }
  const logPath = join(work, `portcullis-${port}.log`);
  const log = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [
      options.cli ?? join(repoRoot, 'bin', 'portcullis.js'),
      'serve',
      `--listen=127.0.0.1:${port}`,
      ...tlsArgs,
      '--log-level=warn',
      ...args,
    ],
    {
      stdio: ['ignore', log, log],
      env: { ...process.env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1', ...env },
    },
  );
  closeSync(log);
  children.add(child);
  const exited = new Promise<void>((settle) => child.once('exit', () => settle()));
  const url = `https://127.0.0.1:${port}`;
  const readLog = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      return;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    children.delete(child);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`portcullis serve exited with ${child.exitCode} before it was ready:\n${readLog()}`);
    }
    const ca = options.servingCert === false ? undefined : cluster.caPem;
    // A probe that hangs (a blocked event loop) counts as not ready, as the kubelet's would.
    const ready = await httpsRequest(`${url}/readyz`, { ca, timeoutMs: 2000 }).catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`portcullis serve not ready within 30 s:\n${readLog()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, logPath, pid: child.pid, log: readLog, stop };
}

export interface HangingServer {
  /** 127.0.0.1:PORT */
  readonly host: string;
  stop(): Promise<void>;
}

/** A TCP server that accepts connections and never answers: a registry that hangs. */
export async function startHangingServer(): Promise<HangingServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((settle) => server.listen(0, '127.0.0.1', settle));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('hanging server: no TCP address');
  return {
    host: `127.0.0.1:${address.port}`,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((settle) => server.close(settle));
    },
  };
}

/** A Pod in `namespace` running `images`, as JSON for `kubectl apply -f -`. */
export function podJson(
  name: string,
  namespace: string,
  images: string[],
  serviceAccount?: string,
  pullSecrets: string[] = [],
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      ...(serviceAccount === undefined ? {} : { serviceAccountName: serviceAccount }),
      ...(pullSecrets.length === 0 ? {} : { imagePullSecrets: pullSecrets.map((name) => ({ name })) }),
      containers: images.map((image, i) => ({ name: `c${i}`, image })),
    },
  });
}

export function deploymentJson(name: string, namespace: string, image: string): string {
  const labels = { app: name };
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'app', image }] } },
    },
  });
}
