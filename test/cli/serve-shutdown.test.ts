// The SIGTERM sequence of real `portcullis serve` processes under load, behind a balancer that
// routes like a Service through kube-proxy: the terminating replica's endpoint disappears a moment
// after SIGTERM, its open keep-alive connections stay (conntrack), and the client pools connections
// as the API server's Go client does. No review may fail while it drains and stops.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { freePort } from '../helpers/registry.ts';
import { startTcpBalancer, type TcpBalancer } from '../helpers/tcp-balancer.ts';
import { podSpec, review, workload } from '../webhook/rig.ts';

const bin = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const SHUTDOWN_DELAY_MS = 3000;
/** How long after SIGTERM the endpoint is still routed to: well under the shutdown delay. */
const PROPAGATION_MS = 500;

interface Replica {
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

describe('portcullis serve: SIGTERM under load', () => {
  let dir: string;
  let ca: Buffer;
  let balancer: TcpBalancer;
  const replicas: Replica[] = [];

  async function start(certPath: string, keyPath: string, policy: string): Promise<Replica> {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        bin,
        'serve',
        `--listen=127.0.0.1:${port}`,
        `--tls-cert=${certPath}`,
        `--tls-key=${keyPath}`,
        `--policy=${policy}`,
        `--shutdown-delay=${SHUTDOWN_DELAY_MS}ms`,
        '--log-level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((settle) => child.once('exit', (code) => settle(code)));
    const replica = { port, child, exited, stderr: () => stderr };
    replicas.push(replica);
    balancer.add(port);
    const deadline = Date.now() + 20_000;
    while (!balancer.ready().includes(port)) {
      if (child.exitCode !== null || Date.now() > deadline)
        assert.fail(`serve did not become ready:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return replica;
  }

  let certPath: string;
  let keyPath: string;
  let policy: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-shutdown-'));
    ({ certPath, keyPath } = await writeSelfSignedCertificate(dir, ['127.0.0.1']));
    ca = await readFile(certPath);
    policy = join(dir, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    balancer = await startTcpBalancer(100);
    await Promise.all([start(certPath, keyPath, policy), start(certPath, keyPath, policy)]);
  });

  after(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await balancer?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a rolling restart of every replica: each keeps answering through its drain and exits 0, no review fails', async () => {
    // Keep-alive connections reused as long as the server lets them, as the API server's client does.
    const agent = new Agent({ keepAlive: true, maxSockets: 8, ca });
    const body = JSON.stringify(
      review('', 'Pod', workload('', 'Pod', podSpec(['registry.example/team/app:v1']))),
    );
    const failures: string[] = [];
    let answered = 0;
    const send = () =>
      new Promise<void>((settle) => {
        const req = request(
          `https://127.0.0.1:${balancer.port}/validate`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 10_000 },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => {
              text += d;
            });
            res.on('end', () => {
              if (res.statusCode === 200 && JSON.parse(text).response?.allowed === true) answered++;
              else failures.push(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
              settle();
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
        req.on('error', (err) => {
          failures.push(err.message);
          settle();
        });
        req.end(body);
      });

    const inFlight = new Set<Promise<void>>();
    let stop = false;
    // Bursts as wide as the pool keep every pooled connection in use, those to the leaving replica too.
    const loop = (async () => {
      while (!stop) {
        for (let i = 0; i < 8; i++) {
          const p = send();
          inFlight.add(p);
          void p.then(() => inFlight.delete(p));
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
    // As `kubectl rollout restart` with maxSurge 1, maxUnavailable 0: a new replica is ready, then
    // an old one is deleted; its endpoint goes away a moment after SIGTERM.
    const exits: { code: number | null; afterMs: number; answered: number; stderr: string }[] = [];
    for (const leaving of [...replicas]) {
      await start(certPath, keyPath, policy);
      const before = answered;
      leaving.child.kill('SIGTERM');
      const terminatedAt = Date.now();
      await new Promise((r) => setTimeout(r, PROPAGATION_MS));
      balancer.remove(leaving.port);
      const code = await leaving.exited;
      exits.push({
        code,
        afterMs: Date.now() - terminatedAt,
        answered: answered - before,
        stderr: leaving.stderr(),
      });
    }
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await loop;
    await Promise.all(inFlight);
    agent.destroy();

    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${answered + failures.length} reviews failed: ${failures.slice(0, 5).join('; ')}`,
    );
    for (const exit of exits) {
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /SIGTERM: finishing in-flight reviews/);
      assert.ok(exit.answered > 0, 'reviews answered while a replica drained');
      // It kept listening for the whole delay, and waited for little more than the reviews in flight.
      assert.ok(exit.afterMs >= SHUTDOWN_DELAY_MS, `exited ${exit.afterMs} ms after SIGTERM`);
      // In-flight reviews end within serve's deadline (8 s), and a connection is cut a second later.
      assert.ok(exit.afterMs < SHUTDOWN_DELAY_MS + 15_000, `exited ${exit.afterMs} ms after SIGTERM`);
    }
  });
});
