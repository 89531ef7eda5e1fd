// Small synthetic OCI images for tests: random gzip layers, a config and a manifest, in memory
// or written as an OCI layout that skopeo can copy from.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Digest, digestHex, digestOf } from '../../src/image/index.ts';

export interface Blob {
  readonly digest: Digest;
  readonly bytes: Buffer;
  readonly mediaType: string;
}

export interface SyntheticImage {
  readonly config: Blob;
  readonly layers: readonly Blob[];
  readonly manifest: Buffer;
  readonly manifestDigest: Digest;
  readonly mimeType: string;
}

/** A one-file tar archive (ustar), enough for a layer. */
function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write(`${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

function blob(bytes: Buffer, mediaType: string): Blob {
  return { digest: digestOf(bytes), bytes, mediaType };
}

export interface ImageOptions {
  readonly layers?: number;
  readonly layerBytes?: number;
  readonly labels?: Record<string, string>;
  readonly env?: string[];
  readonly architecture?: string;
}

export function syntheticImage(options: ImageOptions = {}): SyntheticImage {
  const layers: Blob[] = [];
  const diffIds: Digest[] = [];
  for (let i = 0; i < (options.layers ?? 2); i++) {
    const tar = tarOf(`file-${i}`, randomBytes(options.layerBytes ?? 2048));
    diffIds.push(digestOf(tar));
    layers.push(blob(gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip'));
  }
  const config = blob(
    Buffer.from(
      JSON.stringify({
        created: '2024-01-02T03:04:05Z',
        architecture: options.architecture ?? 'amd64',
        os: 'linux',
        config: {
          Env: options.env ?? ['PATH=/usr/bin'],
          Labels: options.labels ?? { 'org.example.test': 'yes' },
        },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: diffIds.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'synthetic' })),
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
    }),
  );
  return {
    config,
    layers,
    manifest,
    manifestDigest: digestOf(manifest),
    mimeType: 'application/vnd.oci.image.manifest.v1+json',
  };
}

/** Writes the image as an OCI layout at `dir`, tagged `tag`. */
export async function writeOciLayout(dir: string, image: SyntheticImage, tag: string): Promise<void> {
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const b of [image.config, ...image.layers, { digest: image.manifestDigest, bytes: image.manifest }]) {
    await writeFile(join(dir, 'blobs/sha256', digestHex(b.digest)), b.bytes);
  }
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: image.mimeType,
          digest: image.manifestDigest,
          size: image.manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
}

/** Pushes the image to a registry with plain HTTP requests (independent of the code under test). */
export async function pushWithFetch(
  registryUrl: string,
  repo: string,
  tag: string,
  image: SyntheticImage,
  authorization?: string,
): Promise<void> {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  for (const b of [image.config, ...image.layers]) {
    const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    await start.arrayBuffer();
    if (start.status !== 202) throw new Error(`push: POST upload: ${start.status}`);
    const loc = new URL(start.headers.get('location')!, registryUrl);
    loc.searchParams.set('digest', b.digest);
    const put = await fetch(loc, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: b.bytes,
    });
    await put.arrayBuffer();
    if (put.status !== 201) throw new Error(`push: PUT blob: ${put.status}`);
  }
  const put = await fetch(`${registryUrl}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': image.mimeType },
    body: image.manifest,
  });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`push: PUT manifest: ${put.status}`);
}
