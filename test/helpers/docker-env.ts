// A hermetic environment for docker-transport tests: an empty home, no registries.conf or auth
// files from the machine, and a private lookaside directory.
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
  /** A SystemContext with an empty registries.conf and registries.d of this environment. */
  readonly ctx: SystemContext;
  cleanup(): Promise<void>;
}

export async function dockerTestEnv(): Promise<DockerTestEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-docker-'));
  await writeFile(join(dir, 'registries.conf'), '');
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
