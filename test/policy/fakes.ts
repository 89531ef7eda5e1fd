// In-test Resolver/TrustPolicy/PullSecretSource: scriptable, counting, able to hang or throw — the
// faults a real registry and policy cannot be made to produce on demand.
import { Coalescer, createTtlCache, NO_SHARED_CACHE, type SharedCache } from '../../src/cache/index.ts';
import {
  type Digest,
  DockerError,
  type DockerReference,
  digestOf,
  isBackgroundWork,
} from '../../src/image/index.ts';
import {
  type CheckObserver,
  ImageChecker,
  type LastKnownGood,
  type LastResolution,
  type PullCredentials,
  type PullSecretSource,
  type Resolver,
  type TrustPolicy,
  type Verdict,
} from '../../src/policy/index.ts';

export const digestFor = (name: string): Digest => digestOf(`manifest of ${name}`);

/** `unavailable`: fails as a registry answering 503 does (transiently). */
export type Behaviour = 'ok' | 'hang' | 'throw' | 'unavailable' | 'reserved';

export class FakeResolver implements Resolver {
  calls: string[] = [];
  behaviour: Behaviour = 'ok';
  /** tag reference -> digest; unknown ones get digestFor(reference). */
  readonly tags = new Map<string, Digest>();
  /** Set to resolve short names as with --short-names=registries-conf. */
  qualify?: (image: string) => Promise<readonly DockerReference[]>;

  async resolve(
    ref: DockerReference,
    _c: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
  ): Promise<Digest> {
    this.calls.push(ref.toString());
    observer.registryRequest('200');
    await behave(this.behaviour, signal);
    return this.tags.get(ref.toString()) ?? digestFor(ref.toString());
  }
}

async function behave(behaviour: Behaviour, signal: AbortSignal): Promise<void> {
  if (behaviour === 'throw') throw new Error('registry exploded');
  if (behaviour === 'unavailable') {
    throw new DockerError('SERVER_ERROR', 'status 503', { status: 503, temporary: true });
  }
  if (behaviour === 'hang') {
    await new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
}

/**
 * Images whose repository path starts with `rejected/` are rejected and `open/` accepted without
 * looking (like reject / insecureAcceptAnything scopes); `unsigned/` fail verification;
 * `unverified/` are admitted after looking, without a signature; anything else passes verification.
 */
export class FakeEvaluator implements TrustPolicy {
  policyHash = 'policy-1';
  trustHash = 'trust-1';
  behaviour: Behaviour = 'ok';
  evaluations: string[] = [];
  delayMs = 0;

  sources: readonly string[] = [];

  async decideWithoutImage(ref: DockerReference): Promise<Verdict | undefined> {
    if (ref.path.startsWith('rejected/'))
      return { kind: 'denied', reason: `running image ${ref} is rejected by policy` };
    if (ref.path.startsWith('open/'))
      return { kind: 'allowed', reason: 'insecureAcceptAnything', verified: false };
    return undefined;
  }

  async evaluate(
    ref: DockerReference,
    digest: Digest,
    _c: PullCredentials,
    signal: AbortSignal,
    observer: CheckObserver,
  ): Promise<Verdict> {
    this.evaluations.push(`${ref}@${digest}`);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.behaviour === 'reserved' && isBackgroundWork()) {
      // What the engine answers when background work met a registry budget's reserve.
      return {
        kind: 'error',
        code: 'BUDGET_RESERVED',
        reason: 'budget held for admissions',
        transient: true,
      };
    }
    if (this.behaviour === 'unavailable') {
      // What the engine answers when a registry exchange failed transiently mid-evaluation.
      return { kind: 'error', code: 'EVALUATION_FAILED', reason: 'status 503', transient: true };
    }
    await behave(this.behaviour, signal);
    observer.stage('verify', 0.001);
    if (ref.path.startsWith('unsigned/')) {
      return { kind: 'denied', reason: 'a signature was required, but no signature exists' };
    }
    if (ref.path.startsWith('unverified/')) {
      return {
        kind: 'allowed',
        reason: 'accepted by policy without signature verification',
        verified: false,
      };
    }
    return { kind: 'allowed', reason: 'signed by a trusted key', verified: true };
  }
}

export class FakePullSecrets implements PullSecretSource {
  behaviour: Behaviour = 'ok';
  documents: string[] = [];
  /** Whether knownSecretsFor answers (as a source holding its secrets in memory does). */
  known = false;
  requests: Array<{ namespace: string; serviceAccountName: string; imagePullSecrets: readonly string[] }> =
    [];

  async secretsFor(
    context: { namespace: string; serviceAccountName: string; imagePullSecrets: readonly string[] },
    signal: AbortSignal,
  ): Promise<PullCredentials> {
    this.requests.push(context);
    await behave(this.behaviour, signal);
    return { dockerConfigJson: this.documents };
  }

  knownSecretsFor(): PullCredentials | undefined {
    return this.known && this.behaviour === 'ok' ? { dockerConfigJson: this.documents } : undefined;
  }
}

export const silentObserver: CheckObserver = { stage() {}, cache() {}, registryRequest() {} };

export interface CheckerRig {
  readonly checker: ImageChecker;
  readonly resolver: FakeResolver;
  evaluator: FakeEvaluator | undefined;
}

export function checkerRig(
  overrides: {
    allowedTtlMs?: number;
    deniedTtlMs?: number;
    digestTtlMs?: number;
    staleIfErrorMs?: number;
    shared?: SharedCache;
    observer?: CheckObserver;
  } = {},
): CheckerRig {
  const rig: { checker?: ImageChecker; resolver: FakeResolver; evaluator: FakeEvaluator | undefined } = {
    resolver: new FakeResolver(),
    evaluator: new FakeEvaluator(),
  };
  rig.checker = new ImageChecker({
    resolver: rig.resolver,
    evaluator: () => rig.evaluator,
    verdicts: createTtlCache<Verdict>(1000),
    digests: createTtlCache<{ digest: Digest }>(1000),
    resolutions: new Coalescer<Digest>(5000),
    evaluations: new Coalescer<Verdict>(5000),
    platforms: { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] },
    allowedTtlMs: overrides.allowedTtlMs ?? 60_000,
    deniedTtlMs: overrides.deniedTtlMs ?? 5_000,
    digestTtlMs: overrides.digestTtlMs ?? 10_000,
    stale: {
      windowMs: overrides.staleIfErrorMs ?? 0,
      verdicts: createTtlCache<LastKnownGood>(1000),
      resolutions: createTtlCache<LastResolution>(1000),
    },
    shared: overrides.shared ?? NO_SHARED_CACHE,
    observer: overrides.observer ?? silentObserver,
  });
  return rig as CheckerRig;
}
