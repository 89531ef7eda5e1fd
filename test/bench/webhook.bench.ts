// Load benchmark over HTTPS with the real components: a loopback Distribution registry holding
// three GPG-signed images (signed by skopeo 1.9.3 into a lookaside), a policy.json requiring
// signedBy for them, and a realistic 3-container Pod AdmissionReview. Measured, in the same run:
//   - a bare fastify HTTPS handler that parses the review and answers "allowed" (the floor),
//   - portcullis with its caches warm (16 connections),
//   - portcullis with every cache disabled: each admission resolves 3 tags (HEAD), fetches 3
//     manifests and their signatures, and verifies them (1 connection, latency).
// Every server and the load generator run in processes of their own (the orchestrator only
// waits), with the same body, the same certificate and the same fastify TLS and body settings.
//
// On a shared machine throughput follows the neighbours' load; server CPU per request is the
// figure foreign load distorts least (and only upwards: the best round is printed beside the
// median). The generator's own CPU per request is printed too: when it costs as much as the
// server, the generator, not the server, sets the pace.
//
//   node_modules/.bin/node test/bench/webhook.bench.ts [--duration SECONDS] [--rounds N]
//     [--workers N]        autocannon worker threads in the generator process (0: its main thread)
//     [--generator wrk]    load from wrk (C, Debian package) instead of autocannon: it needs a
//                          fraction of autocannon's CPU, so the server gets more of the machine
//     [--rate N]           autocannon sends N reviews/s in all instead of as many as it can: both
//                          servers then face the same arrivals, and `cpu µs` compares their cost
//                          per review without the feedback of a saturated loopback (a slower
//                          server leaves the generator idle more, and each answer then also pays
//                          for waking it)
//     [--body realistic|small]   the review: a realistic Pod (3.6 KB) or containers with names
//                          and images only
//     [--kinds echo,cached,cold,cached-crds,echo-beside,echo-x2,cached-x2]   (default: the first
//                          three; cached-crds: also watching the policy CRDs and pull secrets of
//                          an in-memory cluster, as the chart runs it, which holds the pull
//                          secret the review's pod names, for the images' registry;
//                          echo-beside: the echo served by a process that also runs an idle
//                          portcullis, to tell the cost of its loaded code, heap and timers
//                          from the cost of its request path)
import { type ChildProcess, execFile, fork } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import { DockerTransport } from '../../src/image/transports/docker/index.ts';
import { startKube } from '../../src/kube/index.ts';
import { startServer } from '../../src/server.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { startRegistry } from '../helpers/registry.ts';
import { gnupgHome } from '../image/signature/gnupg.ts';
import { FakeCluster, pullSecret } from '../kube/fake-cluster.ts';
import { realComponents, serverConfig, skopeoPush, writeRegistriesD } from '../webhook/real-server.ts';
import { realisticPodReview, smallPodReview } from './pod-review.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

type Kind = 'echo' | 'cached' | 'cached-crds' | 'cold' | 'echo-beside';
/** `-x2`: two node:cluster processes sharing the port, to see how far the machine goes. */
type Serving = Kind | `${Kind}-x2`;

/** Child process with `-x2`: a cluster primary over two workers; CPU figures are their sum. */
async function serveClustered(kind: Kind, work: string): Promise<void> {
  cluster.setupPrimary({ exec: fileURLToPath(import.meta.url), args: ['--serve', kind, work] });
  const workers = [cluster.fork(), cluster.fork()];
  const ports = await Promise.all(
    workers.map(async (w) => ((await once(w, 'message')) as [{ port: number }])[0].port),
  );
  const ask = async (w: Worker) => {
    const reply = once(w, 'message') as Promise<[{ cpuMicros: number; systemMicros: number }]>;
    w.send('cpu');
    return (await reply)[0];
  };
  process.on('SIGINT', async () => {
    const exits = workers.map((w) => once(w, 'exit'));
    for (const w of workers) w.process.kill('SIGINT');
    await Promise.all(exits);
    process.exit(0);
  });
  process.on('message', async () => {
    const figures = await Promise.all(workers.map(ask));
    process.send?.({
      cpuMicros: figures.reduce((sum, f) => sum + f.cpuMicros, 0),
      systemMicros: figures.reduce((sum, f) => sum + f.systemMicros, 0),
    });
  });
  process.send?.({ port: ports[0] });
}

/** Child process: autocannon against `url`, a warm-up then the measured run, reporting both. */
async function generate(
  url: string,
  bodyFile: string,
  connections: number,
  seconds: number,
  workers: number,
  rate: number,
) {
  const options = {
    ...(rate > 0 ? { overallRate: rate } : {}),
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: await readFile(bodyFile, 'utf8'),
    connections,
    ...(workers > 0 ? { workers } : {}),
  };
  await autocannon({ ...options, duration: 2 });
  // The parent reads the server's CPU now, and again when the result arrives.
  process.send?.('measuring');
  await once(process, 'message');
  const before = ownCpuMicros();
  const result = await autocannon({ ...options, duration: seconds });
  process.send?.({ result, cpuMicros: ownCpuMicros() - before });
}

/**
 * Starts `portcullis serve` in this process (caches off for `cold`; for `cached-crds` also
 * watching the policy CRDs and pull secrets of an in-memory cluster holding no policy and the
 * review's pull secret, as the chart runs it) and returns its port.
 */
async function startPortcullis(kind: Kind, work: string): Promise<number> {
  const environment = { env: {}, home: work, defaultLookaside: `file://${work}/lookaside` };
  const cache =
    kind === 'cold'
      ? { maxEntries: 1, allowedTtlMs: 0, deniedTtlMs: 0, digestTtlMs: 0, staleIfErrorMs: 0 }
      : DEFAULT_CACHE_LIMITS;
  const components = realComponents(work, new DockerTransport(environment));
  const crds =
    kind === 'cached-crds'
      ? startKube({
          api: await clusterWithPullSecret(work),
          compile: components.compilePolicy,
          namespace: 'portcullis-system',
          identity: 'bench-0',
          onError: () => {},
        })
      : undefined;
  const server = await startServer(
    serverConfig(work, { deadlineMs: 8000, logLevel: 'warn', cache }),
    crds === undefined ? components : { ...components, crds },
  );
  return server.port;
}

/** An in-memory cluster holding the pull secret the review's pod names, for the policy's registry. */
async function clusterWithPullSecret(work: string): Promise<FakeCluster> {
  const policy = JSON.parse(await readFile(join(work, 'policy.json'), 'utf8')) as {
    transports: { docker: Record<string, unknown> };
  };
  const [host] = Object.keys(policy.transports.docker);
  const auth = Buffer.from('robot$shop+ci:0123456789abcdef0123456789abcdef').toString('base64');
  const cluster = new FakeCluster();
  const config = JSON.stringify({ auths: { [host!]: { auth } } });
  cluster.apply('secrets', pullSecret('shop', 'registry-credentials', config));
  return cluster;
}

/** Child process: serves one kind of server from the prepared work directory. */
async function serve(kind: Kind, work: string): Promise<void> {
  const certPath = join(work, 'tls.crt');
  const keyPath = join(work, 'tls.key');
  let port: number;
  if (kind === 'echo-beside') await startPortcullis('cached', work);
  if (kind === 'echo' || kind === 'echo-beside') {
    const app = Fastify({
      https: { cert: await readFile(certPath), key: await readFile(keyPath) },
      bodyLimit: 4 << 20,
    });
    app.post('/validate', async (request) => {
      const uid = (request.body as { request: { uid: string } }).request.uid;
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  } else port = await startPortcullis(kind, work);
  process.on('SIGINT', () => process.exit(0));
  // CPU time is the figure a shared machine cannot distort: the parent asks before and after.
  process.on('message', () => {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpuMicros: user + system, systemMicros: system });
  });
  process.send?.({ port });
}

/** Registry, signed images, policy, registries.d and a certificate in `work`. */
async function prepare(work: string, host: string, images: readonly string[]): Promise<void> {
  const gpg = await gnupgHome();
  try {
    const fingerprint = await gpg.generate('Bench <bench@example.com>', 'ed25519');
    await writeFile(join(work, 'trusted.gpg'), await gpg.exportPublic(fingerprint));
    await writeRegistriesD(work, host);
    for (const image of images) await skopeoPush(work, image, ['--sign-by', fingerprint], gpg.env);
  } finally {
    await gpg.remove();
  }
  const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: join(work, 'trusted.gpg') };
  await writeFile(
    join(work, 'policy.json'),
    JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [host]: [signedBy] } } }),
  );
  await writeSelfSignedCertificate(work, ['127.0.0.1']);
}

async function startChild(kind: Serving, work: string): Promise<{ child: ChildProcess; port: number }> {
  // BENCH_CPU_PROF=DIR writes a CPU profile of every server process to DIR.
  const profile = process.env.BENCH_CPU_PROF;
  const execArgv = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind, work], { stdio: 'inherit', execArgv });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: message.port };
}

async function post(port: number, body: string): Promise<string> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(
      `https://127.0.0.1:${port}/validate`,
      { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function cpuMicros(child: ChildProcess): Promise<{ cpu: number; system: number }> {
  const reply = once(child, 'message') as Promise<[{ cpuMicros: number; systemMicros: number }]>;
  child.send('cpu');
  const [{ cpuMicros, systemMicros }] = await reply;
  return { cpu: cpuMicros, system: systemMicros };
}

interface Measured {
  readonly result: AutocannonResult;
  /** Server CPU time per answered request. */
  readonly cpuMicrosPerRequest: number;
  /** The load generator's CPU time per answered request (all its threads). */
  readonly loadMicrosPerRequest: number;
}

function ownCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** wrk's figures in autocannon's shape; its CPU is measured by bash's `time`. */
async function wrk(
  url: string,
  bodyFile: string,
  connections: number,
  seconds: number,
): Promise<{ result: AutocannonResult; cpuMicros: number }> {
  const script = `${bodyFile}.lua`;
  await writeFile(
    script,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n` +
      `local f = io.open("${bodyFile}", "r")\nwrk.body = f:read("*a")\nf:close()\n`,
  );
  const { stdout, stderr } = await promisify(execFile)(
    'bash',
    [
      '-c',
      `TIMEFORMAT='%U %S'; time wrk -t1 -c${connections} -d${seconds}s --latency -s "$1" "$2"`,
      'wrk',
      script,
      url,
    ],
    { maxBuffer: 1 << 20 },
  );
  const number = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? Number.NaN);
  const ms = (re: RegExp) => {
    const m = re.exec(stdout);
    if (m === null) return Number.NaN;
    const factor = { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'] ?? Number.NaN;
    return Math.round(Number(m[1]) * factor * 100) / 100;
  };
  const [user, system] = stderr.trim().split(/\s+/).slice(-2).map(Number);
  return {
    result: {
      requests: { average: number(/Requests\/sec:\s+([\d.]+)/), total: number(/(\d+) requests in/) },
      latency: {
        p50: ms(/50%\s+([\d.]+)(us|ms|s)/),
        p90: ms(/90%\s+([\d.]+)(us|ms|s)/),
        p99: ms(/99%\s+([\d.]+)(us|ms|s)/),
        average: ms(/Latency\s+([\d.]+)(us|ms|s)/),
        max: ms(/Latency(?:\s+[\d.]+(?:us|ms|s|%)){2}\s+([\d.]+)(us|ms|s)/),
      },
      errors: number(/Socket errors:.*?(\d+)/) || 0,
      timeouts: 0,
      non2xx: number(/Non-2xx or 3xx responses: (\d+)/) || 0,
    },
    cpuMicros: ((user ?? 0) + (system ?? 0)) * 1e6,
  };
}

async function load(
  child: ChildProcess,
  port: number,
  body: string,
  connections: number,
  seconds: number,
  workers: number,
  generator: { readonly wrk: boolean; readonly bodyFile: string; readonly rate: number },
): Promise<Measured> {
  const answer = await post(port, body);
  if (!answer.includes('"allowed":true')) throw new Error(`bench: expected an admission, got ${answer}`);
  if (generator.wrk) {
    const url = `https://127.0.0.1:${port}/validate`;
    await wrk(url, generator.bodyFile, connections, 2);
    const before = await cpuMicros(child);
    const { result, cpuMicros: loadCpu } = await wrk(url, generator.bodyFile, connections, seconds);
    const after = await cpuMicros(child);
    const total = Math.max(1, result.requests.total);
    return {
      result,
      cpuMicrosPerRequest: (after.cpu - before.cpu) / total,
      loadMicrosPerRequest: loadCpu / total,
    };
  }
  const generatorProcess = fork(
    fileURLToPath(import.meta.url),
    [
      '--load',
      `https://127.0.0.1:${port}/validate`,
      generator.bodyFile,
      String(connections),
      String(seconds),
      String(workers),
      String(generator.rate),
    ],
    { stdio: 'inherit', env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' } },
  );
  try {
    await once(generatorProcess, 'message');
    const before = await cpuMicros(child);
    generatorProcess.send('go');
    const [{ result, cpuMicros: loadCpu }] = (await once(generatorProcess, 'message')) as [
      { result: AutocannonResult; cpuMicros: number },
    ];
    const after = await cpuMicros(child);
    if (process.env.BENCH_SYS)
      console.log('system share', (after.system - before.system) / (after.cpu - before.cpu));
    const total = Math.max(1, result.requests.total);
    return {
      result,
      cpuMicrosPerRequest: (after.cpu - before.cpu) / total,
      loadMicrosPerRequest: loadCpu / total,
    };
  } finally {
    if (generatorProcess.exitCode === null) generatorProcess.kill();
  }
}

function row(
  name: string,
  { result: r, cpuMicrosPerRequest, loadMicrosPerRequest }: Measured,
  bestCpu: number,
): string {
  const failures = r.errors + r.timeouts + r.non2xx;
  const cells = [
    r.requests.average.toFixed(0),
    r.latency.p50,
    r.latency.p99,
    r.latency.max,
    cpuMicrosPerRequest.toFixed(0),
    bestCpu.toFixed(0),
    loadMicrosPerRequest.toFixed(0),
    failures,
  ];
  return `${name.padEnd(44)}${cells.map((c) => String(c).padStart(9)).join('')}`;
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

async function main(): Promise<void> {
  const seconds = flag('--duration', 10);
  const rounds = flag('--rounds', 3);
  const workers = flag('--workers', 0);
  const generatorAt = process.argv.indexOf('--generator');
  const useWrk = generatorAt >= 0 && process.argv[generatorAt + 1] === 'wrk';
  const kindsAt = process.argv.indexOf('--kinds');
  const kinds = kindsAt < 0 ? ['echo', 'cached', 'cold'] : process.argv[kindsAt + 1]!.split(',');
  const work = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
  const registry = await startRegistry();
  const images = [
    `${registry.host}/shop/checkout:1.4.2`,
    `${registry.host}/shop/proxy:2.0.1`,
    `${registry.host}/shop/migrate:1.4.2`,
  ] as const;
  const bodyAt = process.argv.indexOf('--body');
  const small = bodyAt >= 0 && process.argv[bodyAt + 1] === 'small';
  const uid = '5f0e9a8c-1111-4222-8333-000000000042';
  const body = JSON.stringify(small ? smallPodReview(uid, images) : realisticPodReview(uid, images));
  const bodyFile = join(work, 'review.json');
  await writeFile(bodyFile, body);
  const rate = flag('--rate', 0);
  if (rate > 0 && useWrk) throw new Error('bench: --rate needs autocannon (wrk has no fixed rate)');
  const generator = { wrk: useWrk, bodyFile, rate };
  const runs = (
    [
      ['echo', 'bare fastify HTTPS echo, 16 connections', 16],
      ['cached', 'portcullis cached, 16 connections', 16],
      ['cached-crds', 'cached, policy CRDs watched, 16 conn.', 16],
      ['echo-beside', 'echo beside an idle portcullis, 16 conn.', 16],
      ['cold', 'portcullis cold (no caches), 1 connection', 1],
      ['echo-x2', 'echo, 2 cluster processes, 16 connections', 16],
      ['cached-x2', 'cached, 2 cluster processes, 16 conn.', 16],
    ] as Array<[Serving, string, number]>
  ).filter(([kind]) => kinds.includes(kind));
  const loads: number[] = [];
  // The machine is shared: alternate the servers for several rounds and report each one's
  // median round, so a burst of foreign load does not land on one side only.
  const results: Measured[][] = runs.map(() => []);
  try {
    await prepare(work, registry.host, images);
    for (let round = 0; round < rounds; round++) {
      for (const [i, [kind, , connections]] of runs.entries()) {
        const { child, port } = await startChild(kind, work);
        try {
          results[i]!.push(await load(child, port, body, connections, seconds, workers, generator));
          loads.push(loadavg()[0]!);
        } finally {
          // SIGINT exits cleanly (profiles are written on exit).
          const exited = once(child, 'exit');
          child.kill('SIGINT');
          await exited;
        }
      }
    }
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
  const median = (rs: Measured[]) =>
    [...rs].sort((a, b) => a.result.requests.average - b.result.requests.average)[Math.floor(rs.length / 2)]!;
  const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const bestCpu = (rs: Measured[]) => Math.min(...rs.map((r) => r.cpuMicrosPerRequest));
  console.log(
    `HTTPS, ${small ? 'small' : 'realistic'} 3-container Pod AdmissionReview (${body.length} bytes), median of ${rounds} alternating ${seconds} s rounds, ` +
      `load generator: ${useWrk ? 'wrk, one thread' : `autocannon in its own process, ${workers > 0 ? `${workers} worker threads` : 'main thread'}${rate > 0 ? `, ${rate} reviews/s` : ''}`}, ` +
      `loadavg ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)} on ${availableParallelism()} cores`,
  );
  console.log(
    `${'server'.padEnd(44)}${['req/s', 'p50 ms', 'p99 ms', 'max ms', 'cpu µs', 'best µs', 'load µs', 'failed'].map((h) => h.padStart(9)).join('')}`,
  );
  for (const [i, [, name]] of runs.entries())
    console.log(row(name, median(results[i]!), bestCpu(results[i]!)));
  const echo = runs.findIndex(([kind]) => kind === 'echo');
  const cached = runs.findIndex(([kind]) => kind === 'cached');
  if (echo >= 0 && cached >= 0) {
    // Per round, so both sides of each ratio met the same neighbours.
    const ratios = results[echo]!.map((e, r) => {
      const c = results[cached]![r]!;
      return {
        throughput: c.result.requests.average / e.result.requests.average,
        cpu: e.cpuMicrosPerRequest / c.cpuMicrosPerRequest,
      };
    });
    console.log(
      `cached / echo: throughput ${medianOf(ratios.map((r) => r.throughput)).toFixed(2)}x, ` +
        `server CPU per review ${medianOf(ratios.map((r) => r.cpu)).toFixed(2)}x (medians of the per-round ratios), ` +
        `best rounds ${(bestCpu(results[echo]!) / bestCpu(results[cached]!)).toFixed(2)}x`,
    );
  }
}

const serving = process.argv[3] as Serving;
if (process.argv[2] === '--load') {
  const [url, bodyFile, connections, seconds, workers, rate] = process.argv.slice(3);
  await generate(url!, bodyFile!, Number(connections), Number(seconds), Number(workers), Number(rate));
} else if (process.argv[2] !== '--serve') await main();
else if (serving.endsWith('-x2')) await serveClustered(serving.slice(0, -3) as Kind, process.argv[4]!);
else await serve(serving as Kind, process.argv[4]!);
