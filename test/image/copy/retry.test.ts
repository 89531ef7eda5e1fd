import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTemporary, withRetry } from '../../../src/image/copy/retry.ts';

test('temporary errors are found through causes; others are not retried', async () => {
  const inner = Object.assign(new Error('503'), { temporary: true });
  assert.equal(isTemporary(new Error('wrapped', { cause: inner })), true);
  assert.equal(isTemporary(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), true);
  assert.equal(isTemporary(new Error('404')), false);
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new Error('permanent');
      },
      3,
      1,
    ),
  );
  assert.equal(calls, 1);
});

test('Retry-After from the server sets the wait, and the retry budget is honoured', async () => {
  let calls = 0;
  const started = Date.now();
  const result = await withRetry(
    async () => {
      calls++;
      if (calls < 2) throw Object.assign(new Error('429'), { temporary: true, retryAfter: 0.2 });
      return 'ok';
    },
    2,
    1,
  );
  assert.equal(result, 'ok');
  assert.ok(Date.now() - started >= 190, 'waited as asked');
  calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw Object.assign(new Error('503'), { temporary: true });
      },
      2,
      1,
    ),
  );
  assert.equal(calls, 3);
});
