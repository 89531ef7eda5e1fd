// An HTTPS client on a thread of its own, timing each answer from before it sends to the last byte,
// as the API server counts: a test may then stall its own event loop (where the webhook runs)
// without stalling the clock that judges it.
import { once } from 'node:events';
import { Agent, request } from 'node:https';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export interface TimedRun {
  readonly port: number;
  readonly ca: string;
  /** Keep-alive connections, opened (TLS included) before anything is timed. */
  readonly connections: number;
  /** Each POSTed to /validate, `spacingMs` after the one before. */
  readonly bodies: readonly string[];
  readonly spacingMs: number;
}

export interface TimedAnswer {
  readonly ms: number;
  readonly status: number;
  readonly body: string;
}

function send(agent: Agent, port: number, method: string, path: string, body?: string): Promise<TimedAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () =>
        resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, body: text }),
      );
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    if (body !== undefined) req.setHeader('content-type', 'application/json');
    req.end(body);
  });
}

async function run(job: TimedRun): Promise<TimedAnswer[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections, ca: job.ca });
  try {
    await Promise.all(
      Array.from({ length: job.connections }, () => send(agent, job.port, 'GET', '/healthz')),
    );
    const answers: Promise<TimedAnswer>[] = [];
    for (const body of job.bodies) {
      answers.push(send(agent, job.port, 'POST', '/validate', body));
      await new Promise((r) => setTimeout(r, job.spacingMs));
    }
    return await Promise.all(answers);
  } finally {
    agent.destroy();
  }
}

/** Runs `job` on a worker thread; resolves with the answers in the order of `job.bodies`. */
export async function timedReviews(job: TimedRun): Promise<TimedAnswer[]> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  try {
    const [result] = (await once(worker, 'message')) as [{ answers?: TimedAnswer[]; error?: string }];
    if (result.answers === undefined) throw new Error(`timed client: ${result.error}`);
    return result.answers;
  } finally {
    await worker.terminate();
  }
}

if (!isMainThread && parentPort !== null) {
  run(workerData as TimedRun).then(
    (answers) => parentPort?.postMessage({ answers }),
    (err: unknown) => parentPort?.postMessage({ error: String(err) }),
  );
}
