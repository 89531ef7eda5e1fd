// Read-only images made up on reading (sif:, tarball:): an OCI config and manifest built in memory
// over layer files on disk. Neither transport can be written to, deleted from or signed.
import { Readable } from 'node:stream';
import { type Digest, digestOf } from '../digest.ts';
import { OCI_CONFIG_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE } from '../manifest/index.ts';
import type {
  BlobInfo,
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  ManifestBytes,
  Signature,
  SystemContext,
} from '../types.ts';
import { LocalTransportError } from './errors.ts';
import { openBlobFile } from './files.ts';

export interface SynthesizedLayer {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  /** The file holding the layer's bytes, exactly as `digest` names them. */
  readonly path: string;
}

export interface SynthesizedImage {
  readonly reference: ImageReference;
  /** The config, serialized as upstream serializes it (its digest is part of the image's). */
  readonly config: Buffer;
  readonly layers: readonly SynthesizedLayer[];
  /** Whether getBlob may run concurrently (reading a file that is not being written). */
  readonly threadSafe: boolean;
  /** Removes what reading made (a work directory); run by close(). */
  readonly cleanup?: () => Promise<void>;
}

export class SynthesizedImageSource implements ImageSource {
  readonly reference: ImageReference;
  readonly hasThreadSafeGetBlob: boolean;
  readonly #name: string;
  readonly #config: Buffer;
  readonly #configDigest: Digest;
  readonly #manifest: Buffer;
  readonly #layers: ReadonlyMap<Digest, string>;
  readonly #cleanup: (() => Promise<void>) | undefined;

  constructor(image: SynthesizedImage) {
    this.reference = image.reference;
    this.hasThreadSafeGetBlob = image.threadSafe;
    this.#name = image.reference.transport.name;
    this.#config = image.config;
    this.#configDigest = digestOf(image.config);
    this.#manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        config: { mediaType: OCI_CONFIG_MEDIA_TYPE, digest: this.#configDigest, size: image.config.length },
        layers: image.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    );
    this.#layers = new Map(image.layers.map((l) => [l.digest, l.path]));
    this.#cleanup = image.cleanup;
  }

  async getManifest(instanceDigest?: Digest): Promise<ManifestBytes> {
    if (instanceDigest !== undefined) {
      throw new LocalTransportError('LISTS_NOT_SUPPORTED', `${this.#name}: manifest lists are not supported`);
    }
    return { manifest: this.#manifest, mimeType: OCI_MANIFEST_MEDIA_TYPE };
  }

  async getBlob(info: BlobInfo): Promise<{ stream: Readable; size: number }> {
    if (info.digest === this.#configDigest) {
      return { stream: Readable.from([this.#config], { objectMode: false }), size: this.#config.length };
    }
    const path = this.#layers.get(info.digest);
    if (path === undefined)
      throw new LocalTransportError('BLOB_NOT_FOUND', `${this.#name}: no blob ${info.digest}`);
    return openBlobFile(path, `${this.#name}: reading ${path}`);
  }

  async getSignatures(): Promise<Signature[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.#cleanup?.();
  }
}

/** A reference to a synthesized image: read-only, and never a docker reference. */
export abstract class SynthesizedImageReference implements ImageReference {
  abstract readonly transport: ImageTransport;
  abstract stringWithinTransport(): string;
  abstract policyConfigurationIdentity(): string;
  abstract policyConfigurationNamespaces(): string[];
  abstract newImageSource(ctx: SystemContext): Promise<ImageSource>;

  dockerReference(): undefined {
    return undefined;
  }

  async newImageDestination(_ctx: SystemContext): Promise<ImageDestination> {
    throw new LocalTransportError(
      'READ_ONLY',
      `${this.transport.name}: images can only be read from, not written to`,
    );
  }

  async deleteImage(_ctx: SystemContext): Promise<void> {
    throw new LocalTransportError(
      'NOT_SUPPORTED',
      `${this.transport.name}: deleting images is not supported`,
    );
  }
}
