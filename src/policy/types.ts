// The contracts between the admission webhook and whatever resolves and judges images.
import type { Digest, DockerReference, InstanceSelection } from '../image/index.ts';

/**
 * What the trust policy says about one image. A denial is a value, and so is a failure to
 * decide (`error`): callers deny or warn on it, never admit because of it.
 */
export type Verdict =
  | {
      readonly kind: 'allowed';
      readonly reason: string;
      /** The manifest digest the decision was made on; undefined when no image was looked at. */
      readonly digest?: Digest;
      /** True when signatures were verified against `digest` (only then may it be pinned). */
      readonly verified: boolean;
      /** Set when the registry failed transiently and an earlier verification answered instead. */
      readonly stale?: StaleNote;
      /** Set when a break-glass exception admitted the image without verification. */
      readonly exception?: ExceptionNote;
    }
  | { readonly kind: 'denied'; readonly reason: string }
  | {
      readonly kind: 'error';
      readonly code: string;
      readonly reason: string;
      /**
       * True when a registry failed in a way that may pass (refused, timeout, 5xx, 429): only
       * then may a last-known-good verification answer instead. Never set for a definite answer.
       */
      readonly transient?: boolean;
    };

/** The break-glass exception (ImageTrustException) that admitted an image. */
export interface ExceptionNote {
  readonly namespace: string;
  readonly name: string;
  readonly owner: string;
  readonly reason: string;
  /** epoch ms */
  readonly expiresAt: number;
}

/** Why and on what an `allowed` verdict was given from a last-known-good record (stale-if-error). */
export interface StaleNote {
  /** When the digest was last verified under the same policy, trust and credentials (epoch ms). */
  readonly verifiedAt: number;
  /** When the tag was last resolved to the digest (epoch ms): set when that resolution was stale too. */
  readonly resolvedAt?: number;
  /** The typed code of the transient failure (TIMEOUT, NETWORK, SERVER_ERROR, TOOMANYREQUESTS, ...). */
  readonly code: string;
  readonly cause: string;
}

/** Registry credentials for one admission: Kubernetes `.dockerconfigjson` documents, most specific first. */
export interface PullCredentials {
  readonly dockerConfigJson: readonly string[];
}

/** Where a pod's pull credentials come from (its imagePullSecrets, its ServiceAccount's). */
export interface PodCredentialContext {
  readonly namespace: string;
  readonly serviceAccountName: string;
  readonly imagePullSecrets: readonly string[];
}

/** Reads pull secrets; the Kubernetes implementation lives in src/kube. */
export interface PullSecretSource {
  /**
   * The `.dockerconfigjson` contents of the pod's pull secrets then its ServiceAccount's, in
   * that order. Secrets that do not exist are skipped; other failures throw.
   */
  secretsFor(context: PodCredentialContext, signal: AbortSignal): Promise<PullCredentials>;
  /**
   * What secretsFor would resolve to, when it is known without waiting (no API call, nothing
   * pending); undefined otherwise. Lets a review whose verdicts are all cached be answered
   * without a promise. Never throws.
   */
  knownSecretsFor?(context: PodCredentialContext): PullCredentials | undefined;
}

/** Latency stages reported to metrics. */
export type Stage = 'policy' | 'resolve' | 'fetch_signatures' | 'verify' | 'cache';

/** Where implementations report what they did; every method must be cheap and never throw. */
export interface CheckObserver {
  stage(stage: Stage, seconds: number): void;
  /** A lookup in the local (`verdict`, `digest`) or the shared cache (`shared_*`). */
  cache(cache: 'verdict' | 'digest' | 'shared_verdict' | 'shared_digest', hit: boolean): void;
  /** One registry HTTP exchange; `status` is the HTTP status or `error` when there was none. */
  registryRequest(status: string): void;
}

/** Turns a tag into the digest of the manifest it names now (one HEAD request). */
export interface Resolver {
  /**
   * The digest `ref` (which has a tag and no digest) points to. Throws on failure; errors with
   * `temporary: true` are worth retrying. `deadline` (performance.now()): when the caller stops
   * waiting; registry waits that would end later fail at once instead.
   */
  resolve(
    ref: DockerReference,
    credentials: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
    deadline?: number,
  ): Promise<Digest>;
  /**
   * The fully-qualified references the node may pull for a pod's image string (short names
   * resolved as its container runtime does), in the order it tries them; never empty. Throws
   * when the name cannot be resolved. Absent: normalized to docker.io.
   */
  qualify?(image: string): Promise<readonly DockerReference[]>;
}

/** A loaded trust policy. Replaced as a whole when the policy or its keys change. */
export interface TrustPolicy {
  /** Hash of the policy document; differs between any two different policies. */
  readonly policyHash: string;
  /** Hash of the trust material the policy names (keys, CAs, Rekor keys). */
  readonly trustHash: string;
  /**
   * The verdict for `ref` when its requirements decide without looking at the image
   * (`reject`, `insecureAcceptAnything`), else undefined. Never touches the network.
   */
  decideWithoutImage(ref: DockerReference): Promise<Verdict | undefined>;
  /** Files the policy was loaded from (policy, keys, CAs): a change to any means reloading. */
  readonly sources: readonly string[];
  /**
   * Judges the image `ref` names, pinned to `digest` (the manifest `ref`'s tag resolved to, or
   * its own digest). `ref` keeps its tag because signature identities are matched against it.
   * When `digest` is a manifest list, the instances `platforms` selects are judged instead (each
   * must pass); the verdict's digest stays `digest`. Returns denials as verdicts; throws only
   * when it could not decide. `deadline` as for Resolver.resolve.
   */
  evaluate(
    ref: DockerReference,
    digest: Digest,
    credentials: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
    platforms: InstanceSelection,
    deadline?: number,
  ): Promise<Verdict>;
}
