// Verification of running pods: one result per image per workload owner, each distinct
// (image, applicable policies, credential scope) verified once, through the webhook's own checks.
import { createHash } from 'node:crypto';
import { isShortName, oneLine, parseNormalizedNamed } from '../image/index.ts';
import type { PolicyMode } from './crd/types.ts';
import { credentialScope } from './credentials.ts';
import type { PodCredentialContext, PullCredentials, Verdict } from './types.ts';
import type { WorkloadCheck, WorkloadPolicies } from './workload.ts';

/** The object a pod's results are reported on: its controller's controller..., or the pod itself. */
export interface WorkloadOwner {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

/** What verification needs of one running pod. */
export interface RunningPod extends PodCredentialContext {
  readonly name: string;
  readonly owner: WorkloadOwner;
  /** Why the owner is not the top of the chain (a loop, a chain too long), when it is not. */
  readonly ownerNote?: string;
  /** Distinct images, in spec order, at most MAX_POD_IMAGES. */
  readonly images: readonly string[];
  /** Distinct images beyond MAX_POD_IMAGES, which are not verified. */
  readonly omittedImages: number;
}

/** A pod's distinct images beyond this many are reported as one error instead of verified. */
export const MAX_POD_IMAGES = 100;

/**
 * wg-policy result values this produces: fail for any denial (whatever the mode), error when
 * undecided, skip when the registry budget was down to the reserve kept for admissions.
 */
export type RunningResult = 'pass' | 'fail' | 'error' | 'skip';

export type ScanTrigger = 'start' | 'leader' | 'policy' | 'schedule' | 'pods' | 'retry';

/** Where background verification reports what it did; every method must be cheap and never throw. */
export interface BackgroundObserver {
  scan(trigger: ScanTrigger, seconds: number, distinct: number, verified: number, skipped: number): void;
  reportWrites(operation: 'apply' | 'delete' | 'event', count: number): void;
  /** Results (image per workload owner) by result, after every scan. */
  runningImages(counts: Readonly<Record<RunningResult, number>>): void;
}

export interface ImageFinding {
  readonly namespace: string;
  readonly owner: WorkloadOwner;
  readonly image: string;
  readonly result: RunningResult;
  /** The mode of the strictest refusing policy (fail and error results). */
  readonly mode: PolicyMode | undefined;
  /** The webhook's reason text (several policies' joined by "; "). */
  readonly message: string;
  /** The policies that refused, or all that applied when none did. */
  readonly policies: string;
  readonly digest: string | undefined;
  /** Running pods of the owner with this image. */
  readonly pods: number;
  readonly ownerNote: string | undefined;
}

/** The combined verdict of every check for one (image, policies, credential scope). */
export interface ImageOutcome {
  readonly result: RunningResult;
  readonly mode: PolicyMode | undefined;
  readonly message: string;
  readonly policies: string;
  readonly digest: string | undefined;
}

export interface RunningScanOptions {
  /** Verify without reading the verdict and tag caches (a scheduled scan: revocations show). */
  readonly fresh: boolean;
  /** Verifications in flight at once: the background's budget, separate from admissions'. */
  readonly concurrency: number;
  /** Outcomes of earlier scans by key, reused when not fresh. */
  readonly known?: ReadonlyMap<string, ImageOutcome>;
  /**
   * Filled with this scan's outcomes (errors are never kept: they are tried again; skips are, so
   * that only the next fresh scan spends the budget on them, and first).
   */
  readonly memo?: Map<string, ImageOutcome>;
  readonly signal?: AbortSignal;
}

export interface RunningScan {
  readonly findings: ImageFinding[];
  /** Distinct (image, policies, credential scope) keys seen. */
  readonly distinct: number;
  /** How many of them were verified (not taken from the memo, not put off). */
  readonly verified: number;
  /** How many of them were put off: their registry's budget was down to the admissions' reserve. */
  readonly skipped: number;
}

const MESSAGE_MAX = 1024;

const MODE_ORDER: readonly PolicyMode[] = ['enforce', 'warn', 'audit'];
const RESULT_ORDER: readonly RunningResult[] = ['fail', 'error', 'skip', 'pass'];
const worse = (a: RunningResult, b: RunningResult) => RESULT_ORDER.indexOf(a) <= RESULT_ORDER.indexOf(b);

/** How the webhook's per-check verdicts become one result. */
export function combineVerdicts(checks: readonly WorkloadCheck[], given: readonly Verdict[]): ImageOutcome {
  // An admission may go by an earlier verification while the registry fails (stale-if-error);
  // a report must not call that a pass.
  const verdicts = given.map(
    (v): Verdict =>
      v.kind === 'allowed' && v.stale !== undefined
        ? {
            kind: 'error',
            code: v.stale.code,
            reason: `the registry is failing (${v.stale.code}): ${v.stale.cause}; last verified ${new Date(v.stale.verifiedAt).toISOString()}`,
          }
        : v,
  );
  const refusals = checks.map((c, i) => ({ check: c, verdict: verdicts[i]! }));
  const denied = refusals.filter((r) => r.verdict.kind === 'denied');
  const errors = refusals.filter((r) => r.verdict.kind === 'error');
  const refusing = denied.length > 0 ? denied : errors;
  if (refusing.length > 0) {
    const mode = MODE_ORDER.find((m) => refusing.some((r) => r.check.mode === m));
    return {
      result:
        denied.length > 0
          ? 'fail'
          : errors.every((r) => r.verdict.kind === 'error' && r.verdict.code === 'BUDGET_RESERVED')
            ? 'skip'
            : 'error',
      mode,
      message: oneLine(refusing.map((r) => r.verdict.reason).join('; '), MESSAGE_MAX),
      policies: [...new Set(refusing.map((r) => r.check.policies))].join(','),
      digest: undefined,
    };
  }
  const digests = new Set(verdicts.map((v) => (v.kind === 'allowed' ? v.digest : undefined)));
  digests.delete(undefined);
  return {
    result: 'pass',
    mode: undefined,
    message: oneLine(
      checks.length === 0
        ? 'no policy applies'
        : [...new Set(verdicts.map((v) => v.reason))].filter((r) => r !== '').join('; '),
      MESSAGE_MAX,
    ),
    policies: checks.map((c) => c.policies).join(','),
    digest: digests.size === 1 ? [...digests][0] : undefined,
  };
}

/**
 * Counts permits; waiters are served in arrival order, those asking to go `first` ahead of the
 * rest. Permits are handed out after pending I/O (admission reviews) has run, so work asked for
 * together is ordered as a whole.
 */
class Budget {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  #dispatching = false;

  constructor(size: number) {
    this.#free = Math.max(1, size);
  }

  async run<T>(work: () => Promise<T>, first = false): Promise<T> {
    await new Promise<void>((resolve) => {
      if (first) this.#waiting.unshift(resolve);
      else this.#waiting.push(resolve);
      this.#dispatch();
    });
    try {
      return await work();
    } finally {
      this.#free++;
      this.#dispatch();
    }
  }

  #dispatch(): void {
    if (this.#dispatching) return;
    this.#dispatching = true;
    setImmediate(() => {
      this.#dispatching = false;
      while (this.#free > 0 && this.#waiting.length > 0) {
        this.#free--;
        this.#waiting.shift()!();
      }
    });
  }
}

/** The cache's credential scope for an image; for names the resolver may qualify, all credentials. */
function scopeOf(image: string, credentials: PullCredentials): string {
  if (credentials.dockerConfigJson.length === 0) return 'anonymous';
  try {
    if (!isShortName(image)) return credentialScope(parseNormalizedNamed(image), credentials);
  } catch {
    // An invalid name: its verdict does not depend on credentials, any scope will do.
  }
  const hash = createHash('sha256');
  for (const d of credentials.dockerConfigJson) hash.update(`${d}\0`);
  return hash.digest('hex').slice(0, 32);
}

const ownerKey = (namespace: string, owner: WorkloadOwner, image: string) =>
  `${namespace}\0${owner.uid}\0${image}`;

/** The pods of one owner running one image, within one credential context. */
interface Unit {
  readonly namespace: string;
  readonly owner: WorkloadOwner;
  readonly ownerNote: string | undefined;
  readonly image: string;
  pods: number;
}

/** The pods sharing one credential context: by image, then by owner. */
interface Group {
  readonly context: PodCredentialContext;
  readonly images: Map<string, Map<string, Unit>>;
}

/**
 * Verifies the images of `pods` as the webhook would admit them now: the checks of each pod's
 * namespace, its pull secrets (then its ServiceAccount's). Never throws; failures are `error`
 * results carrying the reason.
 */
export async function scanRunning(
  policies: WorkloadPolicies,
  pods: Iterable<RunningPod>,
  options: RunningScanOptions,
): Promise<RunningScan> {
  const budget = new Budget(options.concurrency);
  const checksOf = new Map<string, { checks: readonly WorkloadCheck[]; key: string }>();
  const flights = new Map<string, Promise<ImageOutcome>>();
  const findings = new Map<string, ImageFinding>();
  let verified = 0;
  let skipped = 0;

  const credentials = (context: PodCredentialContext): Promise<PullCredentials | Verdict> =>
    policies.pullSecrets.secretsFor(context, options.signal ?? new AbortController().signal).catch(
      (err: unknown): Verdict => ({
        kind: 'error',
        code: 'CREDENTIALS',
        reason: `reading pull secrets: ${(err as Error).message}`,
      }),
    );

  const verify = (image: string, checks: readonly WorkloadCheck[], creds: PullCredentials, first: boolean) =>
    budget.run(async () => {
      const verdicts: Verdict[] = [];
      for (const check of checks) {
        const checker = options.fresh ? check.fresh : check.checker;
        verdicts.push(await checker.check(image, creds, { stage: 'parsing' }));
      }
      const o = combineVerdicts(checks, verdicts);
      if (o.result === 'skip') skipped++;
      else verified++;
      return o;
    }, first);

  const outcome = (image: string, namespace: string, creds: PullCredentials): Promise<ImageOutcome> => {
    let checks = checksOf.get(namespace);
    if (checks === undefined) {
      const list = policies.checks(namespace);
      checks = { checks: list, key: list.map((c) => c.key).join('\u0001') };
      checksOf.set(namespace, checks);
    }
    const key = `${image}\0${checks.key}\0${scopeOf(image, creds)}`;
    let flight = flights.get(key);
    if (flight === undefined) {
      const before = options.known?.get(key);
      const known = options.fresh ? undefined : before;
      if (known !== undefined) options.memo?.set(key, known);
      flight =
        known !== undefined
          ? Promise.resolve(known)
          : verify(image, checks.checks, creds, before?.result === 'skip').then((o) => {
              if (o.result !== 'error') options.memo?.set(key, o);
              return o;
            });
      flights.set(key, flight);
    }
    return flight;
  };

  const record = (unit: Unit, o: ImageOutcome) => {
    const key = ownerKey(unit.namespace, unit.owner, unit.image);
    const old = findings.get(key);
    if (old !== undefined && !worse(o.result, old.result)) {
      findings.set(key, { ...old, pods: old.pods + unit.pods });
      return;
    }
    findings.set(key, {
      namespace: unit.namespace,
      owner: unit.owner,
      image: unit.image,
      ...o,
      pods: (old?.pods ?? 0) + unit.pods,
      ownerNote: unit.ownerNote,
    });
  };

  // The pods are gathered first, so that while the registries answer a scan holds one entry per
  // (credential context, image, owner), not a pending closure per pod.
  const groups = new Map<string, Group>();
  for (const pod of pods) {
    if (options.signal?.aborted) break;
    const { namespace, owner, ownerNote, serviceAccountName, imagePullSecrets } = pod;
    const key = `${namespace}\0${serviceAccountName}\0${imagePullSecrets.join('\0')}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { context: { namespace, serviceAccountName, imagePullSecrets }, images: new Map() };
      groups.set(key, group);
    }
    for (const image of pod.images) {
      let owners = group.images.get(image);
      if (owners === undefined) {
        owners = new Map();
        group.images.set(image, owners);
      }
      const unit = owners.get(owner.uid);
      if (unit === undefined) owners.set(owner.uid, { namespace, owner, ownerNote, image, pods: 1 });
      else unit.pods++;
    }
    if (pod.omittedImages > 0) {
      const image = `(${pod.omittedImages} more images)`;
      record(
        { namespace, owner, ownerNote, image, pods: 1 },
        {
          result: 'error',
          mode: undefined,
          message: `the pod runs ${pod.images.length + pod.omittedImages} distinct images: the first ${pod.images.length} are verified, ${pod.omittedImages} are not`,
          policies: '',
          digest: undefined,
        },
      );
    }
  }
  await Promise.all(
    [...groups.values()].map(async ({ context, images }) => {
      const creds = await credentials(context);
      await Promise.all(
        [...images].map(async ([image, owners]) => {
          const o: ImageOutcome =
            'kind' in creds
              ? { result: 'error', mode: undefined, message: creds.reason, policies: '', digest: undefined }
              : await outcome(image, context.namespace, creds);
          for (const unit of owners.values()) record(unit, o);
        }),
      );
    }),
  );
  return { findings: [...findings.values()], distinct: flights.size, verified, skipped };
}
