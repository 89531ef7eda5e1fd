// Small synthetic images in dir: layout, for checking our output against skopeo's on the same input.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type Digest, digestHex, digestOf } from '../../../src/image/index.ts';

export const run = promisify(execFile);

export interface Blob {
  readonly digest: Digest;
  readonly size: number;
  readonly bytes: Buffer;
}

export function blob(bytes: Buffer | string): Blob {
  const b = Buffer.from(bytes);
  return { digest: digestOf(b), size: b.byteLength, bytes: b };
}

/** A gzip-compressed layer of random (incompressible) content, and its diffID. */
export function gzipLayer(size: number): Blob & { readonly diffID: Digest } {
  const compressed = blob(gzipSync(randomBytes(size)));
  return { ...compressed, diffID: digestOf(gunzipSync(compressed.bytes)) };
}

/** A scratch directory removed by the returned cleanup. */
export async function scratch(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-manifest-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a dir: transport image (manifest.json, version, blobs named by hex). */
export async function writeDirImage(
  dir: string,
  manifest: Uint8Array | string,
  blobs: readonly Blob[],
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'manifest.json'), manifest);
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  for (const b of blobs) await writeFile(join(dir, digestHex(b.digest)), b.bytes);
  return dir;
}

export async function readDirManifest(dir: string): Promise<Buffer> {
  return readFile(join(dir, 'manifest.json'));
}

export async function readDirBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, digest.slice(digest.indexOf(':') + 1)));
}

/** skopeo copy between dir: images, optionally with --format. */
export async function skopeoCopy(src: string, dest: string, format?: 'oci' | 'v2s2'): Promise<void> {
  const args = [
    'copy',
    '-q',
    ...(format === undefined ? [] : ['--format', format]),
    `dir:${src}`,
    `dir:${dest}`,
  ];
  await run('skopeo', args);
}

/** A schema2 manifest (indented as `indent` says) for gzip layers and a Docker config. */
export function schema2Manifest(layers: readonly Blob[], config: Blob, indent?: number): Buffer {
  const descriptor = (mediaType: string, b: Blob) => ({ mediaType, size: b.size, digest: b.digest });
  return Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: descriptor('application/vnd.docker.container.image.v1+json', config),
        layers: layers.map((l) => descriptor('application/vnd.docker.image.rootfs.diff.tar.gzip', l)),
      },
      null,
      indent,
    ),
  );
}

/** An unsigned schema1 manifest with the history of `fixture` and new random layers. */
export function schema1WithNewLayers(fixture: Buffer): {
  manifest: Buffer;
  layers: (Blob & { diffID: Digest })[];
} {
  const doc = JSON.parse(fixture.toString());
  delete doc.signatures;
  const layers: (Blob & { diffID: Digest })[] = doc.fsLayers.map((_: unknown, i: number) =>
    gzipLayer(100 + i),
  );
  doc.fsLayers = layers.map((l) => ({ blobSum: l.digest }));
  return { manifest: Buffer.from(JSON.stringify(doc, null, 3)), layers };
}
