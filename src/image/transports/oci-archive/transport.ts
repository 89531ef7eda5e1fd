// oci-archive: a tar of an OCI layout; read by extracting it (path-safely) to a temp directory,
// written as a layout in a temp directory that is packed and renamed into place on commit.
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { extractTar } from '../../archive/extract.ts';
import { packDirectory } from '../../archive/pack.ts';
import { TarError } from '../../archive/tar.ts';
import type { Digest } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import { tempSibling } from '../../local/files.ts';
import {
  layoutStringWithinTransport,
  OciLayoutDestination,
  OciLayoutSource,
  parseLayoutReference,
} from '../../local/oci-layout.ts';
import {
  resolvePathToFullyExplicit,
  selfAndParentDirectories,
  validateAbsolutePathScope,
} from '../../local/paths.ts';
import type {
  BlobInfo,
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  LayerCompressionPreference,
  ManifestBytes,
  PutBlobOptions,
  Signature,
  SystemContext,
} from '../../types.ts';

export const ociArchiveTransport: ImageTransport = {
  name: 'oci-archive',
  parseReference(details: string): ImageReference {
    const { path, image, sourceIndex } = parseLayoutReference('oci-archive', details);
    if (sourceIndex >= 0) {
      throw new LocalTransportError(
        'REFERENCE_INVALID',
        `invalid image @${sourceIndex}: oci-archive: has no source indexes`,
      );
    }
    return new OciArchiveReference(path, image);
  },
  validatePolicyConfigurationScope: validateAbsolutePathScope,
};

async function tempDir(ctx: SystemContext): Promise<string> {
  return mkdtemp(join(ctx.tmpDir ?? tmpdir(), 'portcullis-oci-archive-'));
}

export class OciArchiveReference implements ImageReference {
  readonly transport = ociArchiveTransport;
  readonly file: string;
  readonly resolvedFile: string;
  readonly image: string;

  constructor(file: string, image: string) {
    this.file = file;
    this.resolvedFile = resolvePathToFullyExplicit(file);
    this.image = image;
  }

  stringWithinTransport(): string {
    return layoutStringWithinTransport(this.file, this.image, -1);
  }

  dockerReference(): undefined {
    return undefined;
  }

  policyConfigurationIdentity(): string {
    return this.resolvedFile;
  }

  policyConfigurationNamespaces(): string[] {
    return selfAndParentDirectories(this.resolvedFile);
  }

  async newImageSource(ctx: SystemContext): Promise<ImageSource> {
    const dir = await tempDir(ctx);
    try {
      // Opened before extraction starts: a stream created here would report a missing file as an
      // 'error' event while extractTar is still setting up, with nobody listening yet.
      const archive = (await open(this.resolvedFile)).createReadStream();
      try {
        await extractTar(archive, dir);
      } finally {
        archive.destroy();
      }
      return new TempLayoutSource(await OciLayoutSource.open(this, dir, this.image, -1), dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      const what = `oci-archive:${this.file}`;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new LocalTransportError('IMAGE_NOT_FOUND', `${what}: no such file`, { cause: err });
      }
      if (err instanceof TarError) {
        throw new LocalTransportError('CORRUPT_IMAGE', `${what}: untarring: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  async newImageDestination(ctx: SystemContext): Promise<ImageDestination> {
    const dir = await tempDir(ctx);
    try {
      return new ArchiveLayoutDestination(
        this,
        await OciLayoutDestination.open(this, dir, this.image, { ...ctx, ociSharedBlobDir: undefined }),
        dir,
      );
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async deleteImage(_ctx: SystemContext): Promise<void> {
    throw new LocalTransportError('NOT_SUPPORTED', 'deleting images not implemented for oci-archive: images');
  }
}

/** A layout source over an extracted archive; close removes the extraction. */
class TempLayoutSource implements ImageSource {
  readonly reference: ImageReference;
  readonly hasThreadSafeGetBlob = true;
  readonly #inner: OciLayoutSource;
  readonly #dir: string;

  constructor(inner: OciLayoutSource, dir: string) {
    this.reference = inner.reference;
    this.#inner = inner;
    this.#dir = dir;
  }

  getManifest(instanceDigest?: Digest): Promise<ManifestBytes> {
    return this.#inner.getManifest(instanceDigest);
  }

  getBlob(info: BlobInfo): Promise<{ stream: Readable; size: number }> {
    return this.#inner.getBlob(info);
  }

  getSignatures(): Promise<Signature[]> {
    return this.#inner.getSignatures();
  }

  async close(): Promise<void> {
    await this.#inner.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

class ArchiveLayoutDestination implements ImageDestination {
  readonly reference: OciArchiveReference;
  readonly desiredLayerCompression: LayerCompressionPreference;
  readonly acceptsForeignLayerURLs: boolean;
  readonly hasThreadSafePutBlob: boolean;
  readonly supportsManifestLists: boolean;
  readonly #inner: OciLayoutDestination;
  readonly #dir: string;

  constructor(reference: OciArchiveReference, inner: OciLayoutDestination, dir: string) {
    this.reference = reference;
    this.#inner = inner;
    this.#dir = dir;
    this.desiredLayerCompression = inner.desiredLayerCompression;
    this.acceptsForeignLayerURLs = inner.acceptsForeignLayerURLs;
    this.hasThreadSafePutBlob = inner.hasThreadSafePutBlob;
    this.supportsManifestLists = inner.supportsManifestLists;
  }

  supportedManifestMIMETypes(): readonly string[] {
    return this.#inner.supportedManifestMIMETypes();
  }

  supportsSignatures(): string {
    return this.#inner.supportsSignatures();
  }

  putBlob(
    stream: Readable,
    info: { digest?: Digest; size: number },
    options: PutBlobOptions,
  ): Promise<BlobInfo> {
    return this.#inner.putBlob(stream, info, options);
  }

  tryReusingBlob(info: BlobInfo): Promise<BlobInfo | undefined> {
    return this.#inner.tryReusingBlob(info);
  }

  putManifest(manifest: Uint8Array, mimeType: string, instanceDigest?: Digest): Promise<void> {
    return this.#inner.putManifest(manifest, mimeType, instanceDigest);
  }

  putSignatures(signatures: readonly Signature[]): Promise<void> {
    return this.#inner.putSignatures(signatures);
  }

  async commit(): Promise<void> {
    await this.#inner.commit();
    const temp = tempSibling(this.reference.resolvedFile, 'partial');
    try {
      await packDirectory(this.#dir, temp);
      await rename(temp, this.reference.resolvedFile);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.#inner.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}
