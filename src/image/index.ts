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
  defaultAuthFilePath,
  removeCredentials,
  storeCredentials,
  storedUsername,
} from './registries/credentials.ts';
export { RegistriesError, type RegistriesErrorCode } from './registries/errors.ts';
export { isShortName } from './registries/short-names.ts';
export {
  type AcceptedSignature,
  type ClosableUnparsedImage,
  type DenialCode,
  describeEvaluatedInstance,
  type Explanation,
  evaluatedInstance,
  type ImagesToEvaluate,
  type InstanceOfList,
  type InstanceSelection,
  identityMatches,
  imagesToEvaluate,
  JsonError,
  type JsonErrorCode,
  type JsonLocation,
  KeyringCache,
  type LintWarning,
  lintPolicy,
  loadKeyring,
  type Policy,
  PolicyEvaluator,
  type PolicyEvaluatorOptions,
  type PolicyRequirement,
  type PolicyRequirements,
  parseJson,
  parsePayload,
  parsePolicy,
  parseRequirement,
  parseSignedIdentity,
  policyFilePaths,
  readPolicyFile,
  requirementsForImage,
  SIGSTORE_PAYLOAD_TYPE,
  SIGSTORE_SIGNATURE_MIME_TYPE,
  SignatureError,
  type SignatureErrorCode,
  type SignatureExpectations,
  type SignedIdentity,
  type SigstoreSignature,
  type SigstoreSignedRequirement,
  type SigstoreVerifier,
  sigstoreVerifier,
  type UnparsedImage,
  type UntrustedPayload,
  unparsedImageFromReference,
  type Verdict,
  VerificationCache,
} from './signature/index.ts';
export { compileNotationTrust, NotationError } from './signature/notation/index.ts';
export { parsePublicKeyPem } from './signature/sigstore/index.ts';
export { oneLine, truncate } from './text.ts';
export { allTransports } from './transports/all.ts';
export {
  checkDockerLogin,
  closeAllAgents,
  DockerError,
  type DockerErrorCode,
  DockerImageReference,
  DockerTransport,
  listDockerTags,
  onRequest,
  REQUEST_CHANNEL,
  type RequestEvent,
} from './transports/docker/index.ts';
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
  SignatureWants,
  SystemContext,
  TagSnapshot,
  TryReuseOptions,
} from './types.ts';
