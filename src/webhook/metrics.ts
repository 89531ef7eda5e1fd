// Prometheus metrics of the webhook. The only module importing prom-client.
import { Counter, Histogram, Registry } from 'prom-client';
import type { CheckObserver, Stage } from '../policy/index.ts';

export type Decision = 'allowed' | 'denied' | 'warned' | 'audited' | 'skipped' | 'invalid';

export interface Metrics extends CheckObserver {
  admission(decision: Decision, mode: string, seconds: number): void;
  /** The text exposition format, and its content type. */
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

// Sub-millisecond cache hits up to the 30 s webhook maximum.
const BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A private registry per instance, so several servers (and tests) never share counters. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const admissions = new Counter({
    name: 'portcullis_admissions_total',
    help: 'Admission reviews answered, by decision and mode.',
    labelNames: ['decision', 'mode'] as const,
    registers: [registry],
  });
  const admissionSeconds = new Histogram({
    name: 'portcullis_admission_duration_seconds',
    help: 'Time to answer one admission review.',
    buckets: BUCKETS,
    registers: [registry],
  });
  const stages = new Histogram({
    name: 'portcullis_stage_duration_seconds',
    help: 'Image check latency by stage: policy (decided by the policy alone), cache (answered from the verdict cache), resolve, fetch_signatures, verify (the work of cache misses).',
    labelNames: ['stage'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  const cache = new Counter({
    name: 'portcullis_cache_requests_total',
    help: 'Cache lookups, by cache (verdict, digest) and result (hit, miss).',
    labelNames: ['cache', 'result'] as const,
    registers: [registry],
  });
  const registryRequests = new Counter({
    name: 'portcullis_registry_requests_total',
    help: 'HTTP requests to registries, by status (HTTP status code or error).',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  // Children are resolved once per label set: labels() costs a hash per call on the hot path.
  const allStages: readonly Stage[] = ['policy', 'resolve', 'fetch_signatures', 'verify', 'cache'];
  const stageChildren = new Map(allStages.map((s) => [s, stages.labels(s)]));
  const cacheChildren = new Map(
    ['verdict', 'digest'].flatMap((c) => [
      [`${c}/true`, cache.labels(c, 'hit')],
      [`${c}/false`, cache.labels(c, 'miss')],
    ]),
  );
  return {
    admission(decision, mode, seconds) {
      admissions.inc({ decision, mode });
      admissionSeconds.observe(seconds);
    },
    stage(stage, seconds) {
      stageChildren.get(stage)?.observe(seconds);
    },
    cache(name, hit) {
      cacheChildren.get(`${name}/${hit}`)?.inc();
    },
    registryRequest(status) {
      registryRequests.inc({ status });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
