import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import { type RunningServer, type ServerConfig, startServer } from '../src/server.ts';
import { writeSelfSignedCertificate } from '../src/webhook/tls.ts';
import { httpsRequest } from './helpers/https.ts';
import { FakeEvaluator, FakePullSecrets, FakeResolver } from './policy/fakes.ts';
import { serverConfig } from './webhook/real-server.ts';
import { podSpec, review, workload } from './webhook/rig.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, predicate: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('startServer over HTTPS', () => {
  let dir: string;
  let certPath: string;
  let keyPath: string;
  let policyPath: string;
  let server: RunningServer;
  let evaluator: FakeEvaluator;
  let loads = 0;
  let logs = '';

  const config = (): ServerConfig =>
    serverConfig(dir, { deadlineMs: 2000, logLevel: 'info', watchIntervalMs: 50, shutdownDelayMs: 1000 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-server-'));
    ({ certPath, keyPath } = await writeSelfSignedCertificate(dir, ['localhost', '127.0.0.1']));
    policyPath = join(dir, 'policy.json');
    await writeFile(policyPath, '{"default":[{"type":"reject"}]}');
    server = await startServer(config(), {
      async loadPolicy(path) {
        const text = await readFile(path!, 'utf8');
        evaluator = new FakeEvaluator();
        evaluator.policyHash = text;
        evaluator.sources = [path!];
        loads++;
        return evaluator;
      },
      resolver: new FakeResolver(),
      pullSecrets: new FakePullSecrets(),
      logDestination: new Writable({
        write(chunk, _e, done) {
          logs += chunk.toString();
          done();
        },
      }),
    });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers AdmissionReviews with the self-signed certificate', async () => {
    const ca = await readFile(certPath);
    const pod = review('', 'Pod', workload('', 'Pod', podSpec(['registry.example/unsigned/x:1'])));
    const res = await httpsRequest(`${server.url}/validate`, { ca, body: pod });
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body);
    assert.equal(body.response.uid, pod.request.uid);
    assert.equal(body.response.allowed, false);
    assert.match(logs, new RegExp(`"uid":"${pod.request.uid}"`));
  });

  it('reloads the policy when its file changes', async () => {
    const before = loads;
    await writeFile(policyPath, '{"default":[{"type":"insecureAcceptAnything"}]}');
    await until('policy reload', async () => loads > before);
    assert.equal(evaluator.policyHash, '{"default":[{"type":"insecureAcceptAnything"}]}');
  });

  it('keeps the previous policy when the new file does not load', async () => {
    // Let reloads of the previous write settle (a write can be seen as two changes).
    let seen = -1;
    while (seen !== loads) {
      seen = loads;
      await new Promise((r) => setTimeout(r, 300));
    }
    const previous = evaluator;
    await rm(policyPath);
    await until('policy reload failure', async () => logs.includes('policy not reloaded'));
    assert.equal(evaluator, previous);
    const res = await httpsRequest(`${server.url}/readyz`, { ca: await readFile(certPath) });
    assert.equal(res.status, 200);
  });

  it('serves a rotated certificate without restarting', async () => {
    const oldCa = await readFile(certPath);
    const first = await httpsRequest(`${server.url}/healthz`, { ca: oldCa });
    const rotated = await mkdtemp(join(tmpdir(), 'portcullis-rotated-'));
    const fresh = await writeSelfSignedCertificate(rotated, ['127.0.0.1']);
    await writeFile(keyPath, await readFile(fresh.keyPath));
    await writeFile(certPath, await readFile(fresh.certPath));
    const newCa = await readFile(certPath);
    await until('certificate reload', async () => {
      const r = await httpsRequest(`${server.url}/healthz`, { ca: newCa }).catch(() => undefined);
      return r !== undefined && r.fingerprint !== first.fingerprint;
    });
    await rm(rotated, { recursive: true, force: true });
  });

  it('on shutdown stays ready and answers through the drain, each answer closing its connection, then finishes in-flight reviews', async () => {
    const ca = await readFile(certPath);
    evaluator.delayMs = 400;
    const pod = review('', 'Pod', workload('', 'Pod', podSpec(['registry.example/team/slow:1'])));
    // A connection a client dialled ahead and never used: Node counts it as busy, close() must not wait for it.
    const spare = connect({ host: '127.0.0.1', port: server.port, ca });
    await new Promise((r) => spare.once('secureConnect', r));
    const spareClosed = new Promise((r) => spare.once('close', r));
    spare.on('error', () => {});
    const inFlight = httpsRequest(`${server.url}/validate`, { ca, body: pod });
    await sleep(50);
    const started = Date.now();
    const closing = server.close();
    // Still ready: a terminating endpoint that is ready is where kube-proxy sends traffic when no
    // other endpoint is ready.
    const ready = await httpsRequest(`${server.url}/readyz`, { ca });
    assert.equal(ready.status, 200);
    const during = await httpsRequest(`${server.url}/validate`, { ca, body: pod });
    assert.equal(during.status, 200);
    assert.equal(during.headers.connection, 'close');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).response.allowed, true);
    await closing;
    await spareClosed;
    // Done after the drain (1 s), not after the deadline (2 s) that cuts what is left.
    assert.ok(Date.now() - started < 1000 + 2000, `closed after ${Date.now() - started} ms`);
    await assert.rejects(httpsRequest(`${server.url}/healthz`, { ca }), { code: 'ECONNREFUSED' });
  });
});

/**
 * One kept-alive HTTP/1.1 connection written to by hand, as the API server's Go client keeps one
 * in its pool: the test decides when a request goes over it, as the client may at any moment.
 */
class KeptAliveConnection {
  readonly #socket: ReturnType<typeof connect>;
  #received = '';
  #closed = false;
  readonly closed: Promise<void>;

  private constructor(socket: ReturnType<typeof connect>) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.#received += d;
    });
    socket.on('error', () => {});
    this.closed = new Promise((settle) =>
      socket.once('close', () => {
        this.#closed = true;
        settle();
      }),
    );
  }

  static async open(port: number, ca: Buffer): Promise<KeptAliveConnection> {
    const socket = connect({ host: '127.0.0.1', port, ca });
    await new Promise((r, j) => socket.once('secureConnect', r).once('error', j));
    return new KeptAliveConnection(socket);
  }

  /** POSTs `body` and resolves with the status line and headers of the answer, or rejects when the connection ends first. */
  async post(path: string, body: unknown): Promise<{ status: number; headers: string }> {
    if (this.#closed) throw new Error('the server closed the connection');
    const payload = JSON.stringify(body);
    this.#received = '';
    this.#socket.write(
      `POST ${path} HTTP/1.1\r\nhost: webhook\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
    const deadline = Date.now() + 5000;
    for (;;) {
      const end = this.#received.indexOf('\r\n\r\n');
      if (end >= 0) {
        const headers = this.#received.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
        if (Buffer.byteLength(this.#received.slice(end + 4)) >= length) {
          return { status: Number(headers.split(' ')[1]), headers: headers.toLowerCase() };
        }
      }
      if (this.#closed) throw new Error('the server closed the connection before answering');
      if (Date.now() > deadline) throw new Error('no answer within 5 s');
      await sleep(10);
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

describe('startServer shutdown with a drain timeout', () => {
  let dir: string;
  let ca: Buffer;
  const SHUTDOWN_DELAY_MS = 300;
  const pod = review('', 'Pod', workload('', 'Pod', podSpec(['registry.example/team/app:1'])));

  const start = (drainTimeoutMs: number) =>
    startServer(serverConfig(dir, { shutdownDelayMs: SHUTDOWN_DELAY_MS, drainTimeoutMs, deadlineMs: 2000 }), {
      async loadPolicy() {
        return new FakeEvaluator();
      },
      resolver: new FakeResolver(),
      pullSecrets: new FakePullSecrets(),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-drain-'));
    ca = await readFile((await writeSelfSignedCertificate(dir, ['127.0.0.1'])).certPath);
    await writeFile(join(dir, 'policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a review sent on an idle kept-alive connection after the shutdown delay is answered, and the server stops once its client closes', async () => {
    const server = await start(10_000);
    try {
      const pooled = await KeptAliveConnection.open(server.port, ca);
      const spare = await KeptAliveConnection.open(server.port, ca);
      assert.equal((await pooled.post('/validate', pod)).status, 200);
      const started = Date.now();
      let stopped = false;
      const closing = server.close().then(() => {
        stopped = true;
      });
      // Past the delay, where an idle connection used to be closed under the client's feet.
      await sleep(SHUTDOWN_DELAY_MS + 700);
      const late = await pooled.post('/validate', pod);
      assert.equal(late.status, 200);
      assert.match(late.headers, /\nconnection: close/);
      await pooled.closed;
      // A connection dialled ahead and never used is the client's to use too.
      const first = await spare.post('/validate', pod);
      assert.equal(first.status, 200);
      await spare.closed;
      await closing;
      assert.ok(Date.now() - started < 5000, `stopped ${Date.now() - started} ms after close()`);
      assert.equal(stopped, true);
    } finally {
      await server.close();
    }
  });

  it('while reviews keep arriving on new connections (every endpoint terminating), it keeps answering, and stops once they stop', async () => {
    const server = await start(10_000);
    const started = Date.now();
    let stoppedAt = 0;
    const closing = server.close().then(() => {
      stoppedAt = Date.now();
    });
    const statuses: number[] = [];
    // Well past the delay (300 ms): kube-proxy still sends this replica new connections.
    while (Date.now() - started < 2500) {
      statuses.push((await httpsRequest(`${server.url}/validate`, { ca, body: pod })).status);
      await sleep(200);
    }
    const lastReview = Date.now();
    await closing;
    assert.ok(statuses.length >= 8, `${statuses.length} reviews`);
    assert.deepEqual(new Set(statuses), new Set([200]));
    // Two quiet seconds after the last review, not the drain timeout.
    assert.ok(stoppedAt - lastReview < 4000, `stopped ${stoppedAt - lastReview} ms after the last review`);
  });

  it('an idle connection its client keeps open is closed when the drain timeout ends', async () => {
    const server = await start(1000);
    const idle = await KeptAliveConnection.open(server.port, ca);
    assert.equal((await idle.post('/validate', pod)).status, 200);
    const started = Date.now();
    await server.close();
    await idle.closed;
    const took = Date.now() - started;
    assert.ok(took >= SHUTDOWN_DELAY_MS + 1000 - 50, `closed after ${took} ms`);
    assert.ok(took < SHUTDOWN_DELAY_MS + 1000 + 2000, `closed after ${took} ms`);
  });
});
