// Prometheus metrics of the webhook. The only module importing prom-client.
//
// The hot path only bumps plain numbers (a cached admission records a dozen observations, and
// prom-client hashes labels on each); prom-client renders them at scrape time.
import { Counter, Gauge, type Metric, Registry } from 'prom-client';
import type { BackgroundObserver, CheckObserver, RunningResult, Stage } from '../policy/index.ts';

export type Decision = 'allowed' | 'denied' | 'warned' | 'audited' | 'skipped' | 'invalid';

export interface Metrics extends CheckObserver {
  admission(decision: Decision, mode: string, seconds: number): void;
  /** An image admitted on a last-known-good verification, by the code of the registry failure. */
  staleAdmission(code: string): void;
  /** An image admitted by a break-glass exception of `namespace`. */
  exceptionAdmission(namespace: string): void;
  /** The shared cache became unavailable or available again, or served a record failing its signature. */
  sharedCacheEvent(event: 'unavailable' | 'available' | 'tampered'): void;
  /** How long before the answer deadline a review now stops waiting (loop-delay.ts). */
  deadlineMargin(seconds: number): void;
  /** The text exposition format, and its content type. */
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

// Sub-millisecond cache hits up to the 30 s webhook maximum.
const BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Fixed-bucket histogram series: one count per bucket (not cumulative), plus sum and count. */
class Series {
  readonly counts = new Float64Array(BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(value: number): void {
    let i = 0;
    while (i < BUCKETS.length && value > BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram with one label, in the shape prom-client's registry renders (its `get()`), fed by
 * plain Series objects.
 */
function histogram(name: string, help: string, label: string, series: ReadonlyMap<string, Series>): Metric {
  return {
    name,
    help,
    type: 'histogram',
    async get() {
      const values = [];
      for (const [labelValue, s] of series) {
        const labels = label === '' ? {} : { [label]: labelValue };
        let cumulative = 0;
        for (let i = 0; i <= BUCKETS.length; i++) {
          cumulative += s.counts[i]!;
          const le = i < BUCKETS.length ? BUCKETS[i]! : '+Inf';
          values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` });
        }
        values.push({ labels, value: s.sum, metricName: `${name}_sum` });
        values.push({ labels, value: s.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
  } as unknown as Metric;
}

/** A counter whose values live in `counts` (label values joined by `/`) until a scrape. */
function counter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  counts: Map<string, number>,
) {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, value] of counts) {
        const parts = key.split('/');
        this.inc(Object.fromEntries(labelNames.map((l, i) => [l, parts[i] ?? ''])), value);
      }
    },
  });
}

const bump = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);

/**
 * `a/b` for a pair of label values, the same string object every time: a string built per call
 * would be hashed again by each Map lookup.
 */
function labelKeys(): (a: string, b: string) => string {
  const keys = new Map<string, Map<string, string>>();
  return (a, b) => {
    let inner = keys.get(a);
    if (inner === undefined) {
      inner = new Map();
      keys.set(a, inner);
    }
    let key = inner.get(b);
    if (key === undefined) {
      key = `${a}/${b}`;
      inner.set(b, key);
    }
    return key;
  };
}

/** The metrics of background verification (`serve --verify-running`), in the webhook's registry. */
function backgroundMetrics(registry: Registry): BackgroundObserver {
  const scans = new Map<string, number>();
  const verifications = new Map<string, number>();
  const writes = new Map<string, number>();
  const scanSeconds = new Map([['', new Series()]]);
  counter(
    registry,
    'portcullis_background_scans_total',
    'Scans of the running pods, by trigger (start, leader, policy, schedule, pods, retry).',
    ['trigger'],
    scans,
  );
  registry.registerMetric(
    histogram(
      'portcullis_background_scan_duration_seconds',
      'Time to verify the running pods a scan covers and write their reports.',
      '',
      scanSeconds,
    ),
  );
  counter(
    registry,
    'portcullis_background_verifications_total',
    'Distinct (image, policies, credential scope) of running pods verified, by whether they were verified again (verified), reused from the previous scan (reused), or put off because the registry budget was down to the reserve kept for admissions (skipped).',
    ['outcome'],
    verifications,
  );
  counter(
    registry,
    'portcullis_report_writes_total',
    'Writes to the API server for running-image results, by operation (apply, delete of a policy report; event).',
    ['operation'],
    writes,
  );
  const images = new Gauge({
    name: 'portcullis_running_images',
    help: 'Images of running workloads (one per image per workload owner), by result of their last verification (pass, fail, error, skip).',
    labelNames: ['result'],
    registers: [registry],
  });
  const add = (counts: Map<string, number>, key: string, n: number) =>
    counts.set(key, (counts.get(key) ?? 0) + n);
  return {
    scan(trigger, seconds, distinct, verified, skipped) {
      bump(scans, trigger);
      scanSeconds.get('')!.observe(seconds);
      add(verifications, 'verified', verified);
      add(verifications, 'skipped', skipped);
      add(verifications, 'reused', distinct - verified - skipped);
    },
    reportWrites(operation, count) {
      add(writes, operation, count);
    },
    runningImages(counts: Readonly<Record<RunningResult, number>>) {
      for (const [result, n] of Object.entries(counts)) images.set({ result }, n);
    },
  };
}

/** A private registry per instance, so several servers (and tests) never share counters. */
export function createMetrics(): Metrics & { readonly background: BackgroundObserver } {
  const registry = new Registry();
  const admissions = new Map<string, number>();
  const cache = new Map<string, number>();
  const registryRequests = new Map<string, number>();
  const staleAdmissions = new Map<string, number>();
  const sharedCacheEvents = new Map<string, number>();
  const exceptionAdmissions = new Map<string, number>();
  const admissionSeconds = new Map([['', new Series()]]);
  const allStages: readonly Stage[] = ['policy', 'resolve', 'fetch_signatures', 'verify', 'cache'];
  const stages = new Map(allStages.map((s) => [s, new Series()]));
  counter(
    registry,
    'portcullis_admissions_total',
    'Admission reviews answered, by decision and mode.',
    ['decision', 'mode'],
    admissions,
  );
  registry.registerMetric(
    histogram(
      'portcullis_admission_duration_seconds',
      'Time to answer one admission review.',
      '',
      admissionSeconds,
    ),
  );
  registry.registerMetric(
    histogram(
      'portcullis_stage_duration_seconds',
      'Image check latency by stage: policy (decided by the policy alone), cache (answered from the verdict cache), resolve, fetch_signatures, verify (the work of cache misses).',
      'stage',
      stages,
    ),
  );
  counter(
    registry,
    'portcullis_cache_requests_total',
    'Cache lookups, by cache (verdict, digest; shared_verdict, shared_digest in the shared cache) and result (hit, miss).',
    ['cache', 'result'],
    cache,
  );
  counter(
    registry,
    'portcullis_registry_requests_total',
    'Registry operations (tag resolutions, manifest and signature reads), by HTTP status (or error when there was none).',
    ['status'],
    registryRequests,
  );
  counter(
    registry,
    'portcullis_stale_admissions_total',
    'Images admitted on a last-known-good verification because the registry failed transiently (stale-if-error), by failure code.',
    ['code'],
    staleAdmissions,
  );
  counter(
    registry,
    'portcullis_shared_cache_events_total',
    'Shared cache events: unavailable (the breaker opened, the local cache answers alone), available (closed again), tampered (a record failed its signature check).',
    ['event'],
    sharedCacheEvents,
  );
  counter(
    registry,
    'portcullis_exception_admissions_total',
    'Images admitted without verification by a break-glass exception (ImageTrustException), by namespace.',
    ['namespace'],
    exceptionAdmissions,
  );
  const margin = new Gauge({
    name: 'portcullis_deadline_margin_seconds',
    help: 'How long before the answer deadline a review stops waiting for verdicts: a floor plus twice the longest event-loop stall of the last seconds, at most a tenth of the deadline.',
    registers: [registry],
  });
  const background = backgroundMetrics(registry);
  const admissionSeries = admissionSeconds.get('')!;
  const admissionKey = labelKeys();
  const cacheKey = labelKeys();
  return {
    background,
    admission(decision, mode, seconds) {
      bump(admissions, admissionKey(decision, mode));
      admissionSeries.observe(seconds);
    },
    stage(stage, seconds) {
      stages.get(stage)?.observe(seconds);
    },
    cache(name, hit) {
      bump(cache, cacheKey(name, hit ? 'hit' : 'miss'));
    },
    registryRequest(status) {
      bump(registryRequests, status);
    },
    staleAdmission(code) {
      bump(staleAdmissions, code);
    },
    exceptionAdmission(namespace) {
      bump(exceptionAdmissions, namespace);
    },
    sharedCacheEvent(event) {
      bump(sharedCacheEvents, event);
    },
    deadlineMargin(seconds) {
      margin.set(seconds);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
