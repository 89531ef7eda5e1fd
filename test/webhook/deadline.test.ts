import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loopDelayMargin, MARGIN_FLOOR_MS, marginFor } from '../../src/webhook/loop-delay.ts';
import { selfSignedPair } from '../../src/webhook/tls.ts';
import { type AppRig, appRig, podSpec, review, workload } from './rig.ts';
import { timedReviews } from './timed-client.ts';

/** Keeps the event loop busy for `ms`, as verifying or a garbage collection does. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('the deadline margin', () => {
  const cases: Array<[name: string, stallMs: number, deadlineMs: number, marginMs: number]> = [
    ['is the floor on an idle loop', 0, 3000, MARGIN_FLOOR_MS],
    ['is the floor when no stall was measured yet', -10, 3000, MARGIN_FLOOR_MS],
    ['covers a stall on each side of the review', 40, 3000, MARGIN_FLOOR_MS + 80],
    ['is at most a tenth of the deadline', 10_000, 3000, 300],
    ['is at most a tenth of the deadline, below the floor for short ones', 0, 200, 20],
  ];
  for (const [name, stallMs, deadlineMs, marginMs] of cases) {
    it(name, () => assert.equal(marginFor(stallMs, deadlineMs), marginMs));
  }

  it('grows with the event-loop delay measured, up to its cap', async () => {
    const reported: number[] = [];
    const wide = loopDelayMargin(100_000, () => {});
    const capped = loopDelayMargin(2000, (ms) => reported.push(ms));
    try {
      assert.equal(wide.ms, MARGIN_FLOOR_MS);
      assert.deepEqual(reported, [MARGIN_FLOOR_MS]);
      await new Promise((r) => setTimeout(r, 50));
      spin(150);
      await new Promise((r) => setTimeout(r, 50));
      // A loaded machine stalls longer, never shorter.
      assert.ok(wide.ms >= MARGIN_FLOOR_MS + 2 * 130, `margin ${wide.ms} ms after a 150 ms stall`);
      assert.equal(capped.ms, 200);
      // The metric follows at the end of the window.
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(reported.at(-1), 200);
    } finally {
      wide.stop();
      capped.stop();
    }
  });

  it('is exposed as portcullis_deadline_margin_seconds', async () => {
    const rig = appRig({ deadlineMs: 2000 });
    try {
      const res = await rig.app.inject({ method: 'GET', url: '/metrics' });
      const value = /^portcullis_deadline_margin_seconds (\S+)$/m.exec(res.body)?.[1];
      // The floor, unless a window closed on a stall meanwhile; never above the cap.
      assert.ok(Number(value) >= MARGIN_FLOOR_MS / 1000 && Number(value) <= 0.2, `margin ${value} s`);
    } finally {
      await rig.app.close();
    }
  });
});

describe('answers reach the client before the deadline', () => {
  const pair = selfSignedPair(['127.0.0.1']);
  const image = (i: number) => `registry.example/team/app-${i}:1.0`;
  const body = (i: number) => JSON.stringify(review('', 'Pod', workload('', 'Pod', podSpec([image(i)]))));
  let rig: AppRig;
  let port: number;

  before(async () => {
    rig = appRig({ mode: 'enforce', deadlineMs: 2000, tls: pair });
    rig.resolver.behaviour = 'hang';
    await rig.app.listen({ host: '127.0.0.1', port: 0 });
    port = (rig.app.server.address() as AddressInfo).port;
  });
  after(() => rig.app.close());

  it('while the event loop stalls 40-80 ms at a time, most of the time', async () => {
    // The webhook shares this thread with the stalls; the client runs on its own.
    let stalling = true;
    const stalls = (async () => {
      while (stalling) {
        spin(40 + Math.random() * 40);
        await new Promise((r) => setTimeout(r, 60));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 300));
      const answers = await timedReviews({
        port,
        ca: pair.cert.toString(),
        // One connection per review, as the API server opens them: none waits for another's.
        connections: 16,
        bodies: Array.from({ length: 16 }, (_, i) => body(i)),
        spacingMs: 90,
      });
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        const { response } = JSON.parse(answer.body);
        assert.equal(response.allowed, false);
        assert.match(response.status.message, /no verdict within the 2s deadline: still resolving/);
      }
      const late = answers.map((a) => a.ms).filter((ms) => ms >= 2000);
      assert.deepEqual(late, [], `answers after the 2 s deadline (ms)`);
    } finally {
      stalling = false;
      await stalls;
    }
  });

  it('when the body arrives slowly: the clock starts with the request, not the body', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pair.cert });
    const exchange = (method: string, path: string, payload?: string, bodyDelayMs = 0) =>
      new Promise<{ ms: number; text: string }>((resolve, reject) => {
        const started = performance.now();
        const req = request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            text += d;
          });
          res.on('end', () => resolve({ ms: performance.now() - started, text }));
        });
        req.on('error', reject);
        if (payload === undefined) {
          req.end();
          return;
        }
        req.setHeader('content-type', 'application/json');
        req.setHeader('content-length', Buffer.byteLength(payload));
        req.flushHeaders();
        setTimeout(() => req.end(payload), bodyDelayMs);
      });
    try {
      await exchange('GET', '/healthz');
      const { ms, text } = await exchange('POST', '/validate', body(100), 600);
      assert.match(JSON.parse(text).response.status.message, /no verdict within the 2s deadline/);
      assert.ok(ms < 2000, `answered ${ms.toFixed(0)} ms after the request was sent`);
    } finally {
      agent.destroy();
    }
  });
});
