// The signature layer: policy.json model, strict parser, evaluation, simple signing.
export type { InstanceOfList, UnparsedImage } from '../types.ts';
export { SignatureError, type SignatureErrorCode } from './errors.ts';
export {
  type DenialCode,
  describeEvaluatedInstance,
  type EvaluatedInstance,
  type Explanation,
  evaluatedInstance,
  type PolicyDecision,
  PolicyEvaluator,
  type PolicyEvaluatorOptions,
  type RequirementResult,
  type SignatureAttempt,
} from './evaluate.ts';
export {
  type GpgKeyring,
  type GpgSecretKeyring,
  loadKeyring,
  loadSecretKeyring,
  MAX_SIGNATURE_BYTES,
  signBlob,
} from './gpg/openpgp.ts';
export { identityMatches, identityTypes, parseSignedIdentity } from './identity.ts';
export * from './json.ts';
export { enclosingScopes, type LintCode, type LintWarning, lintPolicy } from './lint.ts';
export {
  MAX_PAYLOAD_BYTES,
  type PayloadType,
  parsePayload,
  SIGSTORE_PAYLOAD_TYPE,
  SIMPLE_SIGNING_TYPE,
  serializePayload,
  type UntrustedPayload,
} from './payload.ts';
export { type PolicyParseOptions, parsePolicy, readPolicyFile } from './policy-parse.ts';
export type * from './policy-types.ts';
export {
  decidedByPolicyAlone,
  parseRequirement,
  policyFilePaths,
  type RequirementTypes,
  requirementType,
  requirementTypes,
  verifiesSignatures,
} from './requirements/index.ts';
export type { SignatureExpectations } from './requirements/signatures.ts';
export {
  type ReferrerVerification,
  SIGSTORE_SIGNATURE_MIME_TYPE,
  type SigstoreSignature,
  type SigstoreVerifier,
} from './requirements/sigstore-signed.ts';
export type * from './requirements/types.ts';
export { requirementsForImage, type ScopeMatch } from './scope.ts';
export {
  knownScopeValidators,
  type ScopeValidator,
  scopeValidatorFor,
  type TransportLookup,
} from './scope-validation.ts';
export { sigstoreRequirementInput, sigstoreVerifier } from './sigstore-verifier.ts';
export {
  type AcceptanceRules,
  type AcceptedSignature,
  KeyringCache,
  simpleSigningPayload,
  VerificationCache,
  verifyAndExtractSignature,
  verifyImageManifestSignature,
} from './simple-signing.ts';
export {
  type ClosableUnparsedImage,
  type ImagesToEvaluate,
  type InstanceSelection,
  imagesToEvaluate,
  unparsedImageFromReference,
} from './unparsed.ts';
