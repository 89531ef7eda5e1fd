// The entry the webhook and the CLI import from the policy layer.
export { type CheckerSettings, type CheckProgress, ImageChecker, type StaleSettings } from './checker.ts';
export { combinePolicies } from './crd/combine.ts';
export { type InlineKeyLoaders, loadInlineKeys } from './crd/keys.ts';
export type { ActivePolicy, PolicyChange, PolicySource } from './crd/source.ts';
export { ANONYMOUS_SCOPE, credentialScope, NO_PULL_SECRETS, normalizeAuthKey } from './credentials.ts';
export {
  loadPolicy,
  loadPolicyText,
  PolicyLoadError,
  type PolicyLoadErrorCode,
  type PolicyLoadOptions,
} from './engine.ts';
export {
  EXCEPTION_KIND,
  EXCEPTION_PLURAL,
  type ExceptionSource,
  type ExceptionState,
  exceptionCovers,
  exceptionFor,
  exceptionState,
  MAX_EXCEPTION_DAYS,
  type TrustException,
} from './exceptions.ts';
export {
  DEFAULT_PLATFORMS,
  PlatformError,
  type PlatformErrorCode,
  parsePlatforms,
  platformsKey,
} from './platforms.ts';
export type { LastKnownGood, LastResolution } from './records.ts';
export { type DigestLookup, isTransient, RegistryResolver, registryStatus } from './resolver.ts';
export {
  type BackgroundObserver,
  combineVerdicts,
  type ImageFinding,
  type ImageOutcome,
  MAX_POD_IMAGES,
  type RunningPod,
  type RunningResult,
  type RunningScan,
  type RunningScanOptions,
  type ScanTrigger,
  scanRunning,
  type WorkloadOwner,
} from './running.ts';
export type {
  CheckObserver,
  ExceptionNote,
  PodCredentialContext,
  PullCredentials,
  PullSecretSource,
  Resolver,
  Stage,
  StaleNote,
  TrustPolicy,
  Verdict,
} from './types.ts';
export {
  type CrdPolicies,
  createWorkloadPolicies,
  type ImageCheck,
  type WorkloadCheck,
  type WorkloadPolicies,
  type WorkloadPolicySettings,
} from './workload.ts';
