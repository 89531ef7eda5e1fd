// Small synthetic images on disk (OCI layouts) for transport and copy tests.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface SyntheticImage {
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly config: Buffer;
  readonly layers: readonly Buffer[];
  /** The uncompressed layer tars, to build another image with the same layers. */
  readonly tars?: readonly Buffer[];
}

function sha256(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** A one-file tar archive (uncompressed) holding `content` under `name`. */
export function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(32, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

export interface ImageSpec {
  /** Number of layers; each holds `layerSize` random bytes. */
  readonly layers?: number;
  readonly layerSize?: number;
  readonly gzip?: boolean;
  readonly architecture?: string;
  readonly mediaTypes?: 'oci' | 'docker';
  /** Layer contents to use instead of random ones: images built from the same tars share layers. */
  readonly tars?: readonly Buffer[];
}

/** Builds the blobs of a synthetic image (uncompressed or gzip layers). */
export function syntheticImage(spec: ImageSpec = {}): SyntheticImage {
  const tars =
    spec.tars ??
    Array.from({ length: spec.layers ?? 2 }, (_, i) =>
      tarOf(`file-${i}`, randomBytes(spec.layerSize ?? 2048)),
    );
  const layers = spec.gzip === false ? tars : tars.map((t) => gzipSync(t));
  const docker = spec.mediaTypes === 'docker';
  const config = Buffer.from(
    JSON.stringify({
      architecture: spec.architecture ?? 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: tars.map(sha256) },
    }),
  );
  const layerType = docker
    ? spec.gzip === false
      ? 'application/vnd.docker.image.rootfs.diff.tar'
      : 'application/vnd.docker.image.rootfs.diff.tar.gzip'
    : spec.gzip === false
      ? 'application/vnd.oci.image.layer.v1.tar'
      : 'application/vnd.oci.image.layer.v1.tar+gzip';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker
        ? 'application/vnd.docker.distribution.manifest.v2+json'
        : 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: docker
          ? 'application/vnd.docker.container.image.v1+json'
          : 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: layers.map((l) => ({ mediaType: layerType, digest: sha256(l), size: l.length })),
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), config, layers, tars };
}

async function putBlob(dir: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return digest;
}

/** Writes `images` into an OCI layout at `dir`, each tagged with its ref.name. */
export async function writeOciLayout(
  dir: string,
  images: Readonly<Record<string, SyntheticImage>>,
): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const manifests = [];
  for (const [name, image] of Object.entries(images)) {
    await putBlob(dir, image.config);
    for (const l of image.layers) await putBlob(dir, l);
    await putBlob(dir, image.manifest);
    const mediaType = JSON.parse(image.manifest.toString()).mediaType;
    manifests.push({
      mediaType,
      digest: image.manifestDigest,
      size: image.manifest.length,
      ...(name !== '' ? { annotations: { 'org.opencontainers.image.ref.name': name } } : {}),
    });
  }
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
}

/** An OCI index over `images` (one per architecture), written with them into a layout under `name`. */
export async function writeOciIndexLayout(
  dir: string,
  name: string,
  images: readonly SyntheticImage[],
  architectures: readonly string[],
): Promise<{ index: Buffer; indexDigest: string }> {
  await writeOciLayout(dir, {});
  for (const image of images) {
    await putBlob(dir, image.config);
    for (const l of image.layers) await putBlob(dir, l);
    await putBlob(dir, image.manifest);
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map((image, i) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: image.manifestDigest,
        size: image.manifest.length,
        platform: { os: 'linux', architecture: architectures[i] },
      })),
    }),
  );
  const indexDigest = await putBlob(dir, index);
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: indexDigest,
          size: index.length,
          annotations: { 'org.opencontainers.image.ref.name': name },
        },
      ],
    }),
  );
  return { index, indexDigest };
}
