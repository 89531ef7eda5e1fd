import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  decompressFile,
  detectFileCompression,
  sniffedStream,
  zlibDecompressor,
} from '../../archive/compression.ts';
import type { TarEntry } from '../../archive/tar.ts';
import { TarIndex } from '../../archive/tar-index.ts';
import { type Digest, digestOf, isDigest } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import { MAX_CONFIG_SIZE } from '../../local/files.ts';
import {
  DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
} from '../../manifest/index.ts';
import { parseNormalizedNamed } from '../../reference/index.ts';
import type { BlobInfo, ImageSource, ManifestBytes, Signature, SystemContext } from '../../types.ts';
import type { DockerArchiveReference } from './transport.ts';

const MAX_TAR_MANIFEST = 1024 * 1024;

export interface ManifestItem {
  readonly Config: string;
  readonly RepoTags: readonly string[] | null;
  readonly Layers: readonly string[];
}

interface Layer {
  readonly entry: TarEntry;
  readonly compressed: boolean;
  readonly size: number;
}

/** An opened docker-archive file: decompressed to a temp file first when the archive is compressed. */
export class DockerArchiveReader {
  readonly index: TarIndex;
  readonly items: readonly ManifestItem[];
  readonly #tempDir: string | undefined;

  private constructor(index: TarIndex, items: readonly ManifestItem[], tempDir: string | undefined) {
    this.index = index;
    this.items = items;
    this.#tempDir = tempDir;
  }

  static async open(path: string, ctx: SystemContext): Promise<DockerArchiveReader> {
    const what = `docker-archive:${path}`;
    let tempDir: string | undefined;
    try {
      let tarPath = path;
      const compression = await detectFileCompression(path);
      if (compression !== 'uncompressed') {
        tempDir = await mkdtemp(join(ctx.tmpDir ?? tmpdir(), 'portcullis-docker-archive-'));
        tarPath = join(tempDir, 'archive.tar');
        await decompressFile(path, compression, tarPath);
      }
      const index = await TarIndex.open(tarPath);
      const manifestEntry = index.resolve('manifest.json');
      if (manifestEntry === undefined)
        throw new LocalTransportError('CORRUPT_IMAGE', `${what}: no manifest.json`);
      let items: unknown;
      try {
        items = JSON.parse((await index.read(manifestEntry, MAX_TAR_MANIFEST)).toString('utf8'));
      } catch (err) {
        throw new LocalTransportError('CORRUPT_IMAGE', `${what}: decoding tar manifest.json`, { cause: err });
      }
      if (
        !Array.isArray(items) ||
        !items.every((i) => typeof i?.Config === 'string' && Array.isArray(i?.Layers))
      ) {
        throw new LocalTransportError('CORRUPT_IMAGE', `${what}: unexpected manifest.json contents`);
      }
      return new DockerArchiveReader(index, items as ManifestItem[], tempDir);
    } catch (err) {
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
      if (err instanceof LocalTransportError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new LocalTransportError('IMAGE_NOT_FOUND', `${what}: no such file`, { cause: err });
      }
      throw new LocalTransportError('CORRUPT_IMAGE', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Upstream ChooseManifestItem: by RepoTags, by @index, or the only item. */
  choose(ref: DockerArchiveReference): ManifestItem {
    const what = `docker-archive:${ref.path}`;
    if (ref.ref !== undefined) {
      const wanted = ref.ref.toString();
      for (const [i, item] of this.items.entries()) {
        for (const tag of item.RepoTags ?? []) {
          let parsed: string;
          try {
            parsed = parseNormalizedNamed(tag).toString();
          } catch (err) {
            throw new LocalTransportError(
              'CORRUPT_IMAGE',
              `${what}: invalid tag ${JSON.stringify(tag)} in manifest.json item @${i}`,
              {
                cause: err,
              },
            );
          }
          if (parsed === wanted) return item;
        }
      }
      throw new LocalTransportError('IMAGE_NOT_FOUND', `${what}: tag ${JSON.stringify(wanted)} not found`);
    }
    if (ref.sourceIndex >= 0) {
      const item = this.items[ref.sourceIndex];
      if (item === undefined) {
        throw new LocalTransportError(
          'IMAGE_NOT_FOUND',
          `${what}: invalid source index @${ref.sourceIndex}, only ${this.items.length} manifest items available`,
        );
      }
      return item;
    }
    if (this.items.length !== 1) {
      throw new LocalTransportError(
        'MORE_THAN_ONE_IMAGE',
        `${what}: unexpected tar manifest.json: expected 1 item, got ${this.items.length}`,
      );
    }
    return this.items[0]!;
  }

  async close(): Promise<void> {
    if (this.#tempDir !== undefined) await rm(this.#tempDir, { recursive: true, force: true });
  }
}

async function countBytes(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

export class DockerArchiveSource implements ImageSource {
  readonly reference: DockerArchiveReference;
  readonly hasThreadSafeGetBlob = true;
  readonly #reader: DockerArchiveReader;
  readonly #config: Buffer;
  readonly #configDigest: Digest;
  readonly #layers: ReadonlyMap<string, Layer>;
  readonly #diffIDs: readonly Digest[];
  #manifest: Uint8Array | undefined;

  private constructor(
    reference: DockerArchiveReference,
    reader: DockerArchiveReader,
    config: Buffer,
    diffIDs: readonly Digest[],
    layers: ReadonlyMap<string, Layer>,
  ) {
    this.reference = reference;
    this.#reader = reader;
    this.#config = config;
    this.#configDigest = digestOf(config);
    this.#diffIDs = diffIDs;
    this.#layers = layers;
  }

  static async open(reference: DockerArchiveReference, ctx: SystemContext): Promise<DockerArchiveSource> {
    const reader = await DockerArchiveReader.open(reference.path, ctx);
    const what = `docker-archive:${reference.path}`;
    try {
      const item = reader.choose(reference);
      const configEntry = reader.index.resolve(item.Config);
      if (configEntry === undefined)
        throw new LocalTransportError('CORRUPT_IMAGE', `${what}: config ${item.Config} missing`);
      const config = await reader.index.read(configEntry, MAX_CONFIG_SIZE);
      let diffIDs: unknown;
      try {
        diffIDs = JSON.parse(config.toString('utf8'))?.rootfs?.diff_ids;
      } catch (err) {
        throw new LocalTransportError('CORRUPT_IMAGE', `${what}: decoding tar config ${item.Config}`, {
          cause: err,
        });
      }
      if (!Array.isArray(diffIDs) || !diffIDs.every((d) => typeof d === 'string' && isDigest(d))) {
        throw new LocalTransportError(
          'CORRUPT_IMAGE',
          `${what}: invalid image config (rootfs is not set): ${item.Config}`,
        );
      }
      if (diffIDs.length !== item.Layers.length) {
        throw new LocalTransportError(
          'CORRUPT_IMAGE',
          `${what}: inconsistent layer count: ${item.Layers.length} in manifest, ${diffIDs.length} in config`,
        );
      }
      const layers = new Map<string, Layer>();
      for (const [i, diffID] of (diffIDs as Digest[]).entries()) {
        if (layers.has(diffID)) continue;
        const entry = reader.index.resolve(item.Layers[i]!);
        if (entry === undefined) {
          throw new LocalTransportError(
            'CORRUPT_IMAGE',
            `${what}: layer ${item.Layers[i]} is missing in the tarball`,
          );
        }
        const { compression, stream } = await sniffedStream(reader.index.stream(entry));
        const decompressor = zlibDecompressor(compression);
        if (decompressor === undefined) {
          stream.destroy();
          layers.set(diffID, { entry, compressed: false, size: entry.size });
        } else {
          // Upstream reports the uncompressed size: it has to read the layer once to know it.
          const counted = Readable.from(stream.pipe(decompressor), { objectMode: false });
          layers.set(diffID, { entry, compressed: true, size: await countBytes(counted) });
        }
      }
      return new DockerArchiveSource(reference, reader, config, diffIDs as Digest[], layers);
    } catch (err) {
      await reader.close();
      throw err;
    }
  }

  /** Generated like upstream (Go field order), so its digest matches skopeo's for the same archive. */
  async getManifest(instanceDigest?: Digest): Promise<ManifestBytes> {
    if (instanceDigest !== undefined) {
      throw new LocalTransportError(
        'LISTS_NOT_SUPPORTED',
        'docker-archive: manifest lists are not supported',
      );
    }
    this.#manifest ??= Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_V2_SCHEMA2_MEDIA_TYPE,
        config: {
          mediaType: DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE,
          size: this.#config.length,
          digest: this.#configDigest,
        },
        layers: this.#diffIDs.map((d) => ({
          mediaType: DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
          size: this.#layers.get(d)!.size,
          digest: d,
        })),
      }),
    );
    return { manifest: this.#manifest, mimeType: DOCKER_V2_SCHEMA2_MEDIA_TYPE };
  }

  async getBlob(info: BlobInfo): Promise<{ stream: Readable; size: number }> {
    if (info.digest === this.#configDigest) {
      return { stream: Readable.from([this.#config], { objectMode: false }), size: this.#config.length };
    }
    const layer = this.#layers.get(info.digest);
    if (layer === undefined) {
      throw new LocalTransportError(
        'BLOB_NOT_FOUND',
        `docker-archive:${this.reference.path}: unknown blob ${info.digest}`,
      );
    }
    const raw = this.#reader.index.stream(layer.entry);
    if (!layer.compressed) return { stream: raw, size: layer.size };
    const { compression, stream } = await sniffedStream(raw);
    const out = zlibDecompressor(compression)!;
    pipeline(stream, out).catch((err) => out.destroy(err));
    return { stream: out, size: layer.size };
  }

  async getSignatures(): Promise<Signature[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.#reader.close();
  }
}
