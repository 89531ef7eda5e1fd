// The shared store on Redis. The only module importing ioredis (why ioredis:
// docs/availability.md). A circuit breaker on top stops asking a failing server at all.
import { Redis } from 'ioredis';
import { DEFAULT_COMMAND_TIMEOUT_MS, type KeyValueStore } from './shared.ts';

export interface RedisSettings {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  readonly url: string;
  /** Overrides the URL's password (read from a Secret rather than written in arguments). */
  readonly password?: string;
  /** Extra CA certificates (PEM) trusted for rediss://. */
  readonly ca?: string;
  /** Longest wait for one command: an admission never waits longer on Redis per call. */
  readonly commandTimeoutMs: number;
  /** Consecutive failures that open the breaker, and how long it stays open. */
  readonly breakerFailures: number;
  readonly breakerOpenMs: number;
  /** The breaker opened (Redis is skipped) or closed again. */
  readonly onStateChange: (state: 'unavailable' | 'available', reason: string) => void;
}

export const DEFAULT_REDIS_BOUNDS = {
  commandTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
  breakerFailures: 3,
  breakerOpenMs: 5000,
} as const;

const DELETE_IF_EQUALS =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/**
 * Closed: every call goes to Redis. After `failures` consecutive failures, open: calls answer
 * at once as a miss, for `openMs`; then one probe call decides whether it closes again.
 */
class Breaker {
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  readonly #s: RedisSettings;

  constructor(settings: RedisSettings) {
    this.#s = settings;
  }

  allow(): boolean {
    if (this.#openUntil === 0) return true;
    if (performance.now() < this.#openUntil || this.#probing) return false;
    this.#probing = true;
    return true;
  }

  succeeded(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#openUntil !== 0) {
      this.#openUntil = 0;
      this.#s.onStateChange('available', 'a probe succeeded');
    }
  }

  failed(err: unknown): void {
    this.#probing = false;
    if (++this.#failures < this.#s.breakerFailures && this.#openUntil === 0) return;
    const opening = this.#openUntil === 0;
    this.#openUntil = performance.now() + this.#s.breakerOpenMs;
    if (opening) this.#s.onStateChange('unavailable', err instanceof Error ? err.message : String(err));
  }
}

/**
 * A store on the Redis server at `settings.url`, once connected or after 2 s, whichever comes
 * first: an unreachable server is not an error (the breaker answers misses until it is back).
 */
export async function connectRedisStore(settings: RedisSettings): Promise<KeyValueStore> {
  const url = new URL(settings.url);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`cache url: expected redis:// or rediss://, got ${url.protocol}//`);
  }
  const client = new Redis(settings.url, {
    commandTimeout: settings.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...(settings.password === undefined ? {} : { password: settings.password }),
    ...(url.protocol === 'rediss:' && settings.ca !== undefined ? { tls: { ca: settings.ca } } : {}),
  });
  const breaker = new Breaker(settings);
  // Connection errors also fail the commands that meet them: the breaker hears of them there.
  client.on('error', () => {});
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const run = async <T>(command: () => Promise<T>, fallback: T): Promise<T> => {
    if (!breaker.allow()) return fallback;
    try {
      const result = await command();
      breaker.succeeded();
      return result;
    } catch (err) {
      breaker.failed(err);
      return fallback;
    }
  };
  return {
    get: (keys) =>
      run(
        async () => (await client.mget(...keys)).map((v) => v ?? undefined),
        keys.map(() => undefined),
      ),
    set(key, value, ttlMs) {
      void run(() => client.set(key, value, 'PX', Math.ceil(ttlMs)), undefined);
    },
    // Unreachable: granted, so the caller verifies itself rather than waiting on nobody.
    setIfAbsent: (key, token, ttlMs) =>
      run(async () => (await client.set(key, token, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK', true),
    deleteIfEquals(key, token) {
      void run(() => client.eval(DELETE_IF_EQUALS, 1, key, token), undefined);
    },
    async close() {
      await Promise.race([client.quit().catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
      client.disconnect();
    },
  };
}
