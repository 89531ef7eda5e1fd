import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { TarWriter } from '../../archive/tar.ts';
import { type Digest, digestHex, digestOf, verifyingStream } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import { MAX_CONFIG_SIZE, storeStream, tempSibling } from '../../local/files.ts';
import { DOCKER_V2_SCHEMA2_MEDIA_TYPE, parseManifest } from '../../manifest/index.ts';
import type { DockerReference } from '../../reference/index.ts';
import type { BlobInfo, ImageDestination, PutBlobOptions, Signature, SystemContext } from '../../types.ts';
import type { DockerArchiveReference } from './transport.ts';

interface Item {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    n += (chunk as Buffer).length;
    if (n > limit) throw new LocalTransportError('TOO_LARGE', `config larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Go's json.Marshal of map[string]any: keys sorted. */
function sortedJSON(value: Record<string, unknown>): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
}

/**
 * Streams a `docker save`-compatible tar (manifest.json, repositories, legacy layer dirs) into a
 * hidden sibling file, renamed over the destination path on commit.
 */
export class DockerArchiveDestination implements ImageDestination {
  readonly reference: DockerArchiveReference;
  readonly desiredLayerCompression = 'decompress';
  readonly acceptsForeignLayerURLs = false;
  readonly hasThreadSafePutBlob = false;
  readonly supportsManifestLists = false;
  readonly #ctx: SystemContext;
  readonly #temp: string;
  readonly #out: WriteStream;
  readonly #tar: TarWriter;
  readonly #repoTags: readonly DockerReference[];
  readonly #blobs = new Map<string, number>();
  readonly #items: Item[] = [];
  readonly #repositories: Record<string, Record<string, string>> = {};
  readonly #legacyLayers = new Set<string>();
  #config: Buffer | undefined;
  #committed = false;

  private constructor(reference: DockerArchiveReference, ctx: SystemContext, temp: string) {
    this.reference = reference;
    this.#ctx = ctx;
    this.#temp = temp;
    this.#out = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
    this.#tar = new TarWriter(this.#out);
    this.#repoTags = [
      ...(reference.ref !== undefined ? [reference.ref] : []),
      ...(ctx.dockerArchiveAdditionalTags ?? []),
    ];
  }

  static async open(
    reference: DockerArchiveReference,
    ctx: SystemContext,
  ): Promise<DockerArchiveDestination> {
    if (reference.sourceIndex >= 0) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `destination reference must not contain a manifest index @${reference.sourceIndex}`,
      );
    }
    try {
      const st = await lstat(reference.path);
      if (st.isFile() && st.size !== 0) {
        throw new LocalTransportError(
          'NOT_SUPPORTED',
          `docker-archive:${reference.path}: docker-archive doesn't support modifying existing images`,
        );
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new DockerArchiveDestination(reference, ctx, tempSibling(reference.path, 'partial'));
  }

  supportedManifestMIMETypes(): readonly string[] {
    return [DOCKER_V2_SCHEMA2_MEDIA_TYPE];
  }

  supportsSignatures(): string {
    return 'storing signatures for docker tar files is not supported';
  }

  async putBlob(
    stream: Readable,
    info: { digest?: Digest; size: number },
    options: PutBlobOptions,
  ): Promise<BlobInfo> {
    let digest = info.digest;
    let size = info.size;
    let body = stream;
    let spool: string | undefined;
    try {
      if (digest === undefined || size < 0) {
        // A tar header needs the size up front: spool unknown-size input to disk first (as upstream).
        spool = await mkdtemp(join(this.#ctx.tmpDir ?? tmpdir(), 'portcullis-blob-'));
        const stored = await storeStream(stream, spool, info, 'docker-archive: spooling blob');
        digest = stored.digest;
        size = stored.size;
        body = createReadStream(stored.path);
      } else {
        body = options.streamVerified
          ? stream
          : pipeline(
              stream,
              verifyingStream(digest, { expectedSize: size, what: `blob ${digest}` }),
              () => {},
            );
      }
      const known = this.#blobs.get(digest);
      if (known !== undefined) {
        body.destroy();
        return { digest, size: known };
      }
      if (options.isConfig) {
        this.#config = await readAll(body, MAX_CONFIG_SIZE);
        await this.#tar.addBytes(`${digestHex(digest)}.json`, this.#config);
      } else {
        await this.#tar.addStream(`${digestHex(digest)}.tar`, size, body);
      }
      this.#blobs.set(digest, size);
      return { digest, size };
    } finally {
      if (spool !== undefined) await rm(spool, { recursive: true, force: true });
    }
  }

  async tryReusingBlob(info: BlobInfo): Promise<BlobInfo | undefined> {
    const size = this.#blobs.get(info.digest);
    return size === undefined ? undefined : { digest: info.digest, size };
  }

  async putManifest(manifest: Uint8Array, mimeType: string, instanceDigest?: Digest): Promise<void> {
    if (instanceDigest !== undefined) {
      throw new LocalTransportError(
        'LISTS_NOT_SUPPORTED',
        'manifest lists are not supported for docker tar files',
      );
    }
    if (mimeType !== DOCKER_V2_SCHEMA2_MEDIA_TYPE) {
      throw new LocalTransportError(
        'MANIFEST_TYPE_REJECTED',
        'unsupported manifest type, need a Docker schema 2 manifest',
      );
    }
    const view = parseManifest(manifest, mimeType);
    if (view.kind !== 'schema2') {
      throw new LocalTransportError(
        'MANIFEST_TYPE_REJECTED',
        'unsupported manifest type, need a Docker schema 2 manifest',
      );
    }
    const layerIDs = await this.#writeLegacyLayers(view.layers.map((l) => l.digest));
    const item: Item = {
      Config: `${digestHex(view.config.digest)}.json`,
      RepoTags: [],
      Layers: view.layers.map((l) => `${digestHex(l.digest)}.tar`),
    };
    const existing = this.#items.find((i) => i.Config === item.Config);
    const target = existing ?? item;
    if (existing === undefined) this.#items.push(item);
    for (const tag of this.#repoTags) {
      const name = `${tag.name()}:${tag.tag ?? 'latest'}`;
      if (!target.RepoTags.includes(name)) target.RepoTags.push(name);
      const top = layerIDs.at(-1);
      if (top !== undefined) {
        const repo = this.#repositories[tag.name()] ?? {};
        repo[tag.tag ?? 'latest'] = top;
        this.#repositories[tag.name()] = repo;
      }
    }
  }

  /** Legacy `<id>/{VERSION,json,layer.tar}` entries older docker load versions want (upstream writer). */
  async #writeLegacyLayers(layers: readonly Digest[]): Promise<string[]> {
    const ids: string[] = [];
    let chainID = '';
    let parent = '';
    let config: Record<string, unknown> = {};
    if (this.#config !== undefined) {
      try {
        config = JSON.parse(this.#config.toString('utf8'));
      } catch {
        config = {};
      }
    }
    for (const [i, layer] of layers.entries()) {
      const layerConfig: Record<string, unknown> = {};
      if (parent !== '') layerConfig.parent = parent;
      if (i === layers.length - 1) {
        for (const attr of [
          'architecture',
          'config',
          'container',
          'container_config',
          'created',
          'docker_version',
          'os',
        ]) {
          layerConfig[attr] = config[attr] ?? null;
        }
      }
      chainID = chainID === '' ? layer : digestOf(`${chainID} ${layer}`);
      const id = digestHex(digestOf(sortedJSON({ ...layerConfig, layer_id: chainID })));
      layerConfig.id = id;
      if (!this.#legacyLayers.has(id)) {
        await this.#tar.addSymlink(`${id}/layer.tar`, `../${digestHex(layer)}.tar`);
        await this.#tar.addBytes(`${id}/VERSION`, Buffer.from('1.0'));
        await this.#tar.addBytes(`${id}/json`, Buffer.from(sortedJSON(layerConfig)));
        this.#legacyLayers.add(id);
      }
      ids.push(id);
      parent = id;
    }
    return ids;
  }

  async putSignatures(signatures: readonly Signature[]): Promise<void> {
    if (signatures.length > 0) {
      throw new LocalTransportError('SIGNATURES_NOT_SUPPORTED', this.supportsSignatures());
    }
  }

  async commit(): Promise<void> {
    await this.#tar.addBytes('manifest.json', Buffer.from(JSON.stringify(this.#items)));
    await this.#tar.addBytes('repositories', Buffer.from(JSON.stringify(this.#repositories)));
    await this.#tar.finish();
    await rename(this.#temp, this.reference.path);
    this.#committed = true;
  }

  async close(): Promise<void> {
    if (this.#committed) return;
    // The file is opened asynchronously: wait until it is closed, or the removal can run first.
    if (!this.#out.closed) {
      const closed = once(this.#out, 'close');
      this.#out.destroy();
      await closed;
    }
    await rm(this.#temp, { force: true });
  }
}
