// The entry the webhook and the CLI import from the policy layer.
export { type CheckerSettings, type CheckProgress, ImageChecker } from './checker.ts';
export { ANONYMOUS_SCOPE, credentialScope, normalizeAuthKey } from './credentials.ts';
export type {
  CheckObserver,
  Evaluator,
  PodCredentialContext,
  PullCredentials,
  PullSecretSource,
  Resolver,
  Stage,
  Verdict,
} from './types.ts';
