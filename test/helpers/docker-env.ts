// A hermetic environment for docker-transport tests: an empty home, no registries.conf or auth
// files from the machine, and a private lookaside directory. Its registries.conf allows plain
// HTTP to the loopback test registries, as a user would mark them: Portcullis, like skopeo, speaks
// plain HTTP only to registries configured `insecure` (or with --tls-verify=false).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ImageDestination, SystemContext } from '../../src/image/index.ts';
import { DockerTransport, type Environment } from '../../src/image/transports/docker/index.ts';
import type { SyntheticImage } from './synthetic-image.ts';

export interface DockerTestEnv {
  readonly dir: string;
  readonly environment: Environment;
  readonly transport: DockerTransport;
  /** A SystemContext with the registries.conf and registries.d of this environment. */
  readonly ctx: SystemContext;
  cleanup(): Promise<void>;
}

/**
 * registries.conf marking the loopback test registries (`127.0.0.1:<port>`, which the prefix
 * matches at any port) `insecure`: plain HTTP is allowed there, and only there.
 */
export const LOOPBACK_PLAIN_HTTP = '[[registry]]\nlocation = "127.0.0.1"\ninsecure = true\n';

/** `plainHttp: false` leaves registries.conf empty, for tests of HTTPS registries and of the default. */
export async function dockerTestEnv(options: { plainHttp?: boolean } = {}): Promise<DockerTestEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-docker-'));
  await writeFile(join(dir, 'registries.conf'), options.plainHttp === false ? '' : LOOPBACK_PLAIN_HTTP);
  const environment: Environment = { env: {}, home: dir, defaultLookaside: `file://${dir}/lookaside` };
  return {
    dir,
    environment,
    transport: new DockerTransport(environment),
    ctx: {
      registriesConfPath: join(dir, 'registries.conf'),
      registriesDirPath: join(dir, 'registries.d'),
      authFilePath: join(dir, 'auth.json'),
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Writes a synthetic image through an ImageDestination. */
export async function putImage(dest: ImageDestination, image: SyntheticImage): Promise<void> {
  for (const b of [image.config, ...image.layers]) {
    await dest.putBlob(
      Readable.from([b.bytes]),
      { digest: b.digest, size: b.bytes.length },
      { isConfig: b === image.config },
    );
  }
  await dest.putManifest(image.manifest, image.mimeType);
  await dest.commit();
}
