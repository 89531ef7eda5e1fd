// The Notation (Notary Project) module's public surface.

export { MAX_CBOR_DEPTH, MAX_CBOR_ITEMS } from './cbor.ts';
export {
  DEFAULT_MAX_NOTATION_SIGNATURES,
  discoverNotationSignature,
  NOTATION_ARTIFACT_TYPE,
  type NotationAttempt,
  type NotationDiscovery,
  type NotationDiscoveryOptions,
  notationReason,
} from './discovery.ts';
export {
  COSE_MEDIA_TYPE,
  type EnvelopeContent,
  JWS_MEDIA_TYPE,
  MAX_CHAIN_LENGTH,
  MAX_ENVELOPE_BYTES,
  PAYLOAD_MEDIA_TYPE,
} from './envelope.ts';
export { NotationError, type NotationErrorCode } from './errors.ts';
export { MAX_TIMESTAMP_TOKEN_BYTES } from './timestamp.ts';
export {
  type CompiledSettings,
  compileNotationSettings,
  compileNotationTrust,
  type NotationSettings,
  type NotationTrust,
  type NotationTrustInput,
  type OverridableCheck,
  type VerificationAction,
  type VerificationCheck,
  type VerificationLevel,
} from './trust.ts';
export {
  type AcceptedNotationSignature,
  type NotationTarget,
  verifyEnvelope,
  verifyNotationSignature,
} from './verify.ts';
