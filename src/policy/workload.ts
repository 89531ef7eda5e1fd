// The webhook's evaluation path as one object: which policy checks apply to a namespace's pods and
// where their credentials come from. Admission, background verification of running pods and
// `portcullis audit` all judge images through it, so they give the same verdicts and reasons.
import type { SharedCache, TtlCache } from '../cache/index.ts';
import { type CheckerSettings, type CheckProgress, ImageChecker } from './checker.ts';
import { combinePolicies } from './crd/combine.ts';
import type { ActivePolicy, PolicySource } from './crd/source.ts';
import { POLICY_MODES, type PolicyMode } from './crd/types.ts';
import type { PullCredentials, PullSecretSource, TrustPolicy, Verdict } from './types.ts';

/** ImageChecker's contract, as the webhook consumes it. */
export interface ImageCheck {
  /** Never throws; `deadlineAt` (performance.now() time) is when the answer is no longer awaited. */
  check(
    image: string,
    credentials: PullCredentials,
    progress: CheckProgress,
    deadlineAt?: number,
  ): Promise<Verdict>;
  /** check()'s verdict when it is known without waiting, else undefined. Never throws. */
  cached?(image: string, credentials: PullCredentials): Verdict | undefined;
}

/** One policy (or set of policies of one mode) every image must pass. */
export interface WorkloadCheck {
  readonly mode: PolicyMode;
  readonly checker: ImageCheck;
  /**
   * The same verification reading no cached verdict or tag digest (and storing what it finds in
   * those caches): what notices a signature removed since the last verification.
   */
  readonly fresh: ImageCheck;
  /** What applies, for reports: `policy.json`, or the policy objects' keys joined by commas. */
  readonly policies: string;
  /** Two checks with equal keys judge every image alike (policy and trust hashes, mode). */
  readonly key: string;
}

export interface WorkloadPolicies {
  /** The checks for images of pods in `namespace`; each must admit (AND), each in its own mode. */
  checks(namespace: string): readonly WorkloadCheck[];
  readonly pullSecrets: PullSecretSource;
}

/** What the policy CRDs offer right now. */
export type CrdPolicies =
  | { readonly state: 'synced'; readonly policies: PolicySource<TrustPolicy> }
  | { readonly state: 'unavailable'; readonly reason: string };

export interface WorkloadPolicySettings {
  /** The mode of the policy file's refusals. */
  readonly mode: PolicyMode;
  /** The policy file's evaluator as loaded now; undefined when no policy file applies. */
  readonly file: (() => TrustPolicy | undefined) | undefined;
  /** The policy CRDs; undefined when they are not watched. */
  readonly crds: (() => CrdPolicies) | undefined;
  /** Everything an ImageChecker needs but its evaluator: the caches every check shares. */
  readonly caches: Omit<CheckerSettings, 'evaluator'>;
  readonly pullSecrets: PullSecretSource;
}

/** A view of a cache that stores but never answers: a fresh verification's caches. */
function storeOnly<V>(cache: TtlCache<V>): TtlCache<V> {
  return {
    get: () => undefined,
    set: (key, value, ttlMs) => cache.set(key, value, ttlMs),
    clear: () => cache.clear(),
    get size() {
      return cache.size;
    },
  };
}

/** A check that refuses every image with one reason: what stands in for a policy it cannot consult. */
function refusing(code: string, reason: string): WorkloadCheck {
  const checker: ImageCheck = { check: async () => ({ kind: 'error', code, reason }) };
  return { mode: 'enforce', checker, fresh: checker, policies: 'policy CRDs', key: `refusing\0${reason}` };
}

const evaluatorKey = (mode: PolicyMode, e: TrustPolicy | undefined) =>
  e === undefined ? `${mode}\0none` : `${mode}\0${e.policyHash}\0${e.trustHash}`;

export function createWorkloadPolicies(settings: WorkloadPolicySettings): WorkloadPolicies {
  const shared = settings.caches.shared;
  const fresh = {
    ...settings.caches,
    verdicts: storeOnly(settings.caches.verdicts),
    digests: storeOnly(settings.caches.digests),
    // The other replicas' records are cached answers too.
    shared: {
      local: shared.local,
      get: async () => undefined,
      set: (kind, key, value, ttlMs) => shared.set(kind, key, value, ttlMs),
      lease: (kind, key, ttlMs) => shared.lease(kind, key, ttlMs),
      awaitRecord: async () => undefined,
      close: () => shared.close(),
    } satisfies SharedCache,
  };
  const pair = (evaluator: () => TrustPolicy | undefined) => ({
    checker: new ImageChecker({ ...settings.caches, evaluator }),
    fresh: new ImageChecker({ ...fresh, evaluator }),
  });
  const file = settings.file;
  const filePair = file === undefined ? undefined : pair(file);
  // The check objects are made once per evaluator: an admission only looks them up.
  let fileChecks:
    | { readonly evaluator: TrustPolicy | undefined; readonly checks: WorkloadCheck[] }
    | undefined;
  const currentFileChecks = (): readonly WorkloadCheck[] => {
    if (file === undefined || filePair === undefined) return [];
    const evaluator = file();
    if (fileChecks === undefined || fileChecks.evaluator !== evaluator) {
      const mode = settings.mode;
      const key = `file\0${evaluatorKey(mode, evaluator)}`;
      fileChecks = { evaluator, checks: [{ mode, ...filePair, policies: 'policy.json', key }] };
    }
    return fileChecks.checks;
  };
  // combinePolicies returns the same evaluator while a namespace's policies are unchanged.
  const crdChecks = new WeakMap<TrustPolicy, WorkloadCheck>();
  const crdCheck = (
    mode: PolicyMode,
    combined: TrustPolicy,
    policies: readonly ActivePolicy<TrustPolicy>[],
  ): WorkloadCheck => {
    let check = crdChecks.get(combined);
    if (check === undefined) {
      const members = policies.filter((p) => p.mode === mode).map((p) => p.key);
      const key = evaluatorKey(mode, combined);
      check = { mode, ...pair(() => combined), policies: members.join(','), key };
      crdChecks.set(combined, check);
    }
    return check;
  };
  const checks = (namespace: string): readonly WorkloadCheck[] => {
    const fromFile = currentFileChecks();
    if (settings.crds === undefined) return fromFile;
    const out = [...fromFile];
    const crds = settings.crds();
    if (crds.state === 'unavailable') return [...out, refusing('POLICY_NOT_LOADED', crds.reason)];
    let policies: readonly ActivePolicy<TrustPolicy>[];
    try {
      policies = crds.policies.policiesFor(namespace);
    } catch (err) {
      const reason = `policy CRDs for namespace ${namespace}: ${(err as Error).message}`;
      return [...out, refusing('POLICY_NOT_LOADED', reason)];
    }
    for (const mode of POLICY_MODES) {
      const combined = combinePolicies(policies, mode);
      if (combined !== undefined) out.push(crdCheck(mode, combined, policies));
    }
    return out;
  };
  return { checks, pullSecrets: settings.pullSecrets };
}
