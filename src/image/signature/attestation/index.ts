// Attestations (in-toto statements in DSSE envelopes, signed with sigstore trust) and their
// judgement by CEL conditions: the engine of the sigstoreAttested requirement.
export {
  type ConditionResult,
  describeFailure,
  type ImageFacts,
  type JudgedAttestation,
  judgeAttestations,
} from './conditions.ts';
export {
  ANNOTATION_ATT_PREDICATE_TYPE,
  type AttestationDiscovery,
  type AttestationLocation,
  type AttestationRejection,
  describeLocation,
  discoverAttestations,
  type FoundAttestation,
  MAX_ATTESTATIONS_EXAMINED,
} from './discovery.ts';
export { ATTESTATION_TYPES, buildStatement, predicateTypeOf } from './statement.ts';
export {
  type AttestationExpectations,
  MAX_STATEMENT_BYTES,
  maxEnvelopeBytes,
  type VerifiedAttestation,
  verifyAttestationBundle,
  verifyAttestationLayer,
} from './verify.ts';
