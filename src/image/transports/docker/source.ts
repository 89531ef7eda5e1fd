// ImageSource for docker://: mirrors from registries.conf, verified manifests, verified blob
// streams, signatures from lookaside / the signature extension / sigstore attachments.
import type { Readable } from 'node:stream';
import type { Digest } from '../../digest.ts';
import type { DockerReference } from '../../reference/index.ts';
import { pullSources } from '../../registries/registries-conf.ts';
import type { SignatureStorage } from '../../registries/registries-d.ts';
import type {
  BlobInfo,
  CallOptions,
  ImageSource,
  ManifestBytes,
  ReferrerDescriptor,
  Signature,
  SignatureWants,
  SystemContext,
  TagSnapshot,
} from '../../types.ts';
import type { ManifestResult, RegistryClient } from './client.ts';
import { clientFor, type Environment, registriesConfFor, signatureStorage } from './context.ts';
import { DockerError } from './errors.ts';
import { referrersTag } from './referrers.ts';
import {
  MAX_LOOKASIDE_SIGNATURES,
  MAX_SIGNATURE_SIZE,
  readAttestationLayers,
  readLookaside,
  readSigstoreAttachments,
  sigstoreAttachmentTag,
} from './signatures.ts';
import type { DockerImageReference } from './transport.ts';

/**
 * A tag listing older than this no longer answers "no such tag": a signature pushed since may
 * be missing from it (a long sync keeps asking the registry for its later images).
 */
export const TAG_SNAPSHOT_MAX_AGE_MS = 60_000;

export class DockerImageSource implements ImageSource {
  readonly reference: DockerImageReference;
  readonly hasThreadSafeGetBlob = true;
  /** getBlob hashes every blob as it is read and fails the stream on a mismatch. */
  readonly verifiesBlobs = true;
  /** The reference actually read (after mirrors and rewrites). */
  readonly physicalRef: DockerReference;
  readonly client: RegistryClient;
  readonly #storage: SignatureStorage;
  readonly #ctx: SystemContext;
  #manifest: ManifestResult | undefined;
  #tags: TagSnapshot | undefined;

  constructor(
    reference: DockerImageReference,
    physicalRef: DockerReference,
    client: RegistryClient,
    storage: SignatureStorage,
    ctx: SystemContext,
    manifest: ManifestResult | undefined,
  ) {
    this.reference = reference;
    this.physicalRef = physicalRef;
    this.client = client;
    this.#storage = storage;
    this.#ctx = ctx;
    this.#manifest = manifest;
  }

  get #repo(): string {
    return this.physicalRef.path;
  }

  /** Only a listing of the repository actually read (not of one a mirror stands in for) counts. */
  useTagSnapshot(snapshot: TagSnapshot): void {
    if (snapshot.repository === this.physicalRef.name()) this.#tags = snapshot;
  }

  /** True when a fresh listing of this repository lacks `tag`. */
  #knownAbsent(tag: string): boolean {
    const s = this.#tags;
    return s !== undefined && Date.now() - s.listedAt <= TAG_SNAPSHOT_MAX_AGE_MS && !s.tags.has(tag);
  }

  async getManifest(instanceDigest?: Digest, call: CallOptions = {}): Promise<ManifestBytes> {
    if (instanceDigest !== undefined) {
      const m = await this.client.getManifest(this.#repo, instanceDigest, call);
      return { manifest: m.manifest, mimeType: m.mimeType };
    }
    if (this.#manifest === undefined) {
      this.#manifest = await this.client.getManifest(this.#repo, this.reference.tagOrDigest(), call);
    }
    return { manifest: this.#manifest.manifest, mimeType: this.#manifest.mimeType };
  }

  /** The digest of the top-level manifest (resolved from the tag when needed). */
  async manifestDigest(): Promise<Digest> {
    if (this.#manifest === undefined) await this.getManifest();
    return this.#manifest!.digest;
  }

  /** The stream is verified against `info.digest` (and `info.size` when known) as it is read. */
  async getBlob(info: BlobInfo, call: CallOptions = {}): Promise<{ stream: Readable; size: number }> {
    const { stream, size } = await this.client.getBlob(this.#repo, info.digest, {
      ...call,
      verify: {
        what: `blob ${info.digest} from ${this.physicalRef.name()}`,
        ...(info.size >= 0 ? { expectedSize: info.size } : {}),
      },
    });
    this.client.session.recordBlobLocation(this.physicalRef.domain, this.#repo, info.digest);
    return { stream, size: info.size >= 0 ? info.size : size };
  }

  async getSignatures(instanceDigest?: Digest, wants?: SignatureWants): Promise<Signature[]> {
    const digest = instanceDigest ?? (await this.manifestDigest());
    const what = `reading signatures of ${this.physicalRef.name()}@${digest}`;
    try {
      const out: Signature[] = [];
      let simple: Uint8Array[];
      if (await this.client.supportsSignatureExtension()) {
        simple = await this.client.extensionSignatures(
          this.#repo,
          digest,
          MAX_LOOKASIDE_SIGNATURES,
          MAX_SIGNATURE_SIZE,
        );
      } else if (this.#storage.lookaside !== undefined) {
        simple = await readLookaside(this.#storage.lookaside, this.physicalRef, digest, {
          agents: this.client.session.agents,
          tls: { verify: this.#ctx.tlsVerify ?? true },
        });
      } else simple = [];
      for (const blob of simple) out.push({ format: 'simple-signing', blob });
      if (
        this.#storage.useSigstoreAttachments &&
        wants?.sigstore !== false &&
        !this.#knownAbsent(sigstoreAttachmentTag(digest))
      ) {
        out.push(...(await readSigstoreAttachments(this.client, this.#repo, digest)));
      }
      return out;
    } catch (err) {
      if (err instanceof DockerError)
        throw new DockerError(err.code, `${what}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** cosign's `sha256-<hex>.att` attachment: its layers, unread. */
  async getAttestationLayers(digest: Digest): Promise<ReferrerDescriptor[]> {
    if (this.#knownAbsent(sigstoreAttachmentTag(digest, 'att'))) return [];
    try {
      return await readAttestationLayers(this.client, this.#repo, digest);
    } catch (err) {
      if (err instanceof DockerError)
        throw new DockerError(
          err.code,
          `reading attestations of ${this.physicalRef.name()}@${digest}: ${err.message}`,
          { cause: err },
        );
      throw err;
    }
  }

  /** OCI 1.1 referrers (or the `sha256-<hex>` tag schema on registries without the API). */
  listReferrers(
    digest: Digest,
    artifactType?: string,
    call: CallOptions = {},
  ): Promise<ReferrerDescriptor[]> {
    return this.client.listReferrers(this.#repo, digest, artifactType, undefined, {
      ...call,
      tagAbsent: this.#knownAbsent(referrersTag(digest)),
    });
  }

  /** Connections are pooled per registry session (session.ts); nothing is held per source. */
  async close(): Promise<void> {}
}

/**
 * Opens a source: tries each pull source (mirrors first) and keeps the first that serves the
 * manifest. The last failure is reported when none does.
 */
export async function openDockerSource(
  ref: DockerImageReference,
  ctx: SystemContext,
  environment: Environment,
): Promise<DockerImageSource> {
  if (ref.isUnknownDigest) {
    throw new DockerError(
      'REFERENCE_INVALID',
      `docker:${ref.stringWithinTransport()}: cannot read an image without a tag or digest`,
    );
  }
  const conf = await registriesConfFor(ctx, environment);
  const sources = pullSources(conf, ref.ref);
  const errors: unknown[] = [];
  for (const source of sources) {
    const client = await clientFor(
      ctx,
      source.reference,
      conf,
      source.insecure,
      environment,
      ref.transport.session,
    );
    // registries.d is read (and a broken one refused, as upstream does) while the manifest is on
    // its way; the catch only keeps a failed fetch from leaving its rejection unhandled.
    const storage = signatureStorage(ctx, source.reference, environment);
    storage.catch(() => {});
    try {
      const manifest = await client.getManifest(source.reference.path, ref.tagOrDigest());
      return new DockerImageSource(ref, source.reference, client, await storage, ctx, manifest);
    } catch (err) {
      errors.push(err);
    }
  }
  const last = errors[errors.length - 1];
  const prefix = `initializing source docker:${ref.stringWithinTransport()}`;
  if (last instanceof DockerError) {
    throw new DockerError(last.code, `${prefix}: ${last.message}`, {
      cause: errors.length > 1 ? new AggregateError(errors) : last,
    });
  }
  throw last instanceof Error
    ? new DockerError('NETWORK', `${prefix}: ${last.message}`, { cause: last })
    : new DockerError('NETWORK', prefix);
}
