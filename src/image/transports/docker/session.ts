// What the docker transport remembers about registries between requests, in one object: bearer
// tokens, per-registry request limiters and budgets, pings (answered and under way), registries
// without the referrers API, connection pools, where blobs were seen (cross-repository mount
// candidates), and the manifests and attachments written (so that concurrent copies of one image
// share them).
// A DockerTransport owns one; transports made without one share the process's, as every client
// did before. Each map keeps its most recently used entries up to a cap, and close() releases it
// all (the session stays usable: pools reopen on the next request).
import type { Digest } from '../../digest.ts';
import { JoinedFlight, Serializer, SingleFlight } from '../../single-flight.ts';
import type { Challenge, TokenCache } from './auth.ts';
import { abortError } from './errors.ts';
import { RegistryGate } from './gate.ts';
import { AgentPool } from './http.ts';

/** A Map holding at most `max` entries; the least recently used one leaves first. */
export class LruMap<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get size(): number {
    return this.#entries.size;
  }
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as K);
  }
  delete(key: K): void {
    this.#entries.delete(key);
  }
  clear(): void {
    this.#entries.clear();
  }
}

const WAITING_FOR_A_SLOT = 'waiting for a free request slot';

/** A small FIFO semaphore. */
export class Limiter {
  #active = 0;
  readonly #max: number;
  readonly #waiting: (() => void)[] = [];
  constructor(max: number) {
    this.#max = max;
  }
  /**
   * Undefined when a slot was free (no extra await on the hot path), else a promise of one, which
   * fails (leaving the queue) when `signal` aborts first.
   */
  acquire(signal?: AbortSignal): Promise<void> | undefined {
    if (this.#active < this.#max) {
      this.#active++;
      return undefined;
    }
    if (signal?.aborted === true) return Promise.reject(abortError(WAITING_FOR_A_SLOT));
    return new Promise<void>((resolve, reject) => {
      const granted = () => {
        signal?.removeEventListener('abort', abandon);
        resolve();
      };
      const abandon = () => {
        const at = this.#waiting.indexOf(granted);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(abortError(WAITING_FOR_A_SLOT));
      };
      signal?.addEventListener('abort', abandon, { once: true });
      this.#waiting.push(granted);
    });
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#active--;
  }
}

/**
 * A registry's request budget: at most `pulls` manifest reads (GET, what Docker Hub counts as
 * pulls) per `periodMs`, as a token bucket holding `pulls` tokens that refills evenly over the
 * period (its RegistryGate, gate.ts). Other requests (HEAD, blobs, pings) are not metered.
 */
export interface RegistryBudget {
  readonly pulls: number;
  readonly periodMs: number;
  /** Pulls background work leaves in the bucket for admissions (none when absent). */
  readonly reserve?: number;
}

/**
 * Docker Hub's pull limit for anonymous clients: 100 pulls per 6 hours per IPv4 address or IPv6
 * /64 subnet, a pull being a manifest GET (HEAD requests are not counted); 200 per 6 hours for
 * authenticated Personal accounts, no limit on paid plans (docs.docker.com/docker-hub/usage/pulls).
 */
export const DOCKER_HUB_ANONYMOUS_BUDGET: RegistryBudget = { pulls: 100, periodMs: 6 * 3_600_000 };

export interface SessionOptions {
  /**
   * Budgets by registry, named as image references name them (`docker.io`, `ghcr.io`,
   * `host:port`); registries without one are not metered.
   */
  readonly budgets?: ReadonlyMap<string, RegistryBudget>;
}

export interface PingResult {
  readonly origin: string;
  readonly challenges: readonly Challenge[];
  readonly supportsSignatures: boolean;
}

const MAX_REGISTRIES = 1000;
const MAX_KNOWN_LOCATIONS = 10_000;
const MAX_LOCATIONS_PER_BLOB = 100;

export class RegistrySession {
  /** Connection pools, one per TLS configuration. */
  readonly agents = new AgentPool();
  /** Bearer tokens by registry and identity (a hash of the credentials, never a secret). */
  readonly tokens = new LruMap<string, TokenCache>(MAX_REGISTRIES);
  /** One limiter per registry host, so many clients cannot flood one registry. */
  readonly limiters = new LruMap<string, Limiter>(MAX_REGISTRIES);
  /** Budgets and Retry-After pauses by registry host (gate.ts). */
  readonly #gates = new LruMap<string, RegistryGate>(MAX_REGISTRIES);
  readonly #budgets: ReadonlyMap<string, RegistryBudget>;
  /** Answered pings by host, scheme choice and TLS verification, with their expiry. */
  readonly pings = new LruMap<string, { result: PingResult; expires: number }>(MAX_REGISTRIES);
  /**
   * Pings under way, by the same key as `pings`: every client of a registry waits for the one
   * under way instead of sending its own. A call that gives up stops waiting; the ping goes on
   * for the others, and is aborted only when none waits. Entries leave when it settles.
   */
  readonly pingsInFlight = new JoinedFlight<PingResult>();
  /** Registries (host[:port]) seen answering the referrers API with the router's 404. */
  readonly withoutReferrersApi = new LruMap<string, true>(MAX_REGISTRIES);
  /**
   * Manifests stored by digest (`registry/repo@digest`), and those being stored. Distribution 2.x
   * rewrites a manifest's link file in place on every PUT (truncate, then write), so a PUT that
   * reads it meanwhile (an index checking its manifests) can find it empty and fail with
   * DIGEST_INVALID: one stored by digest is not written again.
   */
  readonly storedManifests = new LruMap<string, true>(MAX_KNOWN_LOCATIONS);
  readonly manifestWrites = new SingleFlight<void>();
  /** Writes of a digest's signatures and referrers (`registry/repo@digest`), one at a time. */
  readonly attachmentWrites = new Serializer();
  /** Blobs seen per registry -> repositories holding them. */
  readonly #blobLocations = new LruMap<string, Set<string>>(MAX_KNOWN_LOCATIONS);

  constructor(options: SessionOptions = {}) {
    this.#budgets = options.budgets ?? new Map();
  }

  /** The gate of `registry` (host[:port] as references name it), created on first use. */
  gate(registry: string): RegistryGate {
    let gate = this.#gates.get(registry);
    if (gate === undefined) {
      gate = new RegistryGate(this.#budgets.get(registry));
      this.#gates.set(registry, gate);
    }
    return gate;
  }

  recordBlobLocation(registry: string, repo: string, digest: Digest): void {
    const key = `${registry}\n${digest}`;
    let repos = this.#blobLocations.get(key);
    if (repos === undefined) {
      repos = new Set();
      this.#blobLocations.set(key, repos);
    }
    if (repos.size < MAX_LOCATIONS_PER_BLOB) repos.add(repo);
  }

  knownBlobLocations(registry: string, digest: Digest): string[] {
    return [...(this.#blobLocations.get(`${registry}\n${digest}`) ?? [])];
  }

  /** Forgets what registries answered and closes every pool. */
  async close(): Promise<void> {
    this.tokens.clear();
    this.limiters.clear();
    this.#gates.clear();
    this.pings.clear();
    this.withoutReferrersApi.clear();
    this.#blobLocations.clear();
    this.storedManifests.clear();
    await this.agents.close();
  }
}

let shared: RegistrySession | undefined;

/** The session of transports and clients made without their own. */
export function sharedRegistrySession(): RegistrySession {
  shared ??= new RegistrySession();
  return shared;
}

/** Closes the shared session's connection pools (tests and CLI exit); what it learnt stays. */
export async function closeAllAgents(): Promise<void> {
  await shared?.agents.close();
}
