// Image string + pull credentials -> Verdict: parse, ask the policy, resolve, verify, with caching.
import type { Coalescer, RecordKind, SharedCache, SharedHit, TtlCache } from '../cache/index.ts';
import {
  BaseError,
  type Digest,
  DockerReference,
  DockerReferenceError,
  type InstanceSelection,
  isBackgroundWork,
  isShortName,
  parseNormalizedNamed,
} from '../image/index.ts';
import { credentialScope } from './credentials.ts';
import { platformsKey } from './platforms.ts';
import {
  type LastKnownGood,
  type LastResolution,
  parseDigestRecord,
  parseLastKnownGood,
  parseLastResolution,
  parseVerdict,
} from './records.ts';
import { isAbsent, isTransient } from './resolver.ts';
import type { CheckObserver, PullCredentials, Resolver, StaleNote, TrustPolicy, Verdict } from './types.ts';

/** What a check is doing now; read by the caller to explain a missed deadline. */
export interface CheckProgress {
  stage: 'parsing' | 'consulting the policy' | 'resolving the tag' | 'verifying signatures' | 'done';
}

/**
 * Stale-if-error: when the registry fails transiently, a digest verified within `windowMs` under
 * the same verdict key (reference, digest, platforms, policy hash, trust hash, credential scope)
 * is admitted from its record; a tag only while its last resolution is within the window too.
 */
export interface StaleSettings {
  /** 0 turns stale-if-error off. */
  readonly windowMs: number;
  /** Last-known-good verdicts, under the verdict cache's keys. */
  readonly verdicts: TtlCache<LastKnownGood>;
  /** Last successful tag resolutions, under the digest cache's keys. */
  readonly resolutions: TtlCache<LastResolution>;
}

export interface CheckerSettings {
  readonly resolver: Resolver;
  /** The policy in force, or undefined while none is loaded. */
  readonly evaluator: () => TrustPolicy | undefined;
  readonly verdicts: TtlCache<Verdict>;
  readonly digests: TtlCache<{ readonly digest: Digest }>;
  readonly resolutions: Coalescer<Digest>;
  readonly evaluations: Coalescer<Verdict>;
  /** The instances of multi-arch images that are verified (see platforms.ts), part of every verdict's key. */
  readonly platforms: InstanceSelection;
  readonly allowedTtlMs: number;
  /** Definite denials are kept briefly so a crash-looping controller does not hammer the registry. */
  readonly deniedTtlMs: number;
  readonly digestTtlMs: number;
  readonly stale: StaleSettings;
  /**
   * The cache shared with the other replicas, behind the local ones: same keys and ttls;
   * definite verdicts and resolutions only. Work on one key is leased to one replica at a time.
   */
  readonly shared: SharedCache;
  readonly observer: CheckObserver;
}

const MAX_PARSED = 10_000;

function errorVerdict(context: string, err: unknown): Extract<Verdict, { kind: 'error' }> {
  const code = err instanceof BaseError ? String(err.code) : 'INTERNAL';
  const detail = err instanceof Error ? err.message : String(err);
  return {
    kind: 'error',
    code,
    reason: `${context}: ${detail}`,
    ...(isTransient(err) ? { transient: true } : {}),
  };
}

/** What a registry that did not answer in time counts as: a transient failure. */
const GAVE_UP = Symbol('no answer in time');

/**
 * After a key's registry failed transiently, later checks of it wait this long at most for a
 * fresh answer before a last-known-good record answers: an outage costs the first admission its
 * wait, not every one.
 */
const OUTAGE_GRACE_MS = 250;
const OUTAGE_MEMORY_MS = 10_000;
/** A stale answer is given this long before the deadline at the latest, and at most a quarter of the time left. */
const STALE_MARGIN_MS = 500;
/**
 * How long a replica holds the lease on a verification or resolution, and so how long others
 * wait for its result before doing the work themselves (a replica that died holding it).
 */
const LEASE_MS = 5000;

/** A verification background work gave up on, leaving the registry budget's reserve to admissions. */
function heldForAdmissions(verdict: Verdict): boolean {
  return verdict.kind === 'error' && verdict.code === 'BUDGET_RESERVED';
}

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}

export class ImageChecker {
  readonly #s: CheckerSettings;
  readonly #parsed = new Map<string, DockerReference | Error>();
  readonly #platformsKey: string;
  /** Keys whose registry failed transiently, and when (performance.now()); bounded. */
  readonly #failing = new Map<string, number>();
  // The last keys built for each parsed reference: the same string object every time is hashed
  // once, not at every cache lookup.
  readonly #digestKeys = new WeakMap<DockerReference, { readonly scope: string; readonly key: string }>();
  readonly #verdictKeys = new WeakMap<
    DockerReference,
    {
      readonly digest: Digest;
      readonly policyHash: string;
      readonly trustHash: string;
      readonly scope: string;
      readonly key: string;
    }
  >();
  // References each policy (by evaluator and policy hash) needs the image for: what lets
  // cached() skip the asynchronous decideWithoutImage question.
  readonly #needsImage = new WeakMap<
    TrustPolicy,
    { readonly policyHash: string; readonly refs: Set<string> }
  >();

  constructor(settings: CheckerSettings) {
    this.#s = settings;
    this.#platformsKey = platformsKey(settings.platforms);
  }

  /**
   * Never throws: every failure becomes a `denied` (bad input) or `error` (undecided) verdict.
   * `deadlineAt` (a performance.now() time) is when the caller stops waiting: a registry that has
   * not answered shortly before it counts as failing transiently.
   */
  async check(
    image: string,
    credentials: PullCredentials,
    progress: CheckProgress,
    deadlineAt = Number.POSITIVE_INFINITY,
  ): Promise<Verdict> {
    try {
      return await this.#check(image, credentials, progress, deadlineAt);
    } catch (err) {
      return errorVerdict(`checking ${image}`, err);
    } finally {
      progress.stage = 'done';
    }
  }

  /**
   * The verdict check() would give, without waiting, when every step of it is already known
   * (parsed reference, policy decision, tag digest, cached verdict), with the same observations;
   * undefined otherwise, and then check() must run. Never throws.
   */
  cached(image: string, credentials: PullCredentials): Verdict | undefined {
    const started = performance.now();
    const ref = this.#parsed.get(image);
    if (!(ref instanceof DockerReference)) return undefined;
    const evaluator = this.#s.evaluator();
    if (evaluator === undefined) return undefined;
    const needsImage = this.#needsImage.get(evaluator);
    if (needsImage?.policyHash !== evaluator.policyHash || !needsImage.refs.has(ref.toString())) {
      return undefined;
    }
    const scope = credentialScope(ref, credentials);
    let digest = ref.digest;
    if (digest === undefined) {
      digest = this.#s.digests.get(this.#digestKey(ref, scope), started)?.digest;
      if (digest === undefined) return undefined;
    }
    const verdict = this.#s.verdicts.get(this.#verdictKey(ref, digest, evaluator, scope), started);
    if (verdict === undefined) return undefined;
    if (ref.digest === undefined) this.#s.observer.cache('digest', true);
    this.#s.observer.cache('verdict', true);
    this.#s.observer.stage('cache', seconds(started));
    return verdict;
  }

  #noteNeedsImage(evaluator: TrustPolicy, ref: DockerReference): void {
    let needsImage = this.#needsImage.get(evaluator);
    if (needsImage?.policyHash !== evaluator.policyHash || needsImage.refs.size >= MAX_PARSED) {
      needsImage = { policyHash: evaluator.policyHash, refs: new Set() };
      this.#needsImage.set(evaluator, needsImage);
    }
    needsImage.refs.add(ref.toString());
  }

  #digestKey(ref: DockerReference, scope: string): string {
    const known = this.#digestKeys.get(ref);
    if (known?.scope === scope) return known.key;
    const key = `${ref.toString()}\0${scope}`;
    this.#digestKeys.set(ref, { scope, key });
    return key;
  }

  // The reference (with its tag) is part of the key: scope lookup and identity matching depend
  // on it, so two names for one digest can have different verdicts. For an index, the platforms
  // select the instances judged (digest + platforms determine them), so they are part of it too.
  #verdictKey(ref: DockerReference, digest: Digest, evaluator: TrustPolicy, scope: string): string {
    const { policyHash, trustHash } = evaluator;
    const known = this.#verdictKeys.get(ref);
    if (
      known?.digest === digest &&
      known.policyHash === policyHash &&
      known.trustHash === trustHash &&
      known.scope === scope
    ) {
      return known.key;
    }
    // The platforms are fixed for this checker, so they need no place in the comparison above.
    const key = [ref.toString(), digest, this.#platformsKey, policyHash, trustHash, scope].join('\0');
    this.#verdictKeys.set(ref, { digest, policyHash, trustHash, scope, key });
    return key;
  }

  async #check(
    image: string,
    credentials: PullCredentials,
    progress: CheckProgress,
    deadlineAt: number,
  ): Promise<Verdict> {
    progress.stage = 'parsing';
    // One latency observation per check: 'policy' when the policy alone decided, 'cache' when
    // the verdict cache did; misses report their resolve/fetch/verify stages instead.
    const started = performance.now();
    const candidates = await this.#qualify(image);
    if ('kind' in candidates) return candidates;
    let ref: DockerReference = candidates[0]!;
    let found: Digest | undefined;
    if (candidates.length > 1) {
      progress.stage = 'resolving the tag';
      const chosen = await this.#firstPresent(image, candidates, credentials, deadlineAt);
      if (!('ref' in chosen)) return chosen;
      ({ ref, digest: found } = chosen);
    }
    const evaluator = this.#s.evaluator();
    if (evaluator === undefined) {
      return { kind: 'error', code: 'POLICY_NOT_LOADED', reason: 'no trust policy is loaded' };
    }
    progress.stage = 'consulting the policy';
    const early = await evaluator.decideWithoutImage(ref);
    if (early !== undefined) {
      this.#s.observer.stage('policy', seconds(started));
      return early;
    }
    this.#noteNeedsImage(evaluator, ref);

    const scope = credentialScope(ref, credentials);
    progress.stage = 'resolving the tag';
    let digest: Digest;
    // Set when the tag's digest came from its last-known resolution, the registry failing.
    let staleTag: { readonly at: number; readonly failure: Failure } | undefined;
    const pinned = found ?? ref.digest;
    if (pinned !== undefined) digest = pinned;
    else {
      const resolved = await this.#resolveOrStale(ref, scope, credentials, deadlineAt);
      if ('kind' in resolved) return resolved;
      ({ digest, staleTag } = resolved);
    }

    progress.stage = 'verifying signatures';
    const key = this.#verdictKey(ref, digest, evaluator, scope);
    const cached = this.#s.verdicts.get(key);
    this.#s.observer.cache('verdict', cached !== undefined);
    if (cached !== undefined) {
      this.#s.observer.stage('cache', seconds(started));
      return staleTag === undefined ? cached : this.#staleTagged(cached, key, staleTag);
    }
    const lastKnownGood = await this.#staleRecord(
      'last-good-verdict',
      this.#s.stale.verdicts,
      key,
      parseLastKnownGood,
    );
    const verify = () =>
      this.#s.evaluations.run(key, async (signal) => {
        const { value: verdict, ttlMs } = await this.#onceAcrossReplicas(
          'verdict',
          key,
          parseVerdict,
          signal,
          async () => {
            let verdict: Verdict;
            try {
              verdict = await evaluator.evaluate(
                ref,
                digest,
                credentials,
                signal,
                this.#s.observer,
                this.#s.platforms,
                deadlineAt,
              );
            } catch (err) {
              verdict = errorVerdict(`verifying ${ref.toString()}@${digest}`, err);
            }
            this.#noteOutcome(key, verdict.kind === 'error' && verdict.transient === true);
            if (verdict.kind === 'allowed') {
              verdict = { ...verdict, digest: verdict.digest ?? digest };
              if (verdict.verified) this.#keep('last-good-verdict', key, { verdict, at: Date.now() });
              return { value: verdict, ttlMs: this.#s.allowedTtlMs };
            }
            // Failures to decide are never kept, here or in the shared cache.
            return { value: verdict, ttlMs: verdict.kind === 'denied' ? this.#s.deniedTtlMs : 0 };
          },
        );
        this.#s.verdicts.set(key, verdict, ttlMs);
        return verdict;
      });
    // An admission may have joined a background verification that the budget's reserve held
    // back: that refusal is not the admission's, which then verifies on its own (and may spend
    // the reserve). Twice at most: another background verification may have started meanwhile.
    const admission = !isBackgroundWork();
    const flight = verify()
      .then((v) => (admission && heldForAdmissions(v) ? verify() : v))
      .then((v) => (admission && heldForAdmissions(v) ? verify() : v));
    if (lastKnownGood === undefined) {
      const verdict = await flight;
      return staleTag === undefined ? verdict : this.#staleTagged(verdict, key, staleTag);
    }
    const verdict = await this.#unlessOutage(key, flight, deadlineAt);
    const failure =
      verdict === GAVE_UP
        ? this.#timeout(deadlineAt)
        : verdict.kind === 'error' && verdict.transient === true
          ? { code: verdict.code, cause: verdict.reason }
          : undefined;
    if (failure !== undefined) {
      return this.#stale(lastKnownGood, staleTag === undefined ? failure : staleTag.failure, staleTag?.at);
    }
    const fresh = verdict as Verdict;
    return staleTag === undefined ? fresh : this.#staleTagged(fresh, key, staleTag);
  }

  #staleEnabled(): boolean {
    return this.#s.stale.windowMs > 0;
  }

  /** A stale-if-error record of `key`: local, else shared (then kept locally for the rest of its time). */
  async #staleRecord<T extends object>(
    kind: 'last-good-verdict' | 'last-resolution',
    local: TtlCache<T>,
    key: string,
    parse: (value: unknown) => T | undefined,
  ): Promise<T | undefined> {
    if (!this.#staleEnabled()) return undefined;
    const known = local.get(key);
    if (known !== undefined || this.#s.shared.local) return known;
    const hit = await this.#s.shared.get(kind, key, parse);
    if (hit !== undefined) local.set(key, hit.value, hit.ttlMs);
    return hit?.value;
  }

  /** Keeps a stale-if-error record for the window, here and in the shared cache. */
  #keep(kind: 'last-good-verdict', key: string, record: LastKnownGood): void;
  #keep(kind: 'last-resolution', key: string, record: LastResolution): void;
  #keep(
    kind: 'last-good-verdict' | 'last-resolution',
    key: string,
    record: LastKnownGood | LastResolution,
  ): void {
    if (!this.#staleEnabled()) return;
    const windowMs = this.#s.stale.windowMs;
    if (kind === 'last-good-verdict') this.#s.stale.verdicts.set(key, record as LastKnownGood, windowMs);
    else this.#s.stale.resolutions.set(key, record as LastResolution, windowMs);
    this.#s.shared.set(kind, key, record, windowMs);
  }

  /**
   * `work` done once across the replicas: the shared cache's record when there is one; else
   * this replica works under the lease and publishes what it yields (a ttl of 0 publishes
   * nothing), or waits for the replica holding the lease and works itself only if that one
   * publishes nothing. Without a shared cache, just `work`.
   */
  async #onceAcrossReplicas<T>(
    kind: RecordKind,
    key: string,
    parse: (value: unknown) => T | undefined,
    signal: AbortSignal,
    work: () => Promise<SharedHit<T>>,
  ): Promise<SharedHit<T>> {
    const shared = this.#s.shared;
    if (shared.local) return work();
    const known = await shared.get(kind, key, parse);
    this.#s.observer.cache(kind === 'verdict' ? 'shared_verdict' : 'shared_digest', known !== undefined);
    if (known !== undefined) return known;
    const lease = await shared.lease(kind, key, LEASE_MS);
    if (lease === 'held') {
      const published = await shared.awaitRecord(kind, key, parse, LEASE_MS, signal);
      if (published !== undefined) return published;
    }
    try {
      const done = await work();
      shared.set(kind, key, done.value, done.ttlMs);
      return done;
    } finally {
      if (lease !== 'held') lease.release();
    }
  }

  /**
   * The verdict on a digest the tag resolved to last time (the registry failing now): a verified
   * admission says so; an unverified one is not admitted on stale data; others stand as they are.
   */
  #staleTagged(
    verdict: Verdict,
    key: string,
    tag: { readonly at: number; readonly failure: Failure },
  ): Verdict {
    if (verdict.kind !== 'allowed') return verdict;
    if (!verdict.verified) {
      return { kind: 'error', code: tag.failure.code, reason: tag.failure.cause, transient: true };
    }
    const verifiedAt = verdict.stale?.verifiedAt ?? this.#s.stale.verdicts.get(key)?.at ?? Date.now();
    return this.#stale({ verdict, at: verifiedAt }, tag.failure, tag.at);
  }

  #stale(record: LastKnownGood, failure: Failure, resolvedAt: number | undefined): Verdict {
    const stale: StaleNote = {
      verifiedAt: record.at,
      ...(resolvedAt === undefined ? {} : { resolvedAt }),
      code: failure.code,
      cause: failure.cause,
    };
    return { ...record.verdict, stale };
  }

  #timeout(deadlineAt: number): Failure {
    return {
      code: 'TIMEOUT',
      cause: `the registry gave no answer ${Number.isFinite(deadlineAt) ? 'before the deadline' : 'in time'}`,
    };
  }

  #noteOutcome(key: string, failedTransiently: boolean): void {
    if (!failedTransiently) {
      this.#failing.delete(key);
      return;
    }
    if (this.#failing.size >= MAX_PARSED) this.#failing.clear();
    this.#failing.set(key, performance.now());
  }

  /**
   * Waits for `flight` while a fresh answer can still come in time: until shortly before the
   * deadline, or only briefly when the key's registry failed transiently moments ago. Only
   * called when a last-known-good record can answer instead; the flight carries on either way
   * and its result serves later checks.
   */
  #unlessOutage<T>(key: string, flight: Promise<T>, deadlineAt: number): Promise<T | typeof GAVE_UP> {
    const now = performance.now();
    let giveUpAt = deadlineAt - Math.min(STALE_MARGIN_MS, (deadlineAt - now) / 4);
    const failedAt = this.#failing.get(key);
    if (failedAt !== undefined && now - failedAt < OUTAGE_MEMORY_MS) {
      giveUpAt = Math.min(giveUpAt, now + OUTAGE_GRACE_MS);
    }
    if (!Number.isFinite(giveUpAt)) return flight;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.#noteOutcome(key, true);
          resolve(GAVE_UP);
        },
        Math.max(0, giveUpAt - now),
      );
      flight.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /**
   * The references the node may pull for `image`, in its order: the resolver's short-name
   * resolution when it has one, else docker.io normalization. A name that cannot be resolved
   * is a denial; a configuration that cannot be read is an error.
   */
  async #qualify(image: string): Promise<readonly DockerReference[] | Verdict> {
    // Names memoized as parsed qualify the same way whatever registries.conf says.
    const known = this.#parsed.get(image);
    if (known instanceof DockerReference) return [known];
    const qualify = this.#s.resolver.qualify?.bind(this.#s.resolver);
    if (qualify === undefined) {
      const ref = this.#parse(image);
      return ref instanceof DockerReference
        ? [ref]
        : { kind: 'denied', reason: `invalid image reference: ${ref.message}` };
    }
    try {
      const candidates = await qualify(image);
      // A name that names its registry is never resolved through registries.conf: remember it,
      // so its parsed reference (and the keys built from it) are reused, and cached() finds it.
      if (candidates.length === 1 && !isShortName(image)) this.#remember(image, candidates[0]!);
      return candidates;
    } catch (err) {
      const code = err instanceof BaseError ? String(err.code) : '';
      if (code.startsWith('SHORT_NAME_')) return { kind: 'denied', reason: (err as Error).message };
      if (err instanceof DockerReferenceError)
        return { kind: 'denied', reason: `invalid image reference: ${err.message}` };
      return errorVerdict(`resolving the short name ${image}`, err);
    }
  }

  /**
   * What a runtime does with several search-registry candidates: pull the first that exists.
   * Only "not found" moves on; any other failure leaves the node's choice unknown, so it is an
   * error rather than a guess.
   */
  async #firstPresent(
    image: string,
    candidates: readonly DockerReference[],
    credentials: PullCredentials,
    deadlineAt: number,
  ): Promise<{ ref: DockerReference; digest: Digest } | Verdict> {
    const tried = candidates.map((c) => c.toString()).join(', ');
    if (candidates[0]!.digest !== undefined) {
      return {
        kind: 'denied',
        reason: `short name ${image} with a digest has several candidates (${tried}): name the registry`,
      };
    }
    for (const ref of candidates) {
      try {
        const key = this.#digestKey(ref, credentialScope(ref, credentials));
        const cached = this.#s.digests.get(key);
        this.#s.observer.cache('digest', cached !== undefined);
        return { ref, digest: cached?.digest ?? (await this.#resolve(ref, key, credentials, deadlineAt)) };
      } catch (err) {
        if (!isAbsent(err)) {
          return errorVerdict(
            `resolving short name ${image}: candidate ${ref.toString()} (of ${tried}) could not be checked, so which one the node pulls is unknown`,
            err,
          );
        }
      }
    }
    return {
      kind: 'error',
      code: 'SHORT_NAME_NOT_FOUND',
      reason: `short name ${image}: none of ${tried} exists`,
    };
  }

  /** Parses as the kubelet reads an image (`:latest` when untagged); memoized, bounded. */
  #parse(image: string): DockerReference | Error {
    let parsed = this.#parsed.get(image);
    if (parsed === undefined) {
      try {
        parsed = parseNormalizedNamed(image).tagNameOnly();
      } catch (err) {
        parsed = err instanceof Error ? err : new Error(String(err));
      }
      this.#remember(image, parsed);
    }
    return parsed;
  }

  #remember(image: string, parsed: DockerReference | Error): void {
    if (this.#parsed.size >= MAX_PARSED) this.#parsed.clear();
    this.#parsed.set(image, parsed);
  }

  /**
   * The tag's digest: fresh, or (stale-if-error) its last resolution within the window when the
   * registry fails transiently; an error verdict otherwise.
   */
  async #resolveOrStale(
    ref: DockerReference,
    scope: string,
    credentials: PullCredentials,
    deadlineAt: number,
  ): Promise<{ digest: Digest; staleTag?: { at: number; failure: Failure } } | Verdict> {
    const key = this.#digestKey(ref, scope);
    const cached = this.#s.digests.get(key);
    this.#s.observer.cache('digest', cached !== undefined);
    if (cached !== undefined) return { digest: cached.digest };
    const last = await this.#staleRecord(
      'last-resolution',
      this.#s.stale.resolutions,
      key,
      parseLastResolution,
    );
    const flight = this.#resolve(ref, key, credentials, deadlineAt);
    let failure: Failure;
    try {
      const digest = last === undefined ? await flight : await this.#unlessOutage(key, flight, deadlineAt);
      if (digest !== GAVE_UP) return { digest };
      failure = this.#timeout(deadlineAt);
    } catch (err) {
      const verdict = errorVerdict(`resolving ${ref.toString()}`, err);
      if (last === undefined || verdict.transient !== true) return verdict;
      failure = { code: verdict.code, cause: verdict.reason };
    }
    return { digest: last!.digest, staleTag: { at: last!.at, failure } };
  }

  /**
   * Resolves `ref`'s tag (cache key `key`) once across concurrent checks and replicas; the
   * check that starts the flight lends it its deadline.
   */
  #resolve(
    ref: DockerReference,
    key: string,
    credentials: PullCredentials,
    deadlineAt: number,
  ): Promise<Digest> {
    return this.#s.resolutions.run(key, async (signal) => {
      const { value, ttlMs } = await this.#onceAcrossReplicas(
        'digest',
        key,
        parseDigestRecord,
        signal,
        async () => {
          const started = performance.now();
          let digest: Digest;
          try {
            digest = await this.#s.resolver.resolve(ref, credentials, signal, this.#s.observer, deadlineAt);
          } catch (err) {
            this.#noteOutcome(key, isTransient(err));
            throw err;
          }
          this.#noteOutcome(key, false);
          this.#s.observer.stage('resolve', seconds(started));
          this.#keep('last-resolution', key, { digest, at: Date.now() });
          return { value: { digest }, ttlMs: this.#s.digestTtlMs };
        },
      );
      this.#s.digests.set(key, value, ttlMs);
      return value.digest;
    });
  }
}

interface Failure {
  readonly code: string;
  readonly cause: string;
}
