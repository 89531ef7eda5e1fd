// Shared set-up for tests and benchmarks that run the webhook on its real components: a work
// directory holding policy.json, registries.d, tls.crt/tls.key, and images pushed by skopeo.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import type { DockerTransport } from '../../src/image/transports/docker/index.ts';
import {
  productionComponents,
  type RunningServer,
  type ServerConfig,
  type ShortNameRules,
  startServer,
} from '../../src/server.ts';
import type { LogDestination } from '../../src/webhook/log.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { type DockerTestEnv, dockerTestEnv, LOOPBACK_PLAIN_HTTP } from '../helpers/docker-env.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { httpsRequest } from '../helpers/https.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { syntheticImage, writeOciLayout } from '../helpers/synthetic-image.ts';
import { type GnupgHome, gnupgHome } from '../image/signature/gnupg.ts';

/** Loopback HTTPS with `work`'s policy and certificate, quiet logs, no shutdown delay. */
export function serverConfig(work: string, overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    policyPath: join(work, 'policy.json'),
    host: '127.0.0.1',
    port: 0,
    tlsCertPath: join(work, 'tls.crt'),
    tlsKeyPath: join(work, 'tls.key'),
    deadlineMs: 5000,
    mode: 'enforce',
    unknownKinds: 'allow',
    bodyLimit: 4 << 20,
    logLevel: 'silent',
    platforms: { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] },
    watchIntervalMs: 60_000,
    shutdownDelayMs: 0,
    cache: DEFAULT_CACHE_LIMITS,
    ...overrides,
  };
}

/** The production components reading `work`'s registries.d and registries.conf. */
export function realComponents(
  work: string,
  transport: DockerTransport,
  shortNames: ShortNameRules = 'docker',
): ReturnType<typeof productionComponents> {
  return productionComponents(
    {
      registriesDirPath: join(work, 'registries.d'),
      registriesConfPath: join(work, 'registries.conf'),
      authFilePath: join(work, 'auth.json'),
      shortNames,
    },
    transport,
  );
}

/**
 * registries.d sending `host`'s signatures to a lookaside in `work` (read and write), and a
 * registries.conf allowing plain HTTP to the loopback test registries.
 */
export async function writeRegistriesD(
  work: string,
  host: string,
  sigstoreAttachments = false,
): Promise<void> {
  await writeFile(join(work, 'registries.conf'), LOOPBACK_PLAIN_HTTP);
  await mkdir(join(work, 'registries.d'), { recursive: true });
  const lookaside = `file://${join(work, 'lookaside')}`;
  const attachments = sigstoreAttachments ? '    use-sigstore-attachments: true\n' : '';
  await writeFile(
    join(work, 'registries.d', 'test.yaml'),
    `docker:\n  ${host}:\n    lookaside: ${lookaside}\n    lookaside-staging: ${lookaside}\n${attachments}`,
  );
}

/** Pushes a fresh synthetic image to `image` with skopeo; `skopeoFlags` may sign (--sign-by) or log in. */
export async function skopeoPush(
  work: string,
  image: string,
  skopeoFlags: readonly string[],
  env: Record<string, string>,
): Promise<void> {
  const layout = join(
    work,
    `layout-${image.replaceAll(/[/:]/g, '-')}-${Math.random().toString(36).slice(2)}`,
  );
  await writeOciLayout(layout, syntheticImage({ labels: { image } }), 'v');
  const args = ['copy', '--quiet', '--dest-tls-verify=false', '--registries.d', join(work, 'registries.d')];
  await promisify(execFile)('skopeo', [...args, ...skopeoFlags, `oci:${layout}:v`, `docker://${image}`], {
    env,
  });
}

/**
 * Pushes `image` signed by a new GPG key (skopeo, `skopeoFlags` adding e.g. credentials) and writes
 * `work`'s registries.d and a policy.json that requires that signature for `host` only.
 */
export async function pushSignedImage(
  work: string,
  gpg: GnupgHome,
  host: string,
  image: string,
  skopeoFlags: readonly string[],
): Promise<void> {
  const fingerprint = await gpg.generate('Trusted <trusted@example.com>', 'ed25519');
  await writeFile(join(work, 'trusted.gpg'), await gpg.exportPublic(fingerprint));
  await writeRegistriesD(work, host);
  await skopeoPush(work, image, [...skopeoFlags, '--sign-by', fingerprint], gpg.env);
  const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: join(work, 'trusted.gpg') };
  await writeFile(
    join(work, 'policy.json'),
    JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [host]: [signedBy] } } }),
  );
}

/**
 * A real registry behind a fault-injecting proxy (pods name images through the proxy), a GPG
 * key, and a work directory whose policy.json requires that key's signatures under
 * `<proxy>/ns`, with signatures in a file lookaside and a serving certificate for 127.0.0.1.
 */
export interface SignedRegistry {
  readonly proxy: FaultProxy;
  readonly registry: TestRegistry;
  readonly env: DockerTestEnv;
  readonly work: string;
  /** host:port of the proxy: the registry as pods name it. */
  readonly host: string;
  /** The webhook certificate's CA. */
  readonly ca: Buffer;
  /** Pushes a fresh image to `<host>/<repoTag>`, signed by the trusted key unless `signed` is false. */
  push(repoTag: string, signed?: boolean): Promise<void>;
  /** Starts a webhook replica on this work directory. */
  replica(overrides?: Partial<ServerConfig>, logDestination?: LogDestination): Promise<RunningServer>;
  stop(): Promise<void>;
}

export async function signedRegistry(): Promise<SignedRegistry> {
  const [registry, env, gpg] = await Promise.all([startRegistry(), dockerTestEnv(), gnupgHome()]);
  const proxy = await startFaultProxy(registry);
  const host = proxy.host;
  const work = await mkdtemp(join(tmpdir(), 'portcullis-signed-'));
  const trusted = await gpg.generate('Trusted <trusted@example.com>', 'ed25519');
  await writeFile(join(work, 'trusted.gpg'), await gpg.exportPublic(trusted));
  await writeRegistriesD(work, host);
  await writeFile(
    join(work, 'policy.json'),
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          [`${host}/ns`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: join(work, 'trusted.gpg') }],
        },
      },
    }),
  );
  const tls = await writeSelfSignedCertificate(work, ['127.0.0.1']);
  const ca = await readFile(tls.certPath);
  const servers: RunningServer[] = [];
  return {
    proxy,
    registry,
    env,
    work,
    host,
    ca,
    push: (repoTag, signed = true) =>
      skopeoPush(work, `${host}/${repoTag}`, signed ? ['--sign-by', trusted] : [], gpg.env),
    async replica(overrides = {}, logDestination) {
      const server = await startServer(serverConfig(work, overrides), {
        ...realComponents(work, env.transport),
        ...(logDestination === undefined ? {} : { logDestination }),
      });
      servers.push(server);
      return server;
    },
    async stop() {
      await Promise.all(servers.map((s) => s.close()));
      await proxy.stop();
      await Promise.all([registry.stop(), env.cleanup(), gpg.remove()]);
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** Posts reviews to `server` (trusting `ca`) and reads its metrics. */
export function webhookClient(server: RunningServer, ca: Buffer) {
  return {
    /** The review's response, and how long it took (ms). */
    async post(path: string, body: unknown) {
      const started = performance.now();
      const res = await httpsRequest(`${server.url}${path}`, { ca, body });
      const ms = performance.now() - started;
      if (res.status !== 200) throw new Error(`status ${res.status}: ${res.body}`);
      return { ...JSON.parse(res.body).response, ms };
    },
    /** The sum of a counter's series whose labels match `labels` (a regexp source). */
    async metric(name: string, labels = '[^}]*') {
      const text = (await httpsRequest(`${server.url}/metrics`, { ca })).body;
      return [...text.matchAll(new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'gm'))].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    },
  };
}
