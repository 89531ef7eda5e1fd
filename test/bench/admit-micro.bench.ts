// In-process CPU cost of a cached admission without TLS or HTTP: admit() on a realistic
// 3-container Pod review whose verdicts and digests are cached, next to JSON.parse of the same
// body (which every server pays). The checker, caches, metrics and logger are the real ones; only
// the evaluator and the resolver are stand-ins (after the first review they are never called).
// Then the bytes admit() allocates per review, from V8's sampling heap profiler (every object
// sampled, those collected since included), the parsed bodies made beforehand. Last, the CPU cost
// again with the pod's pull secret read from an in-memory cluster (the review names one for the
// images' registry, as pods of private registries do): the credentials come from the real
// informer-backed source, and each image's cache key carries their scope.
//
//   node_modules/.bin/node test/bench/admit-micro.bench.ts [--reviews N]
import { Session } from 'node:inspector/promises';
import { Writable } from 'node:stream';
import { Coalescer, createTtlCache, DEFAULT_CACHE_LIMITS, NO_SHARED_CACHE } from '../../src/cache/index.ts';
import type { Digest } from '../../src/image/index.ts';
import { KubePullSecrets } from '../../src/kube/pull-secrets.ts';
import {
  ImageChecker,
  NO_PULL_SECRETS,
  type PullSecretSource,
  type TrustPolicy,
  type Verdict,
} from '../../src/policy/index.ts';
import { type AdmissionSettings, admit } from '../../src/webhook/admit.ts';
import { createLogger } from '../../src/webhook/log.ts';
import { createMetrics } from '../../src/webhook/metrics.ts';
import { FakeCluster, pullSecret } from '../kube/fake-cluster.ts';
import { realisticPodReview } from './pod-review.ts';

const CONCURRENCY = 16;

function settings(pullSecrets: PullSecretSource = NO_PULL_SECRETS): AdmissionSettings {
  const metrics = createMetrics();
  const evaluator: TrustPolicy = {
    policyHash: 'p'.repeat(64),
    trustHash: 't'.repeat(64),
    sources: [],
    decideWithoutImage: async () => undefined,
    evaluate: async (_ref, digest) => ({ kind: 'allowed', reason: 'signed', verified: true, digest }),
  };
  const checker = new ImageChecker({
    resolver: { resolve: async () => `sha256:${'a'.repeat(64)}` as Digest },
    evaluator: () => evaluator,
    verdicts: createTtlCache<Verdict>(DEFAULT_CACHE_LIMITS.maxEntries),
    digests: createTtlCache<{ digest: Digest }>(DEFAULT_CACHE_LIMITS.maxEntries),
    resolutions: new Coalescer<Digest>(16_000),
    evaluations: new Coalescer<Verdict>(16_000),
    platforms: { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] },
    ...DEFAULT_CACHE_LIMITS,
    stale: { windowMs: 0, verdicts: createTtlCache(1), resolutions: createTtlCache(1) },
    shared: NO_SHARED_CACHE,
    observer: metrics,
  });
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  return {
    checks: () => [{ mode: 'enforce', checker }],
    pullSecrets,
    mode: 'enforce',
    deadlineMs: 8000,
    unknownKinds: 'allow',
    metrics,
    logger: createLogger('warn', discard),
  };
}

/** CPU µs per call of `work`, CONCURRENCY calls in flight as under load. */
async function cpuMicros(reviews: number, work: () => unknown): Promise<number> {
  for (let i = 0; i < reviews / 5; i++) await work();
  const before = process.cpuUsage();
  let started = 0;
  const lane = async () => {
    while (started++ < reviews) await work();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const { user, system } = process.cpuUsage(before);
  return (user + system) / reviews;
}

const i = process.argv.indexOf('--reviews');
const reviews = i < 0 ? 200_000 : Number(process.argv[i + 1]);
const admission = settings();
const images = [
  'registry.example/shop/checkout:1.4.2',
  'registry.example/shop/proxy:2.0.1',
  'registry.example/shop/migrate:1.4.2',
] as const;
const body = JSON.stringify(realisticPodReview('5f0e9a8c-1111-4222-8333-000000000042', images));
const first = await admit(admission, JSON.parse(body), false);
if (!first.review.response.allowed)
  throw new Error(`bench: expected an admission, got ${JSON.stringify(first)}`);
const parse = await cpuMicros(reviews, async () => JSON.parse(body));
const both = await cpuMicros(reviews, () => admit(admission, JSON.parse(body), false));
console.log(
  `cached 3-container Pod review, ${body.length} bytes, ${CONCURRENCY} in flight, CPU µs per review`,
);
console.log(
  `JSON.parse ${parse.toFixed(2)}  JSON.parse + admit ${both.toFixed(2)}  admit ${(both - parse).toFixed(2)}`,
);

/** Bytes allocated per call of admit() on pre-parsed bodies, all objects sampled. */
async function allocatedBytes(count: number): Promise<number> {
  const bodies = Array.from({ length: count }, () => JSON.parse(body) as unknown);
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 1,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    for (const parsed of bodies) await admit(admission, parsed, false);
    const { profile } = await session.post('HeapProfiler.stopSampling');
    let bytes = 0;
    const add = (node: typeof profile.head): void => {
      bytes += node.selfSize;
      for (const child of node.children) add(child);
    };
    add(profile.head);
    return bytes / count;
  } finally {
    session.disconnect();
  }
}
console.log(`admit allocates ${(await allocatedBytes(2_000)).toFixed(0)} bytes per review`);

/** A cluster holding the review's pull secret, for registry.example, and its pull-secret source. */
async function clusterPullSecrets(): Promise<KubePullSecrets> {
  const cluster = new FakeCluster();
  const auth = Buffer.from('robot$shop+ci:0123456789abcdef0123456789abcdef').toString('base64');
  const config = { auths: { 'registry.example': { auth }, 'ghcr.io': { auth: 'b3RoZXI6b3RoZXI=' } } };
  cluster.apply('secrets', pullSecret('shop', 'registry-credentials', JSON.stringify(config)));
  const source = new KubePullSecrets(cluster, { baseDelayMs: 5, maxDelayMs: 20, onError: () => {} });
  await source.start();
  return source;
}
const secrets = await clusterPullSecrets();
const withSecret = settings(secrets);
const scoped = await admit(withSecret, JSON.parse(body), false);
if (!scoped.review.response.allowed)
  throw new Error(`bench: expected an admission, got ${JSON.stringify(scoped)}`);
const secretBoth = await cpuMicros(reviews, () => admit(withSecret, JSON.parse(body), false));
console.log(
  `with the pod's pull secret: JSON.parse + admit ${secretBoth.toFixed(2)}  admit ${(secretBoth - parse).toFixed(2)}`,
);
await secrets.stop();
