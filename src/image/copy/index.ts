// The copy engine: what the CLI (and anything else that copies images) imports.
export { copyImage } from './copy.ts';
export { attachAttestation } from './referrers.ts';
export { isTemporary, withRetry } from './retry.ts';
export {
  type BlobKind,
  type BlobProgress,
  type CompressionFormat,
  CopyError,
  type CopyErrorCode,
  type CopyOptions,
  type CopyResult,
  type MultiArch,
  type ProgressSink,
  type ReferrerSigner,
  type SignatureCounts,
  type Signer,
  type SourcePolicy,
} from './types.ts';
