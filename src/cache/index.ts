// Bounded caches and in-flight coalescing for the webhook. The only module importing lru-cache.
import { LRUCache } from 'lru-cache';

/**
 * Default bounds: verdicts are keyed by content and policy generation, so an admitted verdict
 * can live long; denials only briefly (a fix must take effect fast); tags move, so briefly too.
 * Verified verdicts and tag resolutions are kept an hour longer for stale-if-error: long enough
 * to ride out a typical registry incident or rate-limit window, short enough that a tag's
 * last-known digest is not far behind (docs/availability.md).
 */
export const DEFAULT_CACHE_LIMITS = {
  maxEntries: 10_000,
  allowedTtlMs: 10 * 60_000,
  deniedTtlMs: 10_000,
  digestTtlMs: 30_000,
  staleIfErrorMs: 60 * 60_000,
} as const;

/** A bounded map whose entries expire; every entry carries its own time to live. */
export interface TtlCache<V> {
  /** The live value of `key`; `now` (a `performance.now()` time) saves reading the clock again. */
  get(key: string, now?: number): V | undefined;
  /** Stores `value` for `ttlMs` milliseconds; a ttl <= 0 stores nothing. */
  set(key: string, value: V, ttlMs: number): void;
  clear(): void;
  readonly size: number;
}

export function createTtlCache<V extends object>(maxEntries: number): TtlCache<V> {
  // Expiry is kept beside each value rather than with lru-cache's ttl: its per-read ttl
  // bookkeeping cost more than the rest of a cached admission. Expired entries are dropped when
  // read or evicted, which costs no timers.
  const lru = new LRUCache<string, { readonly value: V; readonly until: number }>({ max: maxEntries });
  // lru-cache's get() makes an options object per call when given none (and writes `status` to
  // the one it is given): one object shared by every read saves an allocation per read.
  const getOptions: LRUCache.GetOptions<string, { readonly value: V; readonly until: number }, unknown> = {};
  return {
    get: (key, now = performance.now()) => {
      const entry = lru.get(key, getOptions);
      if (entry === undefined) return undefined;
      if (entry.until > now) return entry.value;
      lru.delete(key);
      return undefined;
    },
    set: (key, value, ttlMs) => {
      if (ttlMs <= 0) return;
      lru.set(key, { value, until: performance.now() + ttlMs });
    },
    clear: () => lru.clear(),
    get size() {
      return lru.size;
    },
  };
}

/**
 * Runs at most one `work` per key at a time: callers asking for a key already in flight share
 * its promise. Each flight gets a signal aborted after `timeoutMs`, so a hung dependency never
 * keeps a flight (and its callers) alive longer than that.
 */
export class Coalescer<V> {
  readonly #flights = new Map<string, Promise<V>>();
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get inFlight(): number {
    return this.#flights.size;
  }

  run(key: string, work: (signal: AbortSignal) => Promise<V>): Promise<V> {
    const existing = this.#flights.get(key);
    if (existing !== undefined) return existing;
    const signal = AbortSignal.timeout(this.#timeoutMs);
    // Started a microtask later so the flight is registered before `work` can settle.
    const flight = Promise.resolve()
      .then(() => work(signal))
      .finally(() => this.#flights.delete(key));
    this.#flights.set(key, flight);
    return flight;
  }
}

export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  type KeyValueStore,
  NO_SHARED_CACHE,
  type RecordKind,
  type RecordLease,
  type SharedCache,
  type SharedHit,
  sharedCache,
} from './shared.ts';
