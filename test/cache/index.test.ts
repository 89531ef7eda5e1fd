import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer, createTtlCache } from '../../src/cache/index.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('createTtlCache', () => {
  it('returns entries until their own ttl passes', async () => {
    const cache = createTtlCache<{ v: number }>(10);
    cache.set('short', { v: 1 }, 300);
    cache.set('long', { v: 2 }, 10_000);
    assert.deepEqual(cache.get('short'), { v: 1 });
    await sleep(400);
    assert.equal(cache.get('short'), undefined);
    assert.deepEqual(cache.get('long'), { v: 2 });
  });
  it('judges expiry at the time a reader gives', () => {
    const cache = createTtlCache<{ v: number }>(10);
    cache.set('k', { v: 1 }, 1000);
    const now = performance.now();
    assert.deepEqual(cache.get('k', now + 900), { v: 1 });
    assert.equal(cache.get('k', now + 1100), undefined);
    // An expired entry is dropped when read: the real clock does not bring it back.
    assert.equal(cache.get('k'), undefined);
    assert.equal(cache.size, 0);
  });
  it('stores nothing for a ttl of zero', () => {
    const cache = createTtlCache<{ v: number }>(10);
    cache.set('k', { v: 1 }, 0);
    assert.equal(cache.get('k'), undefined);
    assert.equal(cache.size, 0);
  });
  it('evicts the least recently used entry beyond its bound', () => {
    const cache = createTtlCache<{ v: number }>(2);
    cache.set('a', { v: 1 }, 10_000);
    cache.set('b', { v: 2 }, 10_000);
    cache.get('a');
    cache.set('c', { v: 3 }, 10_000);
    assert.deepEqual([cache.get('a')?.v, cache.get('b')?.v, cache.get('c')?.v], [1, undefined, 3]);
  });
});

describe('Coalescer', () => {
  it('shares one flight between concurrent callers of a key', async () => {
    const coalescer = new Coalescer<number>(1000);
    let runs = 0;
    const work = async () => {
      runs++;
      await sleep(20);
      return runs;
    };
    const results = await Promise.all([
      coalescer.run('k', work),
      coalescer.run('k', work),
      coalescer.run('other', work),
    ]);
    assert.deepEqual(results.slice(0, 2), [results[0], results[0]]);
    assert.equal(runs, 2);
    assert.equal(coalescer.inFlight, 0);
  });
  it('starts a new flight once the previous one settled', async () => {
    const coalescer = new Coalescer<string>(1000);
    let runs = 0;
    await coalescer.run('k', async () => `${++runs}`);
    assert.equal(await coalescer.run('k', async () => `${++runs}`), '2');
  });
  it('forgets a flight whose work throws synchronously', async () => {
    const coalescer = new Coalescer<string>(1000);
    await assert.rejects(
      coalescer.run('k', () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(coalescer.inFlight, 0);
    assert.equal(await coalescer.run('k', async () => 'fresh'), 'fresh');
  });
  it('aborts a flight that outlives its timeout', async () => {
    const coalescer = new Coalescer<string>(40);
    const hung = coalescer.run(
      'k',
      (signal) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
    );
    await assert.rejects(hung, { name: 'TimeoutError' });
    assert.equal(coalescer.inFlight, 0);
  });
});
