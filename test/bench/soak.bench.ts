// Fault soak: `portcullis serve` (its own process, the production components) in front of a
// loopback Distribution registry behind a fault-injecting proxy, under steady mixed admission load
// while the proxy cycles through calm, latency, resets, 429 bursts (Retry-After within and beyond
// the deadline), 503 bursts and a mix of all of them. Checked on every answer: it came before the
// deadline (as the client measures it, TLS and queueing included; the chart gives the API server's
// timeout one second more than the answer deadline), and nothing was admitted that was not
// verified (unsigned and missing images are always refused; an admitted image, fresh or stale,
// pins exactly the digest that was signed).
// Reported: answers by outcome, latencies, faults injected, and the server's RSS, heap and open
// file descriptors (sockets among them) at the start, every minute (with its deadline margin), at
// the end and after an idle settle. Everything listens on 127.0.0.1 and stops by itself after the duration.
//
//   node_modules/.bin/node test/bench/soak.bench.ts [--minutes 10] [--rate 100] [--phase-seconds 20]
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DockerTransport } from '../../src/image/transports/docker/index.ts';
import { startServer } from '../../src/server.ts';
import type { Fault, FaultPlan } from '../helpers/fault-proxy.ts';
import { realComponents, type SignedRegistry, serverConfig, signedRegistry } from '../webhook/real-server.ts';
import { podSpec, review, workload } from '../webhook/rig.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '100' },
    'phase-seconds': { type: 'string', default: '20' },
    serve: { type: 'string' },
  },
});
const DEADLINE_MS = 3000;
/** What the API server waits (timeoutSeconds): the chart sets the answer deadline 1 s below it. */
const WEBHOOK_TIMEOUT_MS = DEADLINE_MS + 1000;
const SIGNED = 16;
const UNSIGNED = 4;
const MISSING = 2;
const LANES = 8;
const SETTLE_MS = 35_000;

interface Resources {
  readonly rss: number;
  readonly heapUsed: number;
  readonly fds: number;
  readonly sockets: number;
}

function ownResources(): Resources {
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      fds++;
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed, fds, sockets };
}

/** Child process: the webhook on the prepared work directory, answering resource samples. */
async function serve(work: string): Promise<void> {
  const environment = { env: {}, home: work, defaultLookaside: `file://${work}/lookaside` };
  // Short cache lifetimes, so that the registry (and its faults) is met all along.
  const cache = {
    maxEntries: 10_000,
    allowedTtlMs: 5000,
    deniedTtlMs: 1000,
    digestTtlMs: 2000,
    staleIfErrorMs: 3_600_000,
  };
  const server = await startServer(
    serverConfig(work, { deadlineMs: DEADLINE_MS, logLevel: 'silent', cache }),
    realComponents(work, new DockerTransport(environment)),
  );
  process.on('message', (message) => {
    if (message === 'sample') {
      process.send?.(ownResources());
      return;
    }
    void server.close().then(() => process.exit(0));
  });
  process.send?.({ port: server.port });
}

/** A small seeded generator: the same run of faults and images for the same settings. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(18);

interface Phase {
  readonly name: string;
  readonly fault: () => Fault;
}

const PASS: Fault = { kind: 'pass' };
const PHASES: readonly Phase[] = [
  { name: 'calm', fault: () => PASS },
  { name: 'latency 0-800 ms', fault: () => ({ kind: 'delay', ms: Math.floor(random() * 800) }) },
  { name: 'resets (1 in 3)', fault: () => (random() < 1 / 3 ? { kind: 'reset' } : PASS) },
  {
    name: '429 burst, Retry-After 1 s',
    fault: () => ({ kind: 'status', status: 429, headers: { 'retry-after': '1' } }),
  },
  { name: 'calm', fault: () => PASS },
  {
    name: '429 burst, Retry-After 20 s',
    fault: () => ({ kind: 'status', status: 429, headers: { 'retry-after': '20' } }),
  },
  { name: '503 burst (2 in 3)', fault: () => (random() < 2 / 3 ? { kind: 'status', status: 503 } : PASS) },
  {
    name: 'mixed',
    fault: () => {
      const r = random();
      if (r < 0.1) return { kind: 'delay', ms: Math.floor(random() * 1500) };
      if (r < 0.15) return { kind: 'reset' };
      if (r < 0.2) return { kind: 'status', status: 503 };
      if (r < 0.23) return { kind: 'status', status: 429, headers: { 'retry-after': '2' } };
      if (r < 0.24) return { kind: 'hang' };
      return PASS;
    },
  },
];

interface Image {
  readonly name: string;
  readonly kind: 'signed' | 'unsigned' | 'missing';
  /** The digest pushed (signed images): the only one an admission may pin. */
  digest?: string;
}

interface Tally {
  reviews: number;
  allowed: number;
  denied: number;
  stale: number;
  afterDeadline: number;
  afterTimeout: number;
  /** Answers after the deadline, by the phase their review started in and their outcome. */
  late: Map<string, number>;
  /** Admissions of something unverified, or pinned to another digest: must stay 0. */
  violations: string[];
  errors: number;
  latencies: number[];
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
const describe = (r: Resources) =>
  `rss ${mib(r.rss)}, heap ${mib(r.heapUsed)}, fds ${r.fds} (sockets ${r.sockets})`;

async function sample(child: ChildProcess): Promise<Resources> {
  const reply = once(child, 'message') as Promise<[Resources]>;
  child.send('sample');
  return (await reply)[0];
}

function post(
  agent: Agent,
  port: number,
  path: string,
  body: string,
): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.setTimeout(DEADLINE_MS * 4, () => req.destroy(new Error('no answer')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The server's deadline margin (portcullis_deadline_margin_seconds), in ms, from its /metrics. */
function margin(port: number, ca: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false, ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => {
        const seconds = /^portcullis_deadline_margin_seconds ([0-9.e-]+)$/m.exec(text)?.[1];
        resolve(seconds === undefined ? 'unknown' : `${(Number(seconds) * 1000).toFixed(0)} ms`);
      });
    });
    req.setTimeout(DEADLINE_MS, () => req.destroy());
    req.on('error', () => resolve('unknown'));
    req.end();
  });
}

/** The digest an admission pins for the image at `index` of the pod, if any. */
function pinned(patch: string | undefined, index: number): string | undefined {
  if (patch === undefined) return undefined;
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString()) as { path: string; value: string }[];
  const op = ops.find((o) => o.path === `/spec/containers/${index}/image`);
  return op?.value.split('@')[1];
}

async function judgeOne(
  agent: Agent,
  port: number,
  pool: readonly Image[],
  tally: Tally,
  phase: string,
): Promise<void> {
  const count = 1 + Math.floor(random() * 3);
  const chosen = Array.from({ length: count }, () => {
    const r = random();
    const kind = r < 0.8 ? 'signed' : r < 0.93 ? 'unsigned' : 'missing';
    const of = pool.filter((i) => i.kind === kind);
    return of[Math.floor(random() * of.length)]!;
  });
  const path = random() < 0.5 ? '/mutate' : '/validate';
  const uid = `soak-${tally.reviews}`;
  const body = JSON.stringify(
    review('', 'Pod', workload('', 'Pod', podSpec(chosen.map((i) => i.name))), { uid }),
  );
  tally.reviews++;
  let answer: Awaited<ReturnType<typeof post>>;
  try {
    answer = await post(agent, port, path, body);
  } catch {
    tally.errors++;
    return;
  }
  tally.latencies.push(answer.ms);
  if (answer.ms >= WEBHOOK_TIMEOUT_MS) tally.afterTimeout++;
  const response = (JSON.parse(answer.text) as { response?: Record<string, unknown> }).response ?? {};
  if (answer.ms >= DEADLINE_MS) {
    tally.afterDeadline++;
    const stale = ((response.warnings as string[] | undefined) ?? []).length > 0;
    const key = `${phase}: ${response.allowed === true ? (stale ? 'stale' : 'allowed') : 'denied'}`;
    tally.late.set(key, (tally.late.get(key) ?? 0) + 1);
  }
  if (answer.status !== 200 || response.uid !== uid) {
    tally.violations.push(`${uid}: status ${answer.status}, uid ${String(response.uid)}`);
    return;
  }
  if (response.allowed !== true) {
    tally.denied++;
    return;
  }
  tally.allowed++;
  const warnings = (response.warnings as string[] | undefined) ?? [];
  if (warnings.some((w) => w.includes('admitted on its verification of'))) tally.stale++;
  for (const [i, image] of chosen.entries()) {
    if (image.kind !== 'signed') tally.violations.push(`${uid}: admitted ${image.kind} image ${image.name}`);
    const pin = path === '/mutate' ? pinned(response.patch as string | undefined, i) : image.digest;
    if (pin !== image.digest)
      tally.violations.push(`${uid}: ${image.name} pinned to ${pin}, signed ${image.digest}`);
  }
}

async function main(): Promise<void> {
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const phaseMs = Number(values['phase-seconds']) * 1000;
  const durationMs = minutes * 60_000;
  // Whatever happens, nothing outlives the duration by more than the set-up and settle allowance.
  const hardStop = setTimeout(
    () => {
      console.error('soak: hard stop');
      process.exit(2);
    },
    durationMs + 15 * 60_000,
  );
  hardStop.unref();

  const fixture: SignedRegistry = await signedRegistry();
  let child: ChildProcess | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: LANES, ca: fixture.ca });
  try {
    const pool: Image[] = [
      ...Array.from({ length: SIGNED }, (_, i) => ({
        name: `${fixture.host}/ns/signed-${i}:v1`,
        kind: 'signed' as const,
      })),
      ...Array.from({ length: UNSIGNED }, (_, i) => ({
        name: `${fixture.host}/ns/unsigned-${i}:v1`,
        kind: 'unsigned' as const,
      })),
      ...Array.from({ length: MISSING }, (_, i) => ({
        name: `${fixture.host}/ns/missing-${i}:v1`,
        kind: 'missing' as const,
      })),
    ];
    for (const image of pool) {
      if (image.kind === 'missing') continue;
      await fixture.push(image.name.slice(fixture.host.length + 1), image.kind === 'signed');
      const repo = image.name.slice(fixture.host.length + 1, -':v1'.length);
      const head = await fetch(`${fixture.registry.url}/v2/${repo}/manifests/v1`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      image.digest = head.headers.get('docker-content-digest') ?? undefined;
    }
    child = fork(fileURLToPath(import.meta.url), ['--serve', fixture.work], { stdio: 'inherit' });
    const [{ port }] = (await once(child, 'message')) as [{ port: number }];
    const idle = await sample(child);

    const faults = new Map<string, number>();
    let phase = PHASES[0]!;
    const plan: FaultPlan = () => {
      const fault = phase.fault();
      const kind = fault.kind === 'status' ? String(fault.status) : fault.kind;
      faults.set(kind, (faults.get(kind) ?? 0) + 1);
      return fault;
    };
    fixture.proxy.set(plan);

    const tally: Tally = {
      reviews: 0,
      allowed: 0,
      denied: 0,
      stale: 0,
      afterDeadline: 0,
      afterTimeout: 0,
      late: new Map(),
      violations: [],
      errors: 0,
      latencies: [],
    };
    const started = performance.now();
    const endAt = started + durationMs;
    let stop = false;
    const lane = async () => {
      while (!stop && performance.now() < endAt) {
        const at = performance.now();
        await judgeOne(agent, port, pool, tally, phase.name);
        const pause = (LANES * 1000) / rate - (performance.now() - at);
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      }
    };
    // Warm up on a calm registry, so the first sample sees a running server with its caches filled.
    const warm = Promise.all(Array.from({ length: LANES }, lane));
    await new Promise((r) => setTimeout(r, Math.min(30_000, durationMs / 4)));
    const first = await sample(child);
    const samples: string[] = [];
    const phases: string[] = [];
    const schedule = setInterval(() => {
      const elapsed = performance.now() - started;
      const next = PHASES[Math.floor(elapsed / phaseMs) % PHASES.length]!;
      if (next !== phase) {
        phase = next;
        phases.push(next.name);
      }
    }, 250);
    const minute = setInterval(() => {
      void Promise.all([sample(child!), margin(port, fixture.ca)]).then(([r, m]) => {
        const t = ((performance.now() - started) / 60_000).toFixed(1);
        samples.push(
          `  ${t.padStart(5)} min  ${describe(r)}  proxy sockets ${fixture.proxy.sockets()}  loadavg ${loadavg()[0]!.toFixed(1)}  deadline margin ${m}`,
        );
      });
    }, 60_000);
    await warm;
    stop = true;
    clearInterval(schedule);
    clearInterval(minute);
    phase = PHASES[0]!;
    const last = await sample(child);
    agent.destroy();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const settled = await sample(child);

    const sorted = [...tally.latencies].sort((a, b) => a - b);
    console.log(
      `soak: ${minutes} min at ~${rate} reviews/s (${LANES} lanes), deadline ${DEADLINE_MS} ms, phases of ${phaseMs / 1000} s: ${[...new Set(PHASES.map((p) => p.name))].join(', ')}; ${availableParallelism()} cores, loadavg ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    console.log(
      `reviews ${tally.reviews}: allowed ${tally.allowed} (stale ${tally.stale}), denied ${tally.denied}, transport errors ${tally.errors}`,
    );
    console.log(
      `latency p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${(sorted.at(-1) ?? 0).toFixed(0)} ms; answers after the ${DEADLINE_MS} ms deadline: ${tally.afterDeadline}, after the API server's ${WEBHOOK_TIMEOUT_MS} ms timeout: ${tally.afterTimeout}`,
    );
    if (tally.late.size > 0) {
      console.log(
        `  late answers by phase and outcome: ${[...tally.late].map(([k, n]) => `${k} ${n}`).join(', ')}`,
      );
    }
    console.log(`admitted without verification or pinned to another digest: ${tally.violations.length}`);
    for (const v of tally.violations.slice(0, 10)) console.log(`  ${v}`);
    console.log(
      `registry: ${fixture.proxy.requests()} requests at the proxy, ${fixture.proxy.forwarded()} forwarded; injected ${[...faults].map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
    console.log(`server idle, before the load:        ${describe(idle)}`);
    console.log(`server at the start (after warm-up): ${describe(first)}`);
    for (const line of samples) console.log(line);
    console.log(`server at the end:                   ${describe(last)}`);
    console.log(`server after ${SETTLE_MS / 1000} s idle:            ${describe(settled)}`);
  } finally {
    agent.destroy();
    if (child !== undefined && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.send('stop');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await fixture.stop();
    clearTimeout(hardStop);
  }
}

if (values.serve !== undefined) await serve(values.serve);
else await main();
