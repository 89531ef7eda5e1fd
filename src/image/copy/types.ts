// The copy engine's contracts with its callers: options, policy and signing hooks, progress.
import type { Digest } from '../digest.ts';
import { BaseError } from '../errors.ts';
import type { DockerReference } from '../reference/index.ts';
import type {
  BlobInfo,
  ImageReference,
  Signature,
  SystemContext,
  TagSnapshot,
  UnparsedImage,
} from '../types.ts';

export type CopyErrorCode =
  | 'SOURCE_REJECTED'
  | 'SIGNATURES_UNSUPPORTED'
  | 'DIGESTS_WOULD_CHANGE'
  | 'NESTED_LIST'
  | 'LISTS_UNSUPPORTED'
  | 'NO_MATCHING_INSTANCE'
  | 'MANIFEST_CONVERSION_FAILED'
  | 'COMPRESSION_UNSUPPORTED'
  | 'INSTANCE_DIGEST_MISMATCH'
  | 'SIGNING_FAILED'
  | 'NO_SIGNING_IDENTITY'
  | 'REFERRER_INVALID';

export class CopyError extends BaseError<CopyErrorCode> {}

/** The policy hook: called for every image before its blobs are read; throws to reject. */
export interface SourcePolicy {
  checkSource(image: UnparsedImage): Promise<void>;
}

/** A signing mechanism (GPG simple signing, sigstore) wired by the CLI. */
export interface Signer {
  sign(manifest: Uint8Array, dockerReference: DockerReference): Promise<Signature>;
}

/** Makes an artifact to attach as an OCI 1.1 referrer of each manifest written (a sigstore bundle). */
export interface ReferrerSigner {
  sign(
    manifest: Uint8Array,
    dockerReference: DockerReference,
  ): Promise<{ readonly artifactType: string; readonly payload: Uint8Array }>;
}

export type BlobKind = 'blob' | 'config';

/** Progress of one blob; `done` or `failed` ends it. */
export interface BlobProgress {
  advance(bytes: number): void;
  done(): void;
  failed(): void;
}

/** Where the engine reports what it does (TTY bars, skopeo-style lines, or nothing). */
export interface ProgressSink {
  blobStarted(kind: BlobKind, info: BlobInfo): BlobProgress;
  blobSkipped(kind: BlobKind, info: BlobInfo): void;
  message(line: string): void;
}

export type MultiArch = 'system' | 'all' | 'index-only';
export type CompressionFormat = 'gzip' | 'zstd';

export interface CopyOptions {
  readonly sourceCtx?: SystemContext;
  readonly destCtx?: SystemContext;
  readonly policy?: SourcePolicy;
  readonly signers?: readonly Signer[];
  /** Referrer artifacts (sigstore bundles) to attach to each manifest written. */
  readonly referrerSigners?: readonly ReferrerSigner[];
  /** Identity to sign for; default the destination's docker reference. */
  readonly signIdentity?: DockerReference;
  readonly removeSignatures?: boolean;
  /** Default 'system'. */
  readonly multiArch?: MultiArch;
  /** Convert to this manifest MIME type (`--format`). */
  readonly forceManifestMIMEType?: string;
  readonly preserveDigests?: boolean;
  /** Compression used when compressing layers (`--dest-compress-format`); default gzip. */
  readonly compressionFormat?: CompressionFormat;
  readonly compressionLevel?: number;
  /** Blobs copied at once when both ends allow it; default 6. */
  readonly parallelCopies?: number;
  readonly retryTimes?: number;
  readonly retryDelayMs?: number;
  readonly progress?: ProgressSink;
  /** Skip the copy when the destination already holds this manifest (sync). */
  readonly skipExisting?: boolean;
  /**
   * With skipExisting: the digest the destination holds without pulling it (a registry HEAD);
   * `{ digest: undefined }` when it holds nothing, undefined when this probe cannot tell.
   */
  readonly probeDestination?: (
    ref: ImageReference,
    ctx: SystemContext,
  ) => Promise<{ readonly digest: Digest | undefined } | undefined>;
  readonly signal?: AbortSignal;
  /**
   * The source repository's tags as just listed (sync): the source need not ask for signature or
   * referrer tags the listing lacks.
   */
  readonly sourceTags?: TagSnapshot;
  /**
   * The destination repository's tags as just listed (sync): with skipExisting, a tag the listing
   * lacks is not probed; a listing without tags tells the destination its blobs need no lookup.
   */
  readonly destinationTags?: TagSnapshot;
}

export interface CopyResult {
  /** The top-level manifest written (or found, when skipped). */
  readonly manifest: Uint8Array;
  readonly mimeType: string;
  readonly manifestDigest: Digest;
  readonly skipped: boolean;
  /** Signatures carried and made, over every image copied (none when skipped). */
  readonly signatures: SignatureCounts;
}

export interface SignatureCounts {
  /** Signatures read at the source and stored at the destination. */
  readonly copied: number;
  /** Signatures made by the copy's signers. */
  readonly created: number;
  /** OCI 1.1 referrer artifacts (sigstore bundles, attestations) copied. */
  readonly referrers: number;
  /** cosign `.att` attestations (DSSE envelopes) copied. */
  readonly attestations: number;
}
