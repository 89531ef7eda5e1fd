// The signature layer: policy.json model, strict parser, evaluation, simple signing.
export { SignatureError, type SignatureErrorCode } from './errors.ts';
export {
  type DenialCode,
  describeEvaluatedInstance,
  type EvaluatedInstance,
  type Explanation,
  evaluatedInstance,
  type InstanceOfList,
  PolicyEvaluator,
  type PolicyEvaluatorOptions,
  type RequirementResult,
  SIGSTORE_SIGNATURE_MIME_TYPE,
  type SignatureAttempt,
  type SignatureExpectations,
  type SigstoreSignature,
  type SigstoreVerifier,
  type UnparsedImage,
  type Verdict,
} from './evaluate.ts';
export {
  type GpgKeyring,
  type GpgSecretKeyring,
  loadKeyring,
  loadSecretKeyring,
  MAX_SIGNATURE_BYTES,
  signBlob,
} from './gpg/openpgp.ts';
export { identityMatches } from './identity.ts';
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
export {
  type PolicyParseOptions,
  parsePolicy,
  parseRequirement,
  parseSignedIdentity,
  readPolicyFile,
} from './policy-parse.ts';
export type * from './policy-types.ts';
export { policyFilePaths, verifiesSignatures } from './policy-types.ts';
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
