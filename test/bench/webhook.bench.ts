// Load benchmark over HTTPS: cached Pod admissions vs. a bare fastify HTTPS handler echoing an
// allowed response, same machine, same run. The server runs in a child process so it and the
// load generator (autocannon, 16 connections) each get a core.
//
//   node_modules/.bin/node test/bench/webhook.bench.ts [--duration SECONDS]
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import { startServer } from '../../src/server.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { FakeEvaluator, FakePullSecrets, FakeResolver } from '../policy/fakes.ts';
import { realisticPodReview } from './pod-review.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

async function serve(kind: string, certDir: string): Promise<void> {
  const cert = await readFile(join(certDir, 'tls.crt'));
  const key = await readFile(join(certDir, 'tls.key'));
  let port: number;
  if (kind === 'echo') {
    const app = Fastify({ https: { cert, key }, bodyLimit: 4 * 1024 * 1024 });
    app.post('/validate', async (request) => {
      const uid = (request.body as { request: { uid: string } }).request.uid;
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  } else {
    const server = await startServer(
      {
        policyPath: undefined,
        host: '127.0.0.1',
        port: 0,
        tlsCertPath: join(certDir, 'tls.crt'),
        tlsKeyPath: join(certDir, 'tls.key'),
        deadlineMs: 8000,
        mode: 'enforce',
        unknownKinds: 'allow',
        bodyLimit: 4 * 1024 * 1024,
        logLevel: 'info',
        platform: 'linux/amd64',
        watchIntervalMs: 2000,
        shutdownDelayMs: 0,
        cache: DEFAULT_CACHE_LIMITS,
      },
      {
        loadPolicy: async () => new FakeEvaluator(),
        resolver: new FakeResolver(),
        pullSecrets: new FakePullSecrets(),
      },
    );
    port = server.port;
  }
  process.on('SIGINT', () => process.exit(0));
  process.send?.({ port });
}

async function startChild(kind: string, certDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind, certDir], { stdio: 'inherit' });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: message.port };
}

async function load(port: number, seconds: number): Promise<AutocannonResult> {
  const body = JSON.stringify(realisticPodReview('5f0e9a8c-1111-4222-8333-000000000042'));
  const check = await fetchOnce(port, body);
  if (!check.includes('"allowed":true')) throw new Error(`bench: unexpected answer ${check}`);
  const options = {
    url: `https://127.0.0.1:${port}/validate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: 16,
  };
  await autocannon({ ...options, duration: 2 });
  return autocannon({ ...options, duration: seconds });
}

async function fetchOnce(port: number, body: string): Promise<string> {
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

function row(name: string, r: AutocannonResult): string {
  const failures = r.errors + r.timeouts + r.non2xx;
  return `${name.padEnd(34)} ${r.requests.average.toFixed(0).padStart(8)} ${String(r.latency.p50).padStart(7)} ${String(r.latency.p99).padStart(7)} ${String(r.latency.max).padStart(7)} ${String(failures).padStart(7)}`;
}

const ROUNDS = 3;

async function main(): Promise<void> {
  const durationIndex = process.argv.indexOf('--duration');
  const seconds = durationIndex < 0 ? 10 : Number(process.argv[durationIndex + 1]);
  const certDir = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
  await writeSelfSignedCertificate(certDir, ['127.0.0.1']);
  // The machine is shared: alternate the servers for several rounds and report each one's
  // median round, so a burst of foreign load does not land on one side only.
  const servers = [
    ['echo', 'bare fastify HTTPS echo'],
    ['webhook', 'portcullis, cached 3-image Pod'],
  ] as const;
  const rounds: AutocannonResult[][] = servers.map(() => []);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [kind]] of servers.entries()) {
        const { child, port } = await startChild(kind, certDir);
        try {
          rounds[i]!.push(await load(port, seconds));
        } finally {
          child.kill('SIGKILL');
        }
      }
    }
  } finally {
    await rm(certDir, { recursive: true, force: true });
  }
  const median = (rs: AutocannonResult[]) =>
    [...rs].sort((a, b) => a.requests.average - b.requests.average)[Math.floor(rs.length / 2)]!;
  const results = servers.map(([, name], i) => [name, median(rounds[i]!)] as const);
  console.log(
    `HTTPS, 16 connections, median of ${ROUNDS} alternating ${seconds} s rounds, realistic Pod AdmissionReview (3 images)`,
  );
  console.log(
    `${'server'.padEnd(34)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)} ${'failed'.padStart(7)}`,
  );
  for (const [name, r] of results) console.log(row(name, r));
}

if (process.argv[2] === '--serve') await serve(process.argv[3]!, process.argv[4]!);
else await main();
