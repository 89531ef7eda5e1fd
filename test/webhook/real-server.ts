// Shared set-up for tests and benchmarks that run the webhook on its real components: a work
// directory holding policy.json, registries.d, tls.crt/tls.key, and images pushed by skopeo.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import type { DockerTransport } from '../../src/image/transports/docker/index.ts';
import {
  type Components,
  productionComponents,
  type ServerConfig,
  type ShortNameMode,
} from '../../src/server.ts';
import { LOOPBACK_PLAIN_HTTP } from '../helpers/docker-env.ts';
import { syntheticImage, writeOciLayout } from '../helpers/synthetic-image.ts';

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
  shortNames: ShortNameMode = 'docker',
): Components {
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
