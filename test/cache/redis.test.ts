// The shared store and the shared cache on a real redis-server: TLS, passwords, and the server
// stopped, restarted or frozen never failing a call nor holding it past a small bound.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectRedisStore, type RedisSettings } from '../../src/cache/redis.ts';
import { type KeyValueStore, sharedCache } from '../../src/cache/shared.ts';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';

const COMMAND_TIMEOUT_MS = 100;
/** What a call may take at most while Redis misbehaves: its command timeout, and slack for a loaded machine. */
const BOUND_MS = COMMAND_TIMEOUT_MS + 400;

function settings(url: string, overrides: Partial<RedisSettings> = {}) {
  const events: string[] = [];
  return {
    events,
    settings: {
      url,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      breakerFailures: 3,
      breakerOpenMs: 300,
      onStateChange: (state: string) => events.push(state),
      ...overrides,
    } satisfies RedisSettings,
  };
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work;
  return { value, ms: performance.now() - started };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `get` until it answers `expected` (the breaker lets a probe through once its open time
 * passed), storing `expected` first each time when `write` is set.
 */
async function until(
  store: KeyValueStore,
  key: string,
  expected: string | undefined,
  write = false,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (write && expected !== undefined) store.set(key, expected, 60_000);
    if ((await store.get([key]))[0] === expected) return;
    if (Date.now() > deadline) throw new Error(`store never answered ${expected} for ${key}`);
    await sleep(50);
  }
}

describe('redis store', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  it('stores values for their ttl', async () => {
    const store = await connectRedisStore(settings(redis.url).settings);
    try {
      store.set('a', '1', 300);
      await until(store, 'a', '1');
      assert.deepEqual(await store.get(['a', 'absent']), ['1', undefined]);
      await sleep(400);
      assert.deepEqual(await store.get(['a']), [undefined]);
    } finally {
      await store.close();
    }
  });

  it('grants a lease once until it is released, and only by its holder', async () => {
    const store = await connectRedisStore(settings(redis.url).settings);
    try {
      assert.equal(await store.setIfAbsent('lease', 'mine', 5000), true);
      assert.equal(await store.setIfAbsent('lease', 'theirs', 5000), false);
      store.deleteIfEquals('lease', 'theirs');
      assert.equal(await store.setIfAbsent('lease', 'theirs', 5000), false);
      store.deleteIfEquals('lease', 'mine');
      await until(store, 'lease', undefined);
      assert.equal(await store.setIfAbsent('lease', 'theirs', 5000), true);
    } finally {
      await store.close();
    }
  });

  const faults: Array<
    [string, (r: TestRedis) => Promise<void> | void, (r: TestRedis) => Promise<void> | void]
  > = [
    ['stopped, then restarted on the same port', (r) => r.kill(), (r) => r.start()],
    ['frozen (SIGSTOP), then thawed', (r) => r.freeze(), (r) => r.thaw()],
  ];
  for (const [what, fault, recover] of faults) {
    it(`answers misses within the bound while ${what}, and comes back`, async () => {
      const { events, settings: s } = settings(redis.url);
      const store = await connectRedisStore(s);
      try {
        store.set('k', 'v', 60_000);
        await until(store, 'k', 'v');
        await fault(redis);
        try {
          for (let i = 0; i < 8; i++) {
            const { value, ms } = await timed(store.get(['k']));
            assert.deepEqual(value, [undefined]);
            assert.ok(ms < BOUND_MS, `a get took ${ms} ms`);
            const lease = await timed(store.setIfAbsent('lease', 't', 1000));
            assert.equal(lease.value, true, 'an unreachable store grants the lease');
            assert.ok(lease.ms < BOUND_MS, `a lease took ${lease.ms} ms`);
          }
          assert.deepEqual(events, ['unavailable']);
        } finally {
          await recover(redis);
        }
        await until(store, 'k', 'again', true);
        assert.deepEqual(events, ['unavailable', 'available']);
      } finally {
        await store.close();
      }
    });
  }

  it('answers misses at once once the breaker is open', async () => {
    const { settings: s } = settings(redis.url, { breakerOpenMs: 60_000 });
    const store = await connectRedisStore(s);
    try {
      redis.freeze();
      try {
        for (let i = 0; i < 3; i++) await store.get(['k']);
        const { ms } = await timed(store.get(['k']));
        assert.ok(ms < 20, `an open breaker still waited ${ms} ms`);
      } finally {
        redis.thaw();
      }
    } finally {
      await store.close();
    }
  });
});

describe('redis store with a password and TLS', () => {
  let redis: TestRedis;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-redis-tls-'));
    const { certPath, keyPath } = await writeSelfSignedCertificate(dir, ['127.0.0.1']);
    redis = await startRedis({ password: 's3cret', tls: { cert: certPath, key: keyPath, ca: certPath } });
  });
  after(async () => {
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('works over rediss:// with the CA and the password', async () => {
    const ca = await readFile(join(dir, 'tls.crt'), 'utf8');
    const store = await connectRedisStore(settings(redis.url, { password: 's3cret', ca }).settings);
    try {
      store.set('k', 'v', 60_000);
      await until(store, 'k', 'v');
    } finally {
      await store.close();
    }
  });

  const refused: Array<[string, Partial<RedisSettings>]> = [
    ['a wrong password', { password: 'wrong' }],
    ['no password', {}],
  ];
  for (const [what, overrides] of refused) {
    it(`misses, within the bound, with ${what}`, async () => {
      const ca = await readFile(join(dir, 'tls.crt'), 'utf8');
      const store = await connectRedisStore(settings(redis.url, { ca, ...overrides }).settings);
      try {
        store.set('k', 'v', 60_000);
        const { value, ms } = await timed(store.get(['k']));
        assert.deepEqual(value, [undefined]);
        assert.ok(ms < BOUND_MS, `a get took ${ms} ms`);
      } finally {
        await store.close();
      }
    });
  }
});

describe('shared cache records', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());
  const secret = Buffer.alloc(32, 7);
  const any = (v: unknown) => v as { n: number };

  it('reads back what another replica wrote, with the time it has left', async () => {
    const [a, b] = await Promise.all([
      connectRedisStore(settings(redis.url).settings),
      connectRedisStore(settings(redis.url).settings),
    ]);
    const one = sharedCache(a, secret, () => {});
    const two = sharedCache(b, secret, () => {});
    try {
      one.set('verdict', 'key', { n: 1 }, 60_000);
      await sleep(50);
      const hit = await two.get('verdict', 'key', any);
      assert.deepEqual(hit?.value, { n: 1 });
      assert.ok(hit !== undefined && hit.ttlMs > 50_000 && hit.ttlMs <= 60_000);
      assert.equal(await two.get('digest', 'key', any), undefined, 'kinds never meet');
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('ignores records it cannot verify: another secret, a record moved to another key, a forged one', async () => {
    const store = await connectRedisStore(settings(redis.url).settings);
    let tampered = 0;
    const mine = sharedCache(store, secret, () => tampered++);
    const theirs = sharedCache(store, Buffer.alloc(32, 8), () => {});
    try {
      theirs.set('verdict', 'other-secret', { n: 1 }, 60_000);
      mine.set('verdict', 'original', { n: 2 }, 60_000);
      await sleep(50);
      assert.equal(await mine.get('verdict', 'other-secret', any), undefined);
      const keys = (await redis.cli('--scan', '--pattern', 'portcullis:1:v:*')).split('\n');
      const values = await Promise.all(keys.map((k) => redis.cli('get', k)));
      const original = values.find((v) => v.includes('"n":2'))!;
      // The signed record of `original` copied under the key of `other-secret`.
      const otherKey = keys[values.findIndex((v) => v.includes('"n":1'))]!;
      await redis.cli('set', otherKey, original);
      assert.equal(await mine.get('verdict', 'other-secret', any), undefined);
      await redis.cli(
        'set',
        otherKey,
        `AAAA.${JSON.stringify({ value: { n: 3 }, expires: Date.now() + 60_000 })}`,
      );
      assert.equal(await mine.get('verdict', 'other-secret', any), undefined);
      assert.equal(tampered, 3);
      assert.deepEqual((await mine.get('verdict', 'original', any))?.value, { n: 2 });
    } finally {
      await mine.close();
    }
  });

  it('leases work to one replica; the others wait for its record, or take over when it gives up', async () => {
    const [a, b] = await Promise.all([
      connectRedisStore(settings(redis.url).settings),
      connectRedisStore(settings(redis.url).settings),
    ]);
    const one = sharedCache(a, secret, () => {});
    const two = sharedCache(b, secret, () => {});
    const signal = new AbortController().signal;
    try {
      const lease = await one.lease('verdict', 'work', 5000);
      assert.notEqual(lease, 'held');
      assert.equal(await two.lease('verdict', 'work', 5000), 'held');
      const waiting = two.awaitRecord('verdict', 'work', any, 5000, signal);
      await sleep(100);
      one.set('verdict', 'work', { n: 4 }, 60_000);
      assert.deepEqual((await waiting)?.value, { n: 4 });

      const second = await one.lease('verdict', 'abandoned', 5000);
      const started = performance.now();
      const gaveUp = two.awaitRecord('verdict', 'abandoned', any, 5000, signal);
      await sleep(100);
      if (second !== 'held') second.release();
      assert.equal(await gaveUp, undefined);
      assert.ok(performance.now() - started < 2000, 'waited on after the lease was released');
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});
