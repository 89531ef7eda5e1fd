// OCI image layout reading and writing, shared by oci: and oci-archive: (which wraps a layout in a tar).
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Digest, digestAlgorithm, digestHex, digestOf } from '../digest.ts';
import {
  DOCKER_V2_LIST,
  DOCKER_V2S2,
  guessMIMEType,
  imageManifestView,
  listInstances,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../manifest/interim.ts';
import type {
  BlobInfo,
  ImageDestination,
  ImageReference,
  ImageSource,
  LayerCompressionPreference,
  ManifestBytes,
  PutBlobOptions,
  Signature,
  SystemContext,
} from '../types.ts';
import { LocalTransportError } from './errors.ts';
import {
  existingBlobSize,
  MAX_MANIFEST_SIZE,
  openBlobFile,
  readBounded,
  storeStream,
  writeFileAtomic,
} from './files.ts';
import { checkedDigest } from './paths.ts';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const MAX_INDEX_SIZE = 16 * 1024 * 1024;
const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion": "1.0.0"}';

const component = '(?:[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)';
const imageNameRegexp = new RegExp(`^${component}(?:/${component})*$`);

export interface OciDescriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

export interface OciIndex {
  schemaVersion: number;
  manifests: OciDescriptor[];
  [extra: string]: unknown;
}

/** What follows `oci:`/`oci-archive:`: `path[:image]` or `path:@N`, split at the first colon. */
export function parseLayoutReference(
  transport: string,
  details: string,
): { path: string; image: string; sourceIndex: number } {
  const colon = details.indexOf(':');
  const path = colon < 0 ? details : details.slice(0, colon);
  const rest = colon < 0 ? '' : details.slice(colon + 1);
  if (path === '')
    throw new LocalTransportError('REFERENCE_INVALID', `invalid ${transport}: reference: empty path`);
  if (rest.startsWith('@')) {
    if (!/^[+-]?\d+$/.test(rest.slice(1))) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `invalid source index @${rest.slice(1)}: not an integer`,
      );
    }
    const index = Number(rest.slice(1));
    if (index < 0 || !Number.isSafeInteger(index)) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `invalid source index @${index}: must not be negative`,
      );
    }
    return { path, image: '', sourceIndex: index };
  }
  if (rest !== '' && !imageNameRegexp.test(rest)) {
    throw new LocalTransportError('REFERENCE_INVALID', `invalid image ${rest}`);
  }
  return { path, image: rest, sourceIndex: -1 };
}

export function layoutStringWithinTransport(path: string, image: string, sourceIndex: number): string {
  return sourceIndex >= 0 ? `${path}:@${sourceIndex}` : `${path}:${image}`;
}

export async function readIndex(dir: string): Promise<OciIndex | undefined> {
  const path = join(dir, 'index.json');
  const bytes = await readBounded(path, MAX_INDEX_SIZE, `reading ${path}`);
  if (bytes === undefined) return undefined;
  let index: OciIndex;
  try {
    index = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new LocalTransportError('CORRUPT_IMAGE', `parsing ${path}: invalid JSON`, { cause: err });
  }
  if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests)) {
    throw new LocalTransportError('CORRUPT_IMAGE', `parsing ${path}: expected an OCI index with "manifests"`);
  }
  for (const d of index.manifests) {
    if (typeof d !== 'object' || d === null || typeof d.digest !== 'string' || typeof d.size !== 'number') {
      throw new LocalTransportError('CORRUPT_IMAGE', `parsing ${path}: descriptor without digest or size`);
    }
  }
  return index;
}

const lookupTypes = new Set([OCI_MANIFEST, OCI_INDEX, DOCKER_V2S2, DOCKER_V2_LIST]);

/** The descriptor a reference names (upstream getManifestDescriptor). */
export function findDescriptor(
  index: OciIndex,
  image: string,
  sourceIndex: number,
  what: string,
): OciDescriptor {
  if (sourceIndex >= 0) {
    const d = index.manifests[sourceIndex];
    if (d === undefined) {
      throw new LocalTransportError(
        'IMAGE_NOT_FOUND',
        `${what}: index ${sourceIndex} is too large, only ${index.manifests.length} entries available`,
      );
    }
    return d;
  }
  if (image !== '') {
    const unsupported: string[] = [];
    for (const d of index.manifests) {
      if (d.annotations?.[REF_NAME_ANNOTATION] !== image) continue;
      if (lookupTypes.has(d.mediaType ?? '')) return d;
      unsupported.push(d.mediaType ?? '');
    }
    if (unsupported.length > 0) {
      throw new LocalTransportError(
        'MANIFEST_TYPE_REJECTED',
        `${what}: reference ${JSON.stringify(image)} matches unsupported manifest MIME types ${JSON.stringify(unsupported)}`,
      );
    }
    throw new LocalTransportError(
      'IMAGE_NOT_FOUND',
      `${what}: no descriptor found for reference ${JSON.stringify(image)}`,
    );
  }
  if (index.manifests.length !== 1) {
    throw new LocalTransportError(
      'MORE_THAN_ONE_IMAGE',
      `${what}: more than one image in oci, choose an image`,
    );
  }
  return index.manifests[0]!;
}

export function blobPath(layoutDir: string, d: string, sharedBlobDir?: string): string {
  const checked = checkedDigest(d);
  const base = sharedBlobDir ?? join(layoutDir, 'blobs');
  return join(base, digestAlgorithm(checked), digestHex(checked));
}

export class OciLayoutSource implements ImageSource {
  readonly reference: ImageReference;
  readonly hasThreadSafeGetBlob = true;
  readonly #dir: string;
  readonly #descriptor: OciDescriptor;
  readonly #sharedBlobDir: string | undefined;

  private constructor(
    reference: ImageReference,
    dir: string,
    descriptor: OciDescriptor,
    sharedBlobDir?: string,
  ) {
    this.reference = reference;
    this.#dir = dir;
    this.#descriptor = descriptor;
    this.#sharedBlobDir = sharedBlobDir;
  }

  static async open(
    reference: ImageReference,
    dir: string,
    image: string,
    sourceIndex: number,
    sharedBlobDir?: string,
  ): Promise<OciLayoutSource> {
    const what = `${reference.transport.name}:${reference.stringWithinTransport()}`;
    const index = await readIndex(dir);
    if (index === undefined) {
      throw new LocalTransportError('IMAGE_NOT_FOUND', `${what}: no index.json in ${dir}`);
    }
    return new OciLayoutSource(
      reference,
      dir,
      findDescriptor(index, image, sourceIndex, what),
      sharedBlobDir,
    );
  }

  async getManifest(instanceDigest?: Digest): Promise<ManifestBytes> {
    const digest = instanceDigest ?? checkedDigest(this.#descriptor.digest);
    const path = blobPath(this.#dir, digest, this.#sharedBlobDir);
    const manifest = await readBounded(path, MAX_MANIFEST_SIZE, `reading manifest ${digest}`);
    if (manifest === undefined) {
      throw new LocalTransportError(
        'BLOB_NOT_FOUND',
        `reading manifest ${digest}: blob missing from the layout`,
      );
    }
    if (digestOf(manifest, digestAlgorithm(digest)) !== digest) {
      throw new LocalTransportError(
        'CORRUPT_IMAGE',
        `reading manifest ${digest}: content does not match its digest`,
      );
    }
    const mimeType =
      (instanceDigest === undefined ? this.#descriptor.mediaType : undefined) || guessMIMEType(manifest);
    return { manifest, mimeType };
  }

  getBlob(info: BlobInfo): Promise<{ stream: Readable; size: number }> {
    return openBlobFile(
      blobPath(this.#dir, info.digest, this.#sharedBlobDir),
      `reading blob ${info.digest} from ${this.reference.transport.name}:${this.reference.stringWithinTransport()}`,
    );
  }

  async getSignatures(): Promise<Signature[]> {
    return [];
  }

  async close(): Promise<void> {}
}

/**
 * Writes blobs under their final names as they arrive (unreferenced until index.json changes) and
 * index.json atomically on commit; an uncommitted close removes the blobs this session created.
 */
export class OciLayoutDestination implements ImageDestination {
  readonly reference: ImageReference;
  /** Upstream: compress unless told to accept uncompressed layers. */
  readonly desiredLayerCompression: LayerCompressionPreference;
  readonly acceptsForeignLayerURLs = true;
  readonly hasThreadSafePutBlob = true;
  readonly supportsManifestLists = true;
  readonly #dir: string;
  readonly #image: string;
  readonly #sharedBlobDir: string | undefined;
  readonly #index: OciIndex;
  readonly #created: string[] = [];
  readonly #createdDir: boolean;
  #top: OciDescriptor | undefined;
  #committed = false;

  private constructor(
    reference: ImageReference,
    dir: string,
    image: string,
    index: OciIndex,
    createdDir: boolean,
    sharedBlobDir: string | undefined,
    acceptUncompressed: boolean,
  ) {
    this.reference = reference;
    this.#dir = dir;
    this.#image = image;
    this.#index = index;
    this.#createdDir = createdDir;
    this.#sharedBlobDir = sharedBlobDir;
    this.desiredLayerCompression = acceptUncompressed ? 'preserve' : 'compress';
  }

  static async open(
    reference: ImageReference,
    dir: string,
    image: string,
    ctx: SystemContext,
  ): Promise<OciLayoutDestination> {
    const sharedBlobDir = ctx.ociSharedBlobDir;
    let createdDir = false;
    try {
      const st = await stat(dir);
      if (!st.isDirectory()) throw new LocalTransportError('NOT_IMAGE_DIRECTORY', `${dir}: not a directory`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true, mode: 0o755 });
      createdDir = true;
    }
    const index = (await readIndex(dir)) ?? { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    return new OciLayoutDestination(
      reference,
      dir,
      image,
      index,
      createdDir,
      sharedBlobDir,
      ctx.ociAcceptUncompressedLayers ?? false,
    );
  }

  supportedManifestMIMETypes(): readonly string[] {
    return [OCI_MANIFEST, OCI_INDEX];
  }

  supportsSignatures(): string {
    return 'pushing signatures for OCI images is not supported';
  }

  async #place(tempPath: string, digest: Digest): Promise<void> {
    const final = blobPath(this.#dir, digest, this.#sharedBlobDir);
    const existed = (await existingBlobSize(final)) !== undefined;
    await rename(tempPath, final);
    if (!existed) this.#created.push(final);
  }

  async #blobDir(digest?: Digest): Promise<string> {
    const algorithm = digest === undefined ? 'sha256' : digestAlgorithm(digest);
    const dir = join(this.#sharedBlobDir ?? join(this.#dir, 'blobs'), algorithm);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  async putBlob(
    stream: Readable,
    info: { digest?: Digest; size: number },
    options: PutBlobOptions,
  ): Promise<BlobInfo> {
    const dir = await this.#blobDir(info.digest);
    const stored = await storeStream(stream, dir, info, `writing blob to ${this.#what()}`, options);
    if (info.digest === undefined && digestAlgorithm(stored.digest) !== 'sha256')
      await this.#blobDir(stored.digest);
    await this.#place(stored.path, stored.digest);
    return { digest: stored.digest, size: stored.size };
  }

  async tryReusingBlob(info: BlobInfo): Promise<BlobInfo | undefined> {
    const size = await existingBlobSize(blobPath(this.#dir, info.digest, this.#sharedBlobDir));
    return size === undefined ? undefined : { digest: info.digest, size };
  }

  async putManifest(manifest: Uint8Array, mimeType: string, instanceDigest?: Digest): Promise<void> {
    const digest = instanceDigest ?? digestOf(manifest);
    const dir = await this.#blobDir(digest);
    const temp = join(dir, `.manifest-${digestHex(digest).slice(0, 16)}.partial`);
    await writeFile(temp, manifest, { mode: 0o644 });
    await this.#place(temp, digest);
    if (instanceDigest !== undefined) return;
    this.#top = {
      mediaType: mimeType,
      digest,
      size: manifest.byteLength,
      ...(this.#image !== '' ? { annotations: { [REF_NAME_ANNOTATION]: this.#image } } : {}),
    };
  }

  async putSignatures(signatures: readonly Signature[]): Promise<void> {
    if (signatures.length > 0) {
      throw new LocalTransportError(
        'SIGNATURES_NOT_SUPPORTED',
        `${this.#what()}: ${this.supportsSignatures()}`,
      );
    }
  }

  #what(): string {
    return `${this.reference.transport.name}:${this.reference.stringWithinTransport()}`;
  }

  /** Upstream addManifest: the name moves to the new entry; an unnamed entry of the same digest is replaced. */
  #addTop(desc: OciDescriptor): void {
    const name = desc.annotations?.[REF_NAME_ANNOTATION];
    if (name !== undefined) {
      for (const m of this.#index.manifests) {
        if (m.annotations?.[REF_NAME_ANNOTATION] === name) {
          delete m.annotations[REF_NAME_ANNOTATION];
          break;
        }
      }
    }
    const same = this.#index.manifests.findIndex(
      (m) => m.digest === desc.digest && (m.annotations?.[REF_NAME_ANNOTATION] ?? '') === '',
    );
    if (same >= 0) this.#index.manifests[same] = desc;
    else this.#index.manifests.push(desc);
  }

  async commit(): Promise<void> {
    if (this.#top === undefined) {
      throw new LocalTransportError('NOT_COMMITTED', `${this.#what()}: commit without a manifest`);
    }
    this.#addTop(this.#top);
    await writeFileAtomic(join(this.#dir, 'oci-layout'), OCI_LAYOUT_CONTENT);
    await writeFileAtomic(join(this.#dir, 'index.json'), JSON.stringify(this.#index));
    this.#committed = true;
  }

  async close(): Promise<void> {
    if (this.#committed) return;
    await Promise.all(this.#created.map((p) => rm(p, { force: true })));
    if (this.#createdDir) await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Adds one use of each blob `descriptor` reaches (itself, config, layers, index children). */
async function countBlobs(
  uses: Map<string, number>,
  layoutDir: string,
  descriptor: { readonly digest: string; readonly mediaType?: string | undefined },
  sharedBlobDir: string | undefined,
  depth: number,
): Promise<void> {
  if (depth > 8) throw new LocalTransportError('CORRUPT_IMAGE', 'oci: indexes nested too deeply');
  uses.set(descriptor.digest, (uses.get(descriptor.digest) ?? 0) + 1);
  const path = blobPath(layoutDir, descriptor.digest, sharedBlobDir);
  const bytes = await readBounded(path, MAX_MANIFEST_SIZE, `reading ${descriptor.digest}`);
  if (bytes === undefined)
    throw new LocalTransportError('BLOB_NOT_FOUND', `${descriptor.digest}: missing from the layout`);
  switch (descriptor.mediaType) {
    case OCI_MANIFEST: {
      const view = imageManifestView(bytes, OCI_MANIFEST);
      for (const d of [view.config, ...view.layers]) uses.set(d.digest, (uses.get(d.digest) ?? 0) + 1);
      return;
    }
    case OCI_INDEX:
      for (const child of listInstances(bytes))
        await countBlobs(uses, layoutDir, child, sharedBlobDir, depth + 1);
      return;
    default:
      throw new LocalTransportError(
        'MANIFEST_TYPE_REJECTED',
        `unsupported mediaType in index: ${JSON.stringify(descriptor.mediaType ?? '')}`,
      );
  }
}

/**
 * Upstream oci DeleteImage: drops the image's index.json entry and the blobs no other entry uses.
 * index.json is rewritten first, so an interruption leaves unreferenced blobs, never a broken entry.
 * Blobs in a shared blob directory are left alone (other layouts may use them).
 */
export async function deleteFromLayout(
  layoutDir: string,
  image: string,
  sourceIndex: number,
  sharedBlobDir: string | undefined,
  what: string,
): Promise<void> {
  const index = await readIndex(layoutDir);
  if (index === undefined) throw new LocalTransportError('IMAGE_NOT_FOUND', `${what}: no index.json`);
  const descriptor = findDescriptor(index, image, sourceIndex, what);
  const position = index.manifests.indexOf(descriptor);
  const removed = new Map<string, number>();
  await countBlobs(removed, layoutDir, descriptor, sharedBlobDir, 0);
  const all = new Map<string, number>();
  for (const d of index.manifests) await countBlobs(all, layoutDir, d, sharedBlobDir, 0);
  index.manifests.splice(position, 1);
  await writeFileAtomic(join(layoutDir, 'index.json'), JSON.stringify(index));
  for (const [digest, count] of all) {
    if (count - (removed.get(digest) ?? 0) === 0) await rm(blobPath(layoutDir, digest), { force: true });
  }
}
