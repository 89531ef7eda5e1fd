// The one entry other layers import from the image library.
export {
  type Digest,
  type DigestAlgorithm,
  DigestError,
  type DigestErrorCode,
  Digester,
  digestAlgorithm,
  digestHex,
  digestOf,
  isDigest,
  parseDigest,
  verifyingStream,
} from './digest.ts';
export { BaseError } from './errors.ts';
export * from './manifest/index.ts';
export * from './reference/index.ts';
export {
  imageName,
  TransportError,
  type TransportErrorCode,
  TransportRegistry,
} from './transports/registry.ts';
export type {
  BlobInfo,
  Credentials,
  ImageDestination,
  ImageReference,
  ImageSource,
  ImageTransport,
  LayerCompressionPreference,
  ManifestBytes,
  Platform,
  PutBlobOptions,
  ReferrerDescriptor,
  Signature,
  SystemContext,
  TryReuseOptions,
} from './types.ts';
