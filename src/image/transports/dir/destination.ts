import { lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Digest, digestAlgorithm } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import {
  existingBlobSize,
  MAX_SIGNATURE_SIZE,
  readBounded,
  storeStream,
  tempSibling,
} from '../../local/files.ts';
import type {
  BlobInfo,
  ImageDestination,
  LayerCompressionPreference,
  PutBlobOptions,
  Signature,
  SystemContext,
} from '../../types.ts';
import { signatureToBlob } from './signature-blob.ts';
import { type DirReference, digestFileName, manifestFileName, signatureFileName } from './transport.ts';

const VERSION_PREFIX = 'Directory Transport Version: ';
const MAX_VERSION = { major: 1, minor: 2 };

/** Refuses (like upstream) to replace a non-empty directory that is not a dir: image. */
async function checkReplaceable(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isDirectory()) {
      throw new LocalTransportError(
        'NOT_IMAGE_DIRECTORY',
        `${path}: not a containers image directory, don't want to overwrite important data`,
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((await readdir(path)).length === 0) return;
  const contents = (await readBounded(join(path, 'version'), 256, 'reading version file'))?.toString('utf8');
  const match =
    contents === undefined ? null : /^Directory Transport Version: (\d+)\.(\d+)\n$/.exec(contents);
  if (match === null || contents !== `${VERSION_PREFIX}${Number(match[1])}.${Number(match[2])}\n`) {
    throw new LocalTransportError(
      'NOT_IMAGE_DIRECTORY',
      `${path}: not a containers image directory, don't want to overwrite important data`,
    );
  }
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major > MAX_VERSION.major || (major === MAX_VERSION.major && minor > MAX_VERSION.minor)) {
    throw new LocalTransportError(
      'UNSUPPORTED_VERSION',
      `unsupported directory transport version ${JSON.stringify(contents)} at ${path}`,
    );
  }
}

/**
 * Writes into a hidden sibling directory and swaps it into place on commit, so an interrupted copy
 * never leaves a half-written image (upstream wipes the destination first; we keep it until commit).
 */
export class DirImageDestination implements ImageDestination {
  readonly reference: DirReference;
  readonly desiredLayerCompression: LayerCompressionPreference;
  readonly acceptsForeignLayerURLs = false;
  readonly hasThreadSafePutBlob = true;
  readonly supportsManifestLists = true;
  readonly #staging: string;
  #nonSha256 = false;
  #committed = false;

  private constructor(reference: DirReference, staging: string, compression: LayerCompressionPreference) {
    this.reference = reference;
    this.#staging = staging;
    this.desiredLayerCompression = compression;
  }

  static async open(reference: DirReference, ctx: SystemContext): Promise<DirImageDestination> {
    if (ctx.dirForceCompress && ctx.dirForceDecompress) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        'dir: cannot compress and decompress at the same time',
      );
    }
    const compression = ctx.dirForceCompress
      ? 'compress'
      : ctx.dirForceDecompress
        ? 'decompress'
        : 'preserve';
    await checkReplaceable(reference.resolvedPath);
    await mkdir(dirname(reference.resolvedPath), { recursive: true });
    const staging = tempSibling(reference.resolvedPath, 'partial');
    await mkdir(staging, { mode: 0o755 });
    return new DirImageDestination(reference, staging, compression);
  }

  supportedManifestMIMETypes(): undefined {
    return undefined;
  }

  supportsSignatures(): undefined {
    return undefined;
  }

  async putBlob(
    stream: Readable,
    info: { digest?: Digest; size: number },
    options: PutBlobOptions,
  ): Promise<BlobInfo> {
    const stored = await storeStream(
      stream,
      this.#staging,
      info,
      `writing blob to dir:${this.reference.path}`,
      options,
    );
    await rename(stored.path, join(this.#staging, digestFileName(stored.digest)));
    if (digestAlgorithm(stored.digest) !== 'sha256') this.#nonSha256 = true;
    return { digest: stored.digest, size: stored.size };
  }

  async tryReusingBlob(info: BlobInfo): Promise<BlobInfo | undefined> {
    const size = await existingBlobSize(join(this.#staging, digestFileName(info.digest)));
    return size === undefined ? undefined : { digest: info.digest, size };
  }

  async putManifest(manifest: Uint8Array, _mimeType: string, instanceDigest?: Digest): Promise<void> {
    await writeFile(join(this.#staging, manifestFileName(instanceDigest)), manifest, { mode: 0o644 });
  }

  async putSignatures(signatures: readonly Signature[], instanceDigest?: Digest): Promise<void> {
    for (const [i, sig] of signatures.entries()) {
      const blob = signatureToBlob(sig);
      if (blob.byteLength > MAX_SIGNATURE_SIZE)
        throw new LocalTransportError('TOO_LARGE', 'dir: signature too large');
      await writeFile(join(this.#staging, signatureFileName(i, instanceDigest)), blob, { mode: 0o644 });
    }
  }

  async commit(): Promise<void> {
    const version = this.#nonSha256 ? '1.2' : '1.1';
    await writeFile(join(this.#staging, 'version'), `${VERSION_PREFIX}${version}\n`, { mode: 0o644 });
    const target = this.reference.resolvedPath;
    await checkReplaceable(target);
    const old = tempSibling(target, 'old');
    let moved = false;
    try {
      await rename(target, old);
      moved = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      await rename(this.#staging, target);
    } catch (err) {
      if (moved) await rename(old, target);
      throw err;
    }
    this.#committed = true;
    if (moved) await rm(old, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    if (!this.#committed) await rm(this.#staging, { recursive: true, force: true });
  }
}
