// Admission storm: 300 Pods over 60 distinct cold images, arriving within one second, against
// the real components (a loopback Distribution registry behind a counting proxy, GPG-signed
// images in a file lookaside). Reported: every answer's latency (p50, p99, max), answers after
// the deadline, and how many registry requests each distinct image cost. Then the same storm
// spread over 2 replicas sharing a real redis-server (fresh caches, fresh Redis): the registry
// should see the same count. Replicas and load run in this one process. Each line also gives the
// event loop's delay during the storm (what a Redis command timeout races against: a reply that
// arrived waits behind the work in progress) and how often the shared cache's breaker opened; with
// --cache-timeouts, the 2-replica storm runs once per Redis command timeout (fresh Redis each time).
//
//   node_modules/.bin/node test/bench/storm.bench.ts [--pods 300] [--images 60] [--window-ms 1000]
//     [--cache-timeouts 100,250,500]
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import type { RunningServer, ServerConfig } from '../../src/server.ts';
import { countRequest } from '../helpers/fault-proxy.ts';
import { startRedis } from '../helpers/redis.ts';
import { type SignedRegistry, signedRegistry, webhookClient } from '../webhook/real-server.ts';
import { podSpec, review, workload } from '../webhook/rig.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '300' },
    images: { type: 'string', default: '60' },
    'window-ms': { type: 'string', default: '1000' },
    'cache-timeouts': { type: 'string' },
  },
});
const PODS = Number(values.pods);
const IMAGES = Number(values.images);
const WINDOW_MS = Number(values['window-ms']);
const DEADLINE_MS = 8000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function storm(fixture: SignedRegistry, replicas: readonly RunningServer[], label: string) {
  const clients = replicas.map((r) => webhookClient(r, fixture.ca));
  const kinds = new Map<string, number>();
  fixture.proxy.set(({ method, path }) => {
    countRequest(kinds, method, path);
    return { kind: 'pass' };
  });
  const before = fixture.proxy.forwarded();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: PODS }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * WINDOW_MS) / PODS));
      const image = `${fixture.host}/ns/storm-${i % IMAGES}:v1`;
      const pod = review('', 'Pod', workload('', 'Pod', podSpec([image])), { uid: `storm-${i}` });
      return clients[i % clients.length]!.post('/validate', pod) as Promise<{ allowed: boolean; ms: number }>;
    }),
  );
  const wall = performance.now() - started;
  loop.disable();
  const opened = (
    await Promise.all(
      clients.map((c) => c.metric('portcullis_shared_cache_events_total', 'event="unavailable"')),
    )
  ).reduce((a, b) => a + b, 0);
  const latencies = answers.map((a) => a.ms).sort((a, b) => a - b);
  const requests = fixture.proxy.forwarded() - before;
  const line = [
    label.padEnd(26),
    `p50 ${percentile(latencies, 50).toFixed(0)} ms`,
    `p99 ${percentile(latencies, 99).toFixed(0)} ms`,
    `max ${latencies.at(-1)!.toFixed(0)} ms`,
    `after deadline ${latencies.filter((ms) => ms >= DEADLINE_MS).length}`,
    `denied ${answers.filter((a) => !a.allowed).length}`,
    `registry requests ${requests} (${(requests / IMAGES).toFixed(2)} per image: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`,
    `storm over in ${(wall / 1000).toFixed(2)} s`,
    `event loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms, max ${(loop.max / 1e6).toFixed(0)} ms`,
    ...(replicas.length > 1 ? [`shared cache breaker opened ${opened} times`] : []),
  ];
  console.log(line.join('  '));
}

async function main(): Promise<void> {
  const fixture = await signedRegistry();
  const redis = await startRedis();
  try {
    for (let i = 0; i < IMAGES; i += 6) {
      await Promise.all(
        Array.from({ length: Math.min(6, IMAGES - i) }, (_, j) => fixture.push(`ns/storm-${i + j}:v1`)),
      );
    }
    console.log(
      `storm: ${PODS} Pods over ${IMAGES} cold images within ${WINDOW_MS} ms, deadline ${DEADLINE_MS} ms`,
    );
    const base: Partial<ServerConfig> = {
      deadlineMs: DEADLINE_MS,
      logLevel: 'warn',
      cache: DEFAULT_CACHE_LIMITS,
    };
    const one = await fixture.replica(base);
    await storm(fixture, [one], '1 replica');
    await one.close();
    const timeouts = values['cache-timeouts']?.split(',').map(Number) ?? [undefined];
    for (const commandTimeoutMs of timeouts) {
      await redis.cli('FLUSHALL');
      const sharedCache = {
        url: redis.url,
        secret: randomBytes(32),
        ...(commandTimeoutMs === undefined ? {} : { commandTimeoutMs }),
      };
      const two = [
        await fixture.replica({ ...base, sharedCache }),
        await fixture.replica({ ...base, sharedCache }),
      ];
      const label = `2 replicas, shared Redis${commandTimeoutMs === undefined ? '' : `, ${commandTimeoutMs} ms`}`;
      // Left running (the fixture stops them): idle, they ask neither Redis nor the registry.
      await storm(fixture, two, label);
    }
  } finally {
    await fixture.stop();
    await redis.stop();
  }
}

await main();
