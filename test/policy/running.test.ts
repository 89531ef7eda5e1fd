// Verification of running pods through the webhook's checks (ImageChecker with a scripted
// resolver and evaluator): one verification per distinct image, fresh scans, modes, failures.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer, createTtlCache, NO_SHARED_CACHE } from '../../src/cache/index.ts';
import type { Digest } from '../../src/image/index.ts';
import type { PolicyMode } from '../../src/policy/crd/types.ts';
import {
  createWorkloadPolicies,
  type LastKnownGood,
  type LastResolution,
  type PullSecretSource,
  type RunningPod,
  scanRunning,
  type TrustPolicy,
  type Verdict,
} from '../../src/policy/index.ts';
import { FakeEvaluator, FakePullSecrets, FakeResolver, silentObserver } from './fakes.ts';

function rig(
  options: {
    mode?: PolicyMode;
    flightMs?: number;
    evaluator?: FakeEvaluator;
    pullSecrets?: PullSecretSource;
  } = {},
) {
  const resolver = new FakeResolver();
  const evaluator = options.evaluator ?? new FakeEvaluator();
  const policies = createWorkloadPolicies({
    mode: options.mode ?? 'enforce',
    file: () => evaluator as TrustPolicy,
    crds: undefined,
    caches: {
      resolver,
      verdicts: createTtlCache<Verdict>(1000),
      digests: createTtlCache<{ digest: Digest }>(1000),
      resolutions: new Coalescer<Digest>(options.flightMs ?? 5000),
      evaluations: new Coalescer<Verdict>(options.flightMs ?? 5000),
      platforms: { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] },
      allowedTtlMs: 600_000,
      deniedTtlMs: 10_000,
      digestTtlMs: 30_000,
      stale: {
        windowMs: 0,
        verdicts: createTtlCache<LastKnownGood>(1),
        resolutions: createTtlCache<LastResolution>(1),
      },
      shared: NO_SHARED_CACHE,
      observer: silentObserver,
    },
    pullSecrets: options.pullSecrets ?? new FakePullSecrets(),
  });
  return { resolver, evaluator, policies };
}

const pod = (name: string, owner: string, images: string[], omittedImages = 0): RunningPod => ({
  namespace: 'team',
  name,
  serviceAccountName: 'default',
  imagePullSecrets: [],
  owner: { apiVersion: 'apps/v1', kind: 'Deployment', name: owner, uid: `uid-${owner}` },
  images,
  omittedImages,
});

describe('scanRunning', () => {
  it('verifies each distinct image once however many pods run it, one result per image per owner', async () => {
    const { resolver, evaluator, policies } = rig();
    const pods = Array.from({ length: 200 }, (_, i) =>
      pod(`p${i}`, i % 2 === 0 ? 'web' : 'worker', ['registry.example/app:v1']),
    );
    const scan = await scanRunning(policies, pods, { fresh: true, concurrency: 4 });
    assert.equal(evaluator.evaluations.length, 1);
    assert.equal(resolver.calls.length, 1);
    assert.equal(scan.distinct, 1);
    assert.deepEqual(scan.findings.map((f) => `${f.owner.name} ${f.result} ${f.pods}`).sort(), [
      'web pass 100',
      'worker pass 100',
    ]);
  });

  it('a fresh scan verifies again what the caches hold; a scan that may use them does not', async () => {
    const { resolver, evaluator, policies } = rig();
    const pods = [pod('p', 'web', ['registry.example/app:v1'])];
    await scanRunning(policies, pods, { fresh: false, concurrency: 1 });
    await scanRunning(policies, pods, { fresh: false, concurrency: 1 });
    assert.equal(evaluator.evaluations.length, 1, 'the verdict cache answered');
    await scanRunning(policies, pods, { fresh: true, concurrency: 1 });
    assert.equal(evaluator.evaluations.length, 2, 'a fresh scan trusts no cached verdict');
    assert.equal(resolver.calls.length, 2, 'nor a cached tag');
  });

  it('reuses the outcomes of an earlier scan, never its errors', async () => {
    const { evaluator, policies } = rig();
    const memo = new Map();
    await scanRunning(policies, [pod('p', 'web', ['registry.example/app:v1', 'rejected/x'])], {
      fresh: true,
      concurrency: 1,
      memo,
    });
    assert.equal(memo.size, 2);
    evaluator.behaviour = 'throw';
    const scan = await scanRunning(policies, [pod('p', 'web', ['registry.example/app:v1'])], {
      fresh: false,
      concurrency: 1,
      known: memo,
      memo: new Map(),
    });
    assert.equal(scan.verified, 0);
    assert.equal(scan.findings[0]?.result, 'pass');
    const failing = new Map();
    const errored = await scanRunning(policies, [pod('p', 'web', ['registry.example/other:v1'])], {
      fresh: true,
      concurrency: 1,
      memo: failing,
    });
    assert.equal(errored.findings[0]?.result, 'error');
    assert.equal(failing.size, 0, 'an error is tried again by the next scan');
  });

  it('a denial in warn mode is a failing result, with its mode and the reason', async () => {
    const { policies } = rig({ mode: 'warn' });
    const scan = await scanRunning(policies, [pod('p', 'web', ['registry.example/unsigned/app:v1'])], {
      fresh: true,
      concurrency: 1,
    });
    const [f] = scan.findings;
    assert.deepEqual([f?.result, f?.mode, f?.policies], ['fail', 'warn', 'policy.json']);
    assert.equal(f?.message, 'a signature was required, but no signature exists');
  });

  it('pull secrets that cannot be read make every image of the pod an error, never a pass', async () => {
    const secrets = new FakePullSecrets();
    secrets.behaviour = 'throw';
    const { evaluator, policies } = rig({ pullSecrets: secrets });
    const scan = await scanRunning(
      policies,
      [pod('p', 'web', ['registry.example/a:v1', 'registry.example/b:v1'])],
      {
        fresh: true,
        concurrency: 1,
      },
    );
    assert.deepEqual(
      scan.findings.map((f) => [f.result, f.message]),
      [
        ['error', 'reading pull secrets: registry exploded'],
        ['error', 'reading pull secrets: registry exploded'],
      ],
    );
    assert.equal(evaluator.evaluations.length, 0);
  });

  it('a registry that hangs is an error once the flight times out', async () => {
    const { resolver, policies } = rig({ flightMs: 100 });
    resolver.behaviour = 'hang';
    const scan = await scanRunning(policies, [pod('p', 'web', ['registry.example/app:v1'])], {
      fresh: true,
      concurrency: 1,
    });
    assert.equal(scan.findings[0]?.result, 'error');
    assert.match(scan.findings[0]?.message ?? '', /resolving registry\.example\/app:v1/);
  });

  it('images beyond the per-pod cap are one error result', async () => {
    const { policies } = rig();
    const scan = await scanRunning(policies, [pod('p', 'web', ['registry.example/a:v1'], 4900)], {
      fresh: true,
      concurrency: 1,
    });
    const over = scan.findings.find((f) => f.image === '(4900 more images)');
    assert.equal(over?.result, 'error');
    assert.match(over?.message ?? '', /4901 distinct images: the first 1 are verified, 4900 are not/);
  });

  it('keeps the verifications in flight within its budget', async () => {
    let inFlight = 0;
    let most = 0;
    class Counting extends FakeEvaluator {
      override async evaluate(...args: Parameters<FakeEvaluator['evaluate']>): Promise<Verdict> {
        inFlight++;
        most = Math.max(most, inFlight);
        try {
          await new Promise((r) => setTimeout(r, 10));
          return await super.evaluate(...args);
        } finally {
          inFlight--;
        }
      }
    }
    const { policies } = rig({ evaluator: new Counting() });
    const images = Array.from({ length: 12 }, (_, i) => `registry.example/app${i}:v1`);
    const scan = await scanRunning(policies, [pod('p', 'web', images)], { fresh: true, concurrency: 2 });
    assert.equal(scan.verified, 12);
    assert.equal(most, 2);
  });

  it('reports checks held back at the budget reserve as skip, keeps them until a fresh scan, which tries them first', async () => {
    // What the engine answers when background work meets a registry budget's reserve.
    class Reserved extends FakeEvaluator {
      readonly held = new Set<string>();
      override evaluate(...args: Parameters<FakeEvaluator['evaluate']>): Promise<Verdict> {
        const [ref, digest] = args;
        if (!this.held.has(ref.path)) return super.evaluate(...args);
        this.evaluations.push(`${ref}@${digest}`);
        return Promise.resolve({
          kind: 'error',
          code: 'BUDGET_RESERVED',
          reason: 'held back',
          transient: true,
        });
      }
    }
    const evaluator = new Reserved();
    const { policies } = rig({ evaluator });
    const images = ['registry.example/a:1', 'registry.example/b:1', 'registry.example/c:1'];
    const pods = [pod('p', 'web', images)];
    evaluator.held.add('b').add('c');
    const memo = new Map();
    const first = await scanRunning(policies, pods, { fresh: true, concurrency: 1, memo });
    assert.deepEqual(first.findings.map((f) => `${f.image} ${f.result}`).sort(), [
      'registry.example/a:1 pass',
      'registry.example/b:1 skip',
      'registry.example/c:1 skip',
    ]);
    assert.deepEqual([first.verified, first.skipped], [1, 2]);
    assert.equal(memo.size, 3, 'skips are kept');

    evaluator.held.clear();
    evaluator.evaluations = [];
    const reused = await scanRunning(policies, pods, {
      fresh: false,
      concurrency: 1,
      known: memo,
      memo: new Map(),
    });
    assert.equal(evaluator.evaluations.length, 0, 'a scan that is not fresh does not try them again');
    assert.equal(reused.findings.filter((f) => f.result === 'skip').length, 2);

    const fresh = await scanRunning(policies, pods, {
      fresh: true,
      concurrency: 1,
      known: memo,
      memo: new Map(),
    });
    assert.deepEqual(
      evaluator.evaluations
        .slice(0, 2)
        .map((e) => e.split('@')[0])
        .sort(),
      ['registry.example/b:1', 'registry.example/c:1'],
      'the images skipped last time go first',
    );
    assert.deepEqual(
      fresh.findings.map((f) => f.result),
      ['pass', 'pass', 'pass'],
    );
  });
});
