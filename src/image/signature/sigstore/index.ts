// The sigstore/cosign module's public surface.

export {
  type AcceptedSigstoreBundle,
  ANNOTATION_BUNDLE_PREDICATE_TYPE,
  BUNDLE_MEDIA_TYPES,
  COSIGN_SIGN_PREDICATE_TYPE,
  isBundleMediaType,
  MAX_BUNDLE_BYTES,
  verifyDsseBundle,
  verifySigstoreBundle,
} from './bundle.ts';
export {
  COSIGN_SIGNATURE_ARTIFACT_TYPE,
  DIGEST_ONLY_REASON,
  type DiscoveredSignature,
  type DiscoveryOptions,
  type DiscoveryResult,
  discoverSigstoreSignature,
  readBlobCapped,
  referrerManifest,
  why,
} from './discovery.ts';
export { SigstoreError, type SigstoreErrorCode } from './errors.ts';
export {
  DSSE_ENVELOPE_MEDIA_TYPE,
  type DsseEnvelope,
  IN_TOTO_PAYLOAD_TYPE,
  type InTotoStatement,
  type InTotoSubject,
  MAX_STATEMENT_DEPTH,
  parseBoundedJson,
  parseDsseEnvelope,
  parseStatement,
  preAuthEncoding,
  requireInTotoPayload,
  subjectDigests,
} from './intoto.ts';
export { parsePublicKeyPem } from './keys.ts';
export { SIMPLE_SIGNING_MEDIA_TYPE, type SigstorePayload } from './payload.ts';
export {
  decryptPrivateKey,
  encryptPrivateKey,
  generateSigstoreKeyPair,
  type KeyPairFiles,
} from './privatekey.ts';
export {
  BUNDLE_V03_MEDIA_TYPE,
  loadSigstoreSigner,
  type ManifestSigner,
  type SignerOptions,
  type SigstoreSigner,
  sigstoreCopySigner,
  sigstoreSignerFromKey,
} from './signer.ts';
export {
  compileSigstoreTrust,
  type ReadFile,
  type SigstoreFulcioInput,
  type SigstorePkiInput,
  type SigstoreRequirementExtensions,
  type SigstoreRequirementInput,
  type SigstoreTrust,
  SigstoreTrustCache,
  type TrustCacheOptions,
  withSigstoreExtensions,
} from './trust.ts';
export {
  type AcceptedSigstoreSignature,
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_SIGNATURE,
  type SignerDescription,
  type SigstoreExpectations,
  verifyAttachmentSigner,
  verifySigstoreSignature,
} from './verify.ts';
