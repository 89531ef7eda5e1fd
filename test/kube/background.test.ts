// Background verification on a replica that does not hold the Lease: it has nothing to scan, and
// its verifier must leave the event loop free (one that awaited a settled promise in a loop kept
// such replicas from answering their probes until the kubelet killed them).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

describe('BackgroundVerifier on a replica without the Lease', () => {
  it('starts, settles after a request and lets timers fire', async () => {
    // In a worker: a verifier that starves the event loop would starve the test's timers too.
    const worker = new Worker(new URL('./background-follower.ts', import.meta.url));
    try {
      const outcome = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => resolve('no answer within 20 s'), 20_000);
        worker.once('message', (message: string) => {
          clearTimeout(timer);
          resolve(message);
        });
        worker.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      assert.equal(outcome, 'settled');
    } finally {
      await worker.terminate();
    }
  });
});
