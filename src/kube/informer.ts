// A Watched cache that restarts itself: client-node's ListWatch stops on any list/watch error,
// so every error schedules a restart with exponential backoff; the cache keeps the last objects
// meanwhile (an API server restart serves stale-but-known data, never an empty policy set).
import type { KubeObject, Watched } from './types.ts';

export interface InformerOptions {
  /** First retry delay; doubled per failure up to maxDelayMs, reset after a successful sync. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Told about every failure and the delay before the next attempt; must not throw. */
  readonly onError: (err: unknown, retryInMs: number) => void;
}

export const DEFAULT_INFORMER_OPTIONS: InformerOptions = {
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  onError: () => {},
};

export type ChangeType = 'add' | 'update' | 'delete';

export class Informer<T extends KubeObject> {
  readonly #watched: Watched<T>;
  readonly #options: InformerOptions;
  #delayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running = false;
  #synced = false;
  #failedSinceStart = false;
  #firstSync: Promise<void>;
  #resolveFirstSync: () => void = () => {};

  constructor(watched: Watched<T>, options: InformerOptions = DEFAULT_INFORMER_OPTIONS) {
    this.#watched = watched;
    this.#options = options;
    this.#delayMs = options.baseDelayMs;
    this.#firstSync = new Promise((resolve) => {
      this.#resolveFirstSync = resolve;
    });
    watched.on('error', (err) => this.#failed(err));
  }

  /** True once a list has succeeded; stays true across reconnects (the cache is kept). */
  get synced(): boolean {
    return this.#synced;
  }

  on(type: ChangeType, handler: (obj: T) => void): void {
    this.#watched.on(type, handler);
  }

  /**
   * Starts watching; resolves after the first successful list (retrying as long as it takes) or
   * stop(). Calling it again while running only waits for that first sync.
   */
  start(): Promise<void> {
    if (this.#running) return this.#firstSync;
    this.#running = true;
    this.#stopped = false;
    void this.#attempt();
    return this.#firstSync;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#resolveFirstSync();
    await this.#watched.stop();
  }

  list(): readonly T[] {
    return this.#watched.list();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#watched.get(name, namespace);
  }

  async #attempt(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    this.#failedSinceStart = false;
    try {
      await this.#watched.start();
    } catch (err) {
      this.#failed(err);
      return;
    }
    if (this.#failedSinceStart || this.#stopped) return;
    this.#synced = true;
    this.#delayMs = this.#options.baseDelayMs;
    this.#resolveFirstSync();
  }

  #failed(err: unknown): void {
    this.#failedSinceStart = true;
    if (this.#stopped || this.#timer !== undefined) return;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(delay * 2, this.#options.maxDelayMs);
    this.#options.onError(err, delay);
    this.#timer = setTimeout(() => void this.#attempt(), delay);
    this.#timer.unref();
  }
}
