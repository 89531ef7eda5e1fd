// The contracts between transports, the copy engine and the signature code. Interfaces only.
import type { Readable } from 'node:stream';
import type { Digest } from './digest.ts';
import type { DockerReference } from './reference/index.ts';

/** os/architecture/variant as in OCI image indexes; unset fields mean "this machine's". */
export interface Platform {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Settings that reach transports from the caller (CLI flags, webhook configuration). Every field
 * is optional; each transport documents its default for what it reads.
 */
export interface SystemContext {
  /** auth.json / Docker config.json path; default: the standard locations. */
  readonly authFilePath?: string;
  /** Explicit credentials (`--creds`); win over any auth file. */
  readonly credentials?: Credentials;
  /** A bearer token to use as is (`--registry-token`). */
  readonly registryToken?: string;
  /** The contents of a Kubernetes `.dockerconfigjson` (pull secrets), consulted before auth files. */
  readonly dockerConfigJson?: readonly string[];
  /** Never send credentials (`--no-creds`). */
  readonly noCredentials?: boolean;
  /** false = skip TLS verification and allow plain HTTP (`--tls-verify=false`); default true. */
  readonly tlsVerify?: boolean;
  /** A certs.d-style directory with *.crt (CAs), *.cert/*.key (client) for the registry. */
  readonly certDir?: string;
  /** registries.conf path; default: $CONTAINERS_REGISTRIES_CONF or the standard locations. */
  readonly registriesConfPath?: string;
  /** registries.d directory; default: the standard locations. */
  readonly registriesDirPath?: string;
  readonly userAgent?: string;
  /** Platform to choose from multi-arch images; default: this machine's. */
  readonly platform?: Platform;
  /** Where temporary files go; default os.tmpdir(). */
  readonly tmpDir?: string;
  /** Cancels network and file work in progress. */
  readonly signal?: AbortSignal;
  /**
   * When the caller stops waiting (a performance.now() time): registry waits (retries,
   * Retry-After, request budgets) that would end later fail at once with a temporary error.
   */
  readonly deadline?: number;
  /** dir: transport: compress / decompress layers when writing. */
  readonly dirForceCompress?: boolean;
  readonly dirForceDecompress?: boolean;
  /** oci:/oci-archive: destinations keep uncompressed layers instead of compressing them. */
  readonly ociAcceptUncompressedLayers?: boolean;
  /** oci: transport: a blob directory shared between layouts. */
  readonly ociSharedBlobDir?: string;
  /** docker-archive: extra RepoTags to write. */
  readonly dockerArchiveAdditionalTags?: readonly DockerReference[];
}

/**
 * How long one read of an image source may take, on top of the SystemContext's signal and
 * deadline it was opened with: it stops when either signal aborts, at the earlier deadline, and
 * the source stays usable. Sources that read over a network honour it; local ones may ignore it.
 */
export interface CallOptions {
  /** Aborts this operation only (a stream it returned is destroyed too). */
  readonly signal?: AbortSignal;
  /** When the caller stops waiting for this operation (a performance.now() time), as SystemContext.deadline. */
  readonly deadline?: number;
}

/** A blob as manifests describe it. `size` is -1 when unknown. */
export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly urls?: readonly string[];
}

/** An artifact that refers to an image (OCI 1.1 `subject`), as the referrers API lists it. */
export interface ReferrerDescriptor extends BlobInfo {
  readonly mediaType: string;
  readonly artifactType?: string;
}

/** A signature as stored by any transport (containers/image's internal signature model). */
export type Signature =
  | { readonly format: 'simple-signing'; readonly blob: Uint8Array }
  | {
      readonly format: 'sigstore-json';
      readonly mimeType: string;
      readonly payload: Uint8Array;
      readonly annotations: Readonly<Record<string, string>>;
    };

/**
 * Every tag of one repository as listed at `listedAt` (sync lists them anyway): a source reading
 * that repository may take a tag missing from it as absent instead of asking the registry.
 */
export interface TagSnapshot {
  /** The repository listed, as `DockerReference.name()` spells it. */
  readonly repository: string;
  readonly tags: ReadonlySet<string>;
  /** Date.now() when the listing started. */
  readonly listedAt: number;
}

export interface ManifestBytes {
  readonly manifest: Uint8Array;
  readonly mimeType: string;
}

export interface ImageTransport {
  readonly name: string;
  /** Parses what follows `name:` in an image name; throws a typed error on invalid input. */
  parseReference(details: string): ImageReference;
  /** Throws when `scope` cannot be a policy.json scope key for this transport. */
  validatePolicyConfigurationScope(scope: string): void;
}

export interface ImageReference {
  readonly transport: ImageTransport;
  /** What `transport.parseReference` accepts to give back an equivalent reference. */
  stringWithinTransport(): string;
  /** The docker reference the image is known by (signature identities), if any. */
  dockerReference(): DockerReference | undefined;
  /** The most specific policy scope; "" when the transport has only the transport-wide scope. */
  policyConfigurationIdentity(): string;
  /** Less specific policy scopes, most specific first. */
  policyConfigurationNamespaces(): string[];
  /** Close MUST be called on the result. */
  newImageSource(ctx: SystemContext): Promise<ImageSource>;
  /** Close MUST be called on the result; nothing is visible at the destination before commit. */
  newImageDestination(ctx: SystemContext): Promise<ImageDestination>;
  deleteImage(ctx: SystemContext): Promise<void>;
}

/** Which signatures a reader will look at (ImageSource.getSignatures). */
export interface SignatureWants {
  /**
   * false: no sigstore signature will be checked (a policy of signedBy requirements only), so a
   * registry's `sha256-<hex>.sig` attachments need not be fetched, as upstream never fetches them
   * unless registries.d asks. Default true.
   */
  readonly sigstore?: boolean;
}

export interface ImageSource {
  readonly reference: ImageReference;
  /** True when getBlob may be called concurrently. */
  readonly hasThreadSafeGetBlob: boolean;
  /**
   * True when getBlob's stream itself fails with DIGEST_MISMATCH unless the bytes match the
   * requested digest (and size, when known), so callers need not hash it a second time.
   */
  readonly verifiesBlobs?: boolean;
  /**
   * The manifest of the image, or of one instance of a list when `instanceDigest` is set.
   * Sources for digest references verify the bytes against the digest.
   */
  getManifest(instanceDigest?: Digest, call?: CallOptions): Promise<ManifestBytes>;
  /**
   * Optional: the top-level manifest's digest without transferring it (a registry HEAD), so
   * `sync` can skip images already present without counting as a pull.
   */
  getManifestDigest?(): Promise<Digest>;
  /**
   * A stream of the blob's bytes. The caller must verify the digest (see verifyingStream).
   * `call` bounds the whole read: its abort also fails the stream.
   */
  getBlob(info: BlobInfo, call?: CallOptions): Promise<{ readonly stream: Readable; readonly size: number }>;
  /**
   * The signatures of the image (or of an instance); empty when there are none. `wants` says which
   * the caller will look at, so a source may skip fetching the others.
   */
  getSignatures(instanceDigest?: Digest, wants?: SignatureWants): Promise<Signature[]>;
  /**
   * Optional: artifacts whose `subject` is `digest` (OCI referrers API or its tag-schema
   * fallback), filtered by `artifactType` when given; a bounded list, empty when there are none.
   */
  listReferrers?(digest: Digest, artifactType?: string, call?: CallOptions): Promise<ReferrerDescriptor[]>;
  /**
   * Optional: the layers of cosign's attestation attachment of `digest` (the `sha256-<hex>.att`
   * manifest: one DSSE envelope per layer), unread, with their annotations; empty when there is
   * none. Their blobs are read with getBlob, bounded by the caller.
   */
  getAttestationLayers?(digest: Digest): Promise<ReferrerDescriptor[]>;
  /**
   * Optional: a hint that `snapshot` lists the tags of the source's repository; a source that
   * reads tags beside the image (signature and referrer tags) may skip those the snapshot lacks.
   * Ignored when it names another repository.
   */
  useTagSnapshot?(snapshot: TagSnapshot): void;
  /** Releases connections and temporary files. */
  close(): Promise<void>;
}

export type LayerCompressionPreference = 'preserve' | 'compress' | 'decompress';

export interface PutBlobOptions {
  /** True for config blobs, which are never compressed or substituted. */
  readonly isConfig: boolean;
  /**
   * True when the stream itself fails with DIGEST_MISMATCH unless its bytes match `info.digest`
   * and `info.size` (the copy engine's verifyingStream), so the destination need not hash again.
   */
  readonly streamVerified?: boolean;
}

export interface TryReuseOptions {
  /** May the destination return a different (e.g. differently compressed) blob with equal contents? */
  readonly canSubstitute: boolean;
}

export interface ImageDestination {
  readonly reference: ImageReference;
  /** MIME types accepted, preferred first; undefined = any. */
  supportedManifestMIMETypes(): readonly string[] | undefined;
  /** undefined when signatures can be stored, else the reason they cannot. */
  supportsSignatures(): string | undefined;
  readonly desiredLayerCompression: LayerCompressionPreference;
  readonly acceptsForeignLayerURLs: boolean;
  /** True when putBlob may be called concurrently. */
  readonly hasThreadSafePutBlob: boolean;
  /**
   * Optional: destinations with the same scope store blobs in one place (a registry repository).
   * The copy engine then copies a blob there once at a time: concurrent copies of it wait for that
   * one instead of uploading it beside it.
   */
  readonly blobScope?: string;
  /** Whether manifest lists/indexes can be written. */
  readonly supportsManifestLists: boolean;
  /**
   * Stores a blob read from `stream`. `info.digest`, when known, is verified; `info.size` may be -1.
   * Returns the stored blob's digest and size.
   */
  putBlob(
    stream: Readable,
    info: { digest?: Digest; size: number },
    options: PutBlobOptions,
  ): Promise<BlobInfo>;
  /** The blob if the destination already has it (or can mount it); undefined otherwise. */
  tryReusingBlob(info: BlobInfo, options: TryReuseOptions): Promise<BlobInfo | undefined>;
  /** Writes the manifest; with `instanceDigest`, as an instance of a list written later. */
  putManifest(manifest: Uint8Array, mimeType: string, instanceDigest?: Digest): Promise<void>;
  putSignatures(signatures: readonly Signature[], instanceDigest?: Digest): Promise<void>;
  /**
   * Optional: stores an artifact manifest whose `subject` is `subject` (its blobs already put)
   * under its digest, and lists it among the referrers of `subject` (through the registry's
   * referrers API, or the `sha256-<hex>` tag-schema index where the registry has none).
   */
  putReferrer?(manifest: Uint8Array, descriptor: ReferrerDescriptor, subject: Digest): Promise<void>;
  /**
   * Optional: adds `layers` (DSSE envelopes, their blobs already put) to cosign's attestation
   * attachment of `digest` (`sha256-<hex>.att`), keeping the layers already there.
   */
  putAttestationLayers?(layers: readonly ReferrerDescriptor[], digest: Digest): Promise<void>;
  /**
   * Optional: a hint that `snapshot` lists the tags of the destination's repository (a listing
   * with none: blobs are not worth looking for there). Ignored when it names another repository.
   */
  useTagSnapshot?(snapshot: TagSnapshot): void;
  /** Makes the image visible (tags, index entries, archive rename). Nothing is visible before. */
  commit(): Promise<void>;
  /** Releases resources; an uncommitted destination leaves nothing behind. */
  close(): Promise<void>;
}

/**
 * An image as trust policy sees it before anything else is read (upstream UnparsedImage): what
 * evaluation and the copy engine's policy check need; each getter is called at most once, lazily.
 */
export interface UnparsedImage {
  readonly reference: ImageReference;
  manifest(): Promise<ManifestBytes>;
  signatures(wants?: SignatureWants): Promise<Signature[]>;
  /**
   * Optional: the source whose OCI 1.1 referrers may hold sigstore signatures (bundles, cosign
   * oci-1-1 signatures); undefined when the transport cannot list referrers. Asked at most once,
   * only by a sigstoreSigned requirement that signatures() did not satisfy.
   */
  referrerSource?(): Promise<ImageSource | undefined>;
  /** Set when this image is an instance of a manifest list, chosen from it for a platform. */
  readonly instance?: InstanceOfList;
}

/** Where an evaluated instance came from; its manifest() and signatures() are the instance's own. */
export interface InstanceOfList {
  /** The platform the instance was chosen for, `os/arch[/variant]`. */
  readonly platform: string;
  readonly digest: Digest;
  /** The list (index) the reference names, which lists `digest`. */
  readonly list: {
    readonly digest: Digest;
    manifest(): Promise<ManifestBytes>;
    signatures(wants?: SignatureWants): Promise<Signature[]>;
  };
}
