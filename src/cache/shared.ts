// The verdict cache every replica shares (behind each one's in-process cache): signed records
// in a key-value store, and short leases so one replica does the work the others wait for.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A key-value store shared by the replicas (src/cache/redis.ts). Every method is bounded in
 * time and never throws: an unavailable store answers like an empty one.
 */
/**
 * How long one shared-cache command may take (serve --cache-timeout). Not 100 ms: the bound races
 * the event loop as well as Redis, and an event loop busy verifying a storm of new images held
 * replies 130-230 ms on a loaded 2-core machine, so a 100 ms bound opened the breaker in every
 * such storm (test/bench/storm.bench.ts --cache-timeouts, docs/availability.md). A frozen Redis
 * costs an admission at most three of these before the breaker opens.
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = 500;

export interface KeyValueStore {
  /** The values of `keys` (undefined where absent or on failure). */
  get(keys: readonly string[]): Promise<readonly (string | undefined)[]>;
  /** Stores `value` for `ttlMs`; fire and forget. */
  set(key: string, value: string, ttlMs: number): void;
  /** Sets `key` to `token` for `ttlMs` unless it exists: true when this call set it. */
  setIfAbsent(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Deletes `key` if it still holds `token`; fire and forget. */
  deleteIfEquals(key: string, token: string): void;
  close(): Promise<void>;
}

/** What kind of record: keys of one kind never meet another's. */
export type RecordKind = 'verdict' | 'digest' | 'last-good-verdict' | 'last-resolution';

/** A record read back, and how long it has left (so a local copy expires with it). */
export interface SharedHit<T> {
  readonly value: T;
  readonly ttlMs: number;
}

/** A lease on one piece of work; release() when done (it expires by itself otherwise). */
export interface RecordLease {
  release(): void;
}

export interface SharedCache {
  /** True when there is no shared store (each replica alone): callers skip the round trips. */
  readonly local: boolean;
  /** The record, if one is there, intact, unexpired and accepted by `parse`. */
  get<T>(
    kind: RecordKind,
    key: string,
    parse: (value: unknown) => T | undefined,
  ): Promise<SharedHit<T> | undefined>;
  set(kind: RecordKind, key: string, value: unknown, ttlMs: number): void;
  /**
   * The lease on `kind`/`key` for `ttlMs`, or `held` when another replica holds it (a store that
   * cannot be reached grants it: the caller then works alone).
   */
  lease(kind: RecordKind, key: string, ttlMs: number): Promise<RecordLease | 'held'>;
  /**
   * Waits for the holder of the lease to publish the record: the record, or undefined when the
   * lease ends without one, `waitMs` passes, or `signal` aborts.
   */
  awaitRecord<T>(
    kind: RecordKind,
    key: string,
    parse: (value: unknown) => T | undefined,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<SharedHit<T> | undefined>;
  close(): Promise<void>;
}

const NO_LEASE: RecordLease = { release() {} };

/** No shared store: every replica on its own. */
export const NO_SHARED_CACHE: SharedCache = {
  local: true,
  get: async () => undefined,
  set() {},
  lease: async () => NO_LEASE,
  awaitRecord: async () => undefined,
  close: async () => {},
};

const PREFIX = 'portcullis:1:';
const POLL_MS = 20;
/** Records are small; anything larger did not come from a replica. */
const MAX_RECORD = 64 << 10;

const SHORT_KINDS: Record<RecordKind, string> = {
  verdict: 'v',
  digest: 'd',
  'last-good-verdict': 'g',
  'last-resolution': 'r',
};

/**
 * Records in `store`, each signed with HMAC-SHA256 under `secret` over its key and content: a
 * party that can write to the store but does not hold the secret cannot make a replica admit
 * anything (a record that does not verify is a miss). Keys are hashes of the cache keys, so
 * image names and credential scopes do not show in the store.
 */
export function sharedCache(store: KeyValueStore, secret: Uint8Array, onTampered: () => void): SharedCache {
  const storeKey = (kind: RecordKind, key: string, suffix = '') =>
    `${PREFIX}${SHORT_KINDS[kind]}${suffix}:${createHash('sha256').update(key).digest('base64url')}`;
  const mac = (key: string, body: string) =>
    createHmac('sha256', secret).update(key).update('\0').update(body);
  const decode = <T>(key: string, raw: string | undefined, parse: (value: unknown) => T | undefined) => {
    if (raw === undefined) return undefined;
    const dot = raw.indexOf('.');
    const body = raw.slice(dot + 1);
    const given = Buffer.from(raw.slice(0, Math.max(0, dot)), 'base64url');
    const expected = mac(key, body).digest();
    if (raw.length > MAX_RECORD || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      onTampered();
      return undefined;
    }
    let record: { value?: unknown; expires?: unknown };
    try {
      record = JSON.parse(body) as typeof record;
    } catch {
      return undefined;
    }
    const ttlMs = typeof record.expires === 'number' ? record.expires - Date.now() : 0;
    const value = ttlMs > 0 ? parse(record.value) : undefined;
    return value === undefined ? undefined : { value, ttlMs };
  };
  return {
    local: false,
    async get(kind, key, parse) {
      const k = storeKey(kind, key);
      const [raw] = await store.get([k]);
      return decode(k, raw, parse);
    },
    set(kind, key, value, ttlMs) {
      if (ttlMs <= 0) return;
      const k = storeKey(kind, key);
      const body = JSON.stringify({ value, expires: Date.now() + ttlMs });
      store.set(k, `${mac(k, body).digest('base64url')}.${body}`, ttlMs);
    },
    async lease(kind, key, ttlMs) {
      const k = storeKey(kind, key, 'l');
      const token = randomBytes(12).toString('base64url');
      if (!(await store.setIfAbsent(k, token, ttlMs))) return 'held';
      return { release: () => store.deleteIfEquals(k, token) };
    },
    async awaitRecord(kind, key, parse, waitMs, signal) {
      const k = storeKey(kind, key);
      const leaseKey = storeKey(kind, key, 'l');
      const until = performance.now() + waitMs;
      while (!signal.aborted && performance.now() < until) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const [raw, holder] = await store.get([k, leaseKey]);
        const hit = decode(k, raw, parse);
        if (hit !== undefined) return hit;
        if (holder === undefined) return undefined;
      }
      return undefined;
    },
    close: () => store.close(),
  };
}
