// ImageDestination for docker://, and image deletion.
import type { Readable } from 'node:stream';
import type { Digest } from '../../digest.ts';
import { manifestDigest } from '../../manifest/index.ts';
import type { DockerReference } from '../../reference/index.ts';
import { pushDestination } from '../../registries/registries-conf.ts';
import type { SignatureStorage } from '../../registries/registries-d.ts';
import type {
  BlobInfo,
  ImageDestination,
  PutBlobOptions,
  ReferrerDescriptor,
  Signature,
  SystemContext,
  TagSnapshot,
  TryReuseOptions,
} from '../../types.ts';
import type { RegistryClient } from './client.ts';
import { clientFor, type Environment, registriesConfFor, signatureStorage } from './context.ts';
import { DockerError } from './errors.ts';
import { putReferrer } from './referrers.ts';
import {
  deleteLookaside,
  writeAttachmentLayers,
  writeLookaside,
  writeSigstoreAttachments,
} from './signatures.ts';
import type { DockerImageReference } from './transport.ts';

const SUPPORTED_MANIFESTS = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

export class DockerImageDestination implements ImageDestination {
  readonly reference: DockerImageReference;
  readonly physicalRef: DockerReference;
  readonly client: RegistryClient;
  readonly desiredLayerCompression = 'compress' as const;
  readonly acceptsForeignLayerURLs = true;
  readonly hasThreadSafePutBlob = true;
  readonly supportsManifestLists = true;
  /**
   * The repository writes go to: copies to it share their blob uploads (Distribution rewrites a
   * blob's link in place on each upload, and a manifest PUT reading it then fails).
   */
  readonly blobScope: string;
  readonly #storage: SignatureStorage;
  /** Digest of the last top-level manifest written (signatures and commit need it). */
  #manifestDigest: Digest | undefined;
  /**
   * The tag commit points at the manifest. Until then the manifest is stored by digest only, and
   * only once signatures or referrers need it there; otherwise commit's tag PUT is the one write.
   */
  #pendingTag: { tag: string; manifest: Uint8Array; mimeType: string; stored: boolean } | undefined;

  /** The repository had no tags when sync listed it: only blobs this process put there are looked for. */
  #untagged = false;

  constructor(
    reference: DockerImageReference,
    physicalRef: DockerReference,
    client: RegistryClient,
    storage: SignatureStorage,
  ) {
    this.reference = reference;
    this.physicalRef = physicalRef;
    this.client = client;
    this.#storage = storage;
    this.blobScope = physicalRef.name();
  }

  get #repo(): string {
    return this.physicalRef.path;
  }

  supportedManifestMIMETypes(): readonly string[] {
    return SUPPORTED_MANIFESTS;
  }

  supportsSignatures(): string | undefined {
    return undefined;
  }

  async putBlob(
    stream: Readable,
    info: { digest?: Digest; size: number },
    options: PutBlobOptions,
  ): Promise<BlobInfo> {
    try {
      const stored = await this.client.putBlob(this.#repo, stream, info.digest, info.size, {
        streamVerified: options.streamVerified === true,
      });
      this.client.session.recordBlobLocation(this.physicalRef.domain, this.#repo, stored.digest);
      return { digest: stored.digest, size: stored.size };
    } catch (err) {
      stream.destroy();
      if (err instanceof DockerError) {
        throw new DockerError(err.code, `writing blob to ${this.physicalRef.name()}: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  useTagSnapshot(snapshot: TagSnapshot): void {
    if (snapshot.repository === this.physicalRef.name() && snapshot.tags.size === 0) this.#untagged = true;
  }

  /**
   * HEAD in this repository, then cross-repository mounts from repositories known to hold it. A
   * repository without tags (a new one, typically) holds at most what this process put there:
   * other blobs are not asked for (one that is there after all is uploaded again, harmlessly).
   */
  async tryReusingBlob(info: BlobInfo, _options: TryReuseOptions): Promise<BlobInfo | undefined> {
    const known = this.client.session.knownBlobLocations(this.physicalRef.domain, info.digest);
    if (!this.#untagged || known.includes(this.#repo)) {
      const size = await this.client.headBlob(this.#repo, info.digest);
      if (size !== undefined) return { digest: info.digest, size: size >= 0 ? size : info.size };
    }
    for (const from of known) {
      if (from === this.#repo) continue;
      if (await this.client.mountBlob(this.#repo, from, info.digest)) {
        this.client.session.recordBlobLocation(this.physicalRef.domain, this.#repo, info.digest);
        return { digest: info.digest, size: info.size };
      }
    }
    return undefined;
  }

  async putManifest(manifest: Uint8Array, mimeType: string, instanceDigest?: Digest): Promise<void> {
    const digest = manifestDigest(manifest);
    let target: string;
    if (instanceDigest !== undefined) target = instanceDigest;
    else if (this.reference.isUnknownDigest) target = digest;
    else {
      const refDigest = this.reference.digest();
      if (refDigest !== undefined && refDigest !== digest) {
        throw new DockerError(
          'DIGEST_MISMATCH',
          `writing manifest to ${this.physicalRef.toString()}: manifest digest ${digest} does not match the reference`,
        );
      }
      target = this.reference.tagOrDigest();
      // Nothing half-copied may carry the tag: it is written in commit, after signatures and referrers.
      if (refDigest === undefined) {
        this.#pendingTag = { tag: target, manifest, mimeType, stored: false };
        this.#manifestDigest = digest;
        return;
      }
    }
    if (target === digest) await this.#putManifestByDigest(digest, manifest, mimeType);
    else await this.#putManifest(target, manifest, mimeType);
    if (instanceDigest === undefined) this.#manifestDigest = digest;
  }

  /** Stores the manifest under its digest unless this process has (or is) already. */
  async #putManifestByDigest(digest: Digest, manifest: Uint8Array, mimeType: string): Promise<void> {
    const key = `${this.blobScope}@${digest}`;
    const { session } = this.client;
    if (session.storedManifests.get(key) !== undefined) return;
    await session.manifestWrites.run(key, async () => {
      await this.#putManifest(digest, manifest, mimeType);
      session.storedManifests.set(key, true);
    });
  }

  /** Stores the manifest awaiting its tag by digest, for what refers to it before commit. */
  async #storePending(): Promise<void> {
    const pending = this.#pendingTag;
    if (pending === undefined || pending.stored) return;
    await this.#putManifestByDigest(this.#manifestDigest!, pending.manifest, pending.mimeType);
    pending.stored = true;
  }

  async #putManifest(target: string, manifest: Uint8Array, mimeType: string): Promise<void> {
    try {
      await this.client.putManifest(this.#repo, target, manifest, mimeType);
    } catch (err) {
      if (err instanceof DockerError) {
        throw new DockerError(err.code, `writing manifest to ${this.physicalRef.name()}: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async putReferrer(manifest: Uint8Array, descriptor: ReferrerDescriptor, subject: Digest): Promise<void> {
    await this.#storePending();
    try {
      await this.client.session.attachmentWrites.run(`${this.blobScope}@${subject}`, () =>
        putReferrer(this.client, this.#repo, manifest, descriptor, subject),
      );
    } catch (err) {
      if (err instanceof DockerError) {
        throw new DockerError(
          err.code,
          `writing referrer ${descriptor.digest} of ${subject} to ${this.physicalRef.name()}: ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  async putAttestationLayers(layers: readonly ReferrerDescriptor[], digest: Digest): Promise<void> {
    await this.#storePending();
    const added = layers.map((l) => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      annotations: { ...l.annotations },
    }));
    try {
      await this.client.session.attachmentWrites.run(`${this.blobScope}@${digest}`, () =>
        writeAttachmentLayers(this.client, this.#repo, digest, 'att', added),
      );
    } catch (err) {
      if (err instanceof DockerError) {
        throw new DockerError(
          err.code,
          `writing attestations of ${digest} to ${this.physicalRef.name()}: ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  async putSignatures(signatures: readonly Signature[], instanceDigest?: Digest): Promise<void> {
    const digest = instanceDigest ?? this.#manifestDigest;
    if (digest === undefined) {
      throw new DockerError(
        'OPERATION_NOT_POSSIBLE',
        `writing signatures to ${this.physicalRef.name()}: the manifest must be written first`,
      );
    }
    await this.#storePending();
    await this.client.session.attachmentWrites.run(`${this.blobScope}@${digest}`, () =>
      this.#writeSignatures(signatures, digest),
    );
  }

  async #writeSignatures(signatures: readonly Signature[], digest: Digest): Promise<void> {
    const simple: Uint8Array[] = [];
    const sigstore: Extract<Signature, { format: 'sigstore-json' }>[] = [];
    for (const s of signatures) {
      switch (s.format) {
        case 'simple-signing':
          simple.push(s.blob);
          break;
        case 'sigstore-json':
          sigstore.push(s);
          break;
        default:
          throw new DockerError(
            'OPERATION_NOT_POSSIBLE',
            `writing signatures: unknown format ${JSON.stringify((s as { format: unknown }).format)}`,
          );
      }
    }
    if (simple.length > 0) {
      // As upstream: the registry's own signature store wins over a configured lookaside.
      if (await this.client.supportsSignatureExtension()) {
        await this.client.putExtensionSignatures(this.#repo, digest, simple);
      } else if (this.#storage.lookasideWrite !== undefined) {
        await writeLookaside(this.#storage.lookasideWrite, this.physicalRef, digest, simple);
      } else {
        throw new DockerError(
          'OPERATION_NOT_POSSIBLE',
          `writing signatures to ${this.physicalRef.name()}: no lookaside configured in registries.d`,
        );
      }
    }
    if (sigstore.length > 0) {
      if (!this.#storage.useSigstoreAttachments) {
        throw new DockerError(
          'OPERATION_NOT_POSSIBLE',
          `writing signatures to ${this.physicalRef.name()}: use-sigstore-attachments is disabled in registries.d`,
        );
      }
      await writeSigstoreAttachments(this.client, this.#repo, digest, sigstore);
    }
  }

  /** Tags the manifest (writing it, when nothing stored it by digest before). */
  async commit(): Promise<void> {
    const pending = this.#pendingTag;
    if (pending === undefined) return;
    await this.#putManifest(pending.tag, pending.manifest, pending.mimeType);
    this.#pendingTag = undefined;
  }

  async close(): Promise<void> {}
}

/** Where writes to `ref` go (registries.conf may redirect them), and a client for it. */
async function pushTarget(ref: DockerImageReference, ctx: SystemContext, environment: Environment) {
  const conf = await registriesConfFor(ctx, environment);
  const target = pushDestination(conf, ref.ref);
  const { session } = ref.transport;
  const client = await clientFor(ctx, target.reference, conf, target.insecure, environment, session);
  return { reference: target.reference, client };
}

export async function openDockerDestination(
  ref: DockerImageReference,
  ctx: SystemContext,
  environment: Environment,
): Promise<DockerImageDestination> {
  const { reference, client } = await pushTarget(ref, ctx, environment);
  const storage = await signatureStorage(ctx, reference, environment);
  return new DockerImageDestination(ref, reference, client, storage);
}

/** Deletes the manifest (by its digest, resolved from a tag if needed) and its lookaside signatures. */
export async function deleteDockerImage(
  ref: DockerImageReference,
  ctx: SystemContext,
  environment: Environment,
): Promise<void> {
  const { reference, client } = await pushTarget(ref, ctx, environment);
  const what = `deleting docker:${ref.stringWithinTransport()}`;
  try {
    const digest = (await client.getManifest(reference.path, ref.tagOrDigest())).digest;
    await client.deleteManifest(reference.path, digest);
    client.session.storedManifests.delete(`${reference.name()}@${digest}`);
    const storage = await signatureStorage(ctx, reference, environment);
    if (storage.lookasideWrite !== undefined)
      await deleteLookaside(storage.lookasideWrite, reference, digest);
  } catch (err) {
    if (err instanceof DockerError)
      throw new DockerError(err.code, `${what}: ${err.message}`, { cause: err });
    throw err;
  }
}
