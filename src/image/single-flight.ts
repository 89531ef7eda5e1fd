// Concurrent work on the same thing, within one process: shared while it runs, or run in turn.

/**
 * Work keyed by what it produces. A caller asking for a key whose work is running waits for that
 * work instead of starting its own; when that work fails, the waiters run theirs, one at a time
 * (the first to start is the one the others then wait for).
 */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>();

  async run(key: string, work: () => Promise<T>): Promise<{ readonly value: T; readonly shared: boolean }> {
    for (let running = this.#running.get(key); running !== undefined; running = this.#running.get(key)) {
      try {
        return { value: await running, shared: true };
      } catch {
        if (this.#running.get(key) === running) this.#running.delete(key);
      }
    }
    const mine = work();
    this.#running.set(key, mine);
    try {
      return { value: await mine, shared: false };
    } finally {
      if (this.#running.get(key) === mine) this.#running.delete(key);
    }
  }
}

/** Work on one key runs after the work queued before it on that key has settled, never beside it. */
export class Serializer {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key);
    const mine = (before ?? Promise.resolve()).then(() => work());
    const tail = mine.catch(() => {});
    this.#tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** What a JoinedFlight's work sees of its waiters. */
export interface FlightWaiters {
  /** Aborts when every waiter has given up. */
  readonly signal: AbortSignal;
  /** The latest deadline among the waiters still waiting (a performance.now() time). */
  readonly deadline: number;
}

interface Flight<T> {
  done: Promise<T> | undefined;
  readonly stop: AbortController;
  /** The deadline of each waiter still waiting. */
  readonly waiting: Map<object, number>;
}

/**
 * Work keyed by what it produces, shared by every caller that asks while it runs. A caller whose
 * signal aborts stops waiting (with `aborted()`), and the work goes on for the others; only when
 * no one waits any more is the work's own signal aborted, and the next caller starts afresh.
 * The work runs to the latest deadline of its waiters, and a waiter stops at its own only by its
 * signal: one that must answer by then races the wait against its own timer, as the webhook's
 * review deadline does, whose answer then names what it was still waiting for.
 */
export class JoinedFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /** How many keys have work running. */
  get size(): number {
    return this.#flights.size;
  }

  join(
    key: string,
    waiter: { readonly signal: AbortSignal | undefined; readonly deadline: number },
    work: (waiters: FlightWaiters) => Promise<T>,
    aborted: () => Error,
  ): Promise<T> {
    const { signal } = waiter;
    if (signal?.aborted === true) return Promise.reject(aborted());
    let flight = this.#flights.get(key);
    const me = {};
    if (flight === undefined) {
      const f: Flight<T> = {
        done: undefined,
        stop: new AbortController(),
        waiting: new Map([[me, waiter.deadline]]),
      };
      // The work reads its waiters' deadline from the start, so this caller is one of them already.
      f.done = work({
        signal: f.stop.signal,
        get deadline() {
          return Math.max(...f.waiting.values());
        },
      }).finally(() => {
        if (this.#flights.get(key) === f) this.#flights.delete(key);
      });
      // Every waiter may have given up by the time it fails: nobody else hears of it then.
      f.done.catch(() => {});
      this.#flights.set(key, f);
      flight = f;
    } else flight.waiting.set(me, waiter.deadline);
    const f = flight;
    const done = f.done!;
    return new Promise<T>((resolve, reject) => {
      const giveUp = () => {
        f.waiting.delete(me);
        if (f.waiting.size === 0) {
          if (this.#flights.get(key) === f) this.#flights.delete(key);
          f.stop.abort();
        }
        reject(aborted());
      };
      signal?.addEventListener('abort', giveUp, { once: true });
      const leave = () => {
        f.waiting.delete(me);
        signal?.removeEventListener('abort', giveUp);
      };
      done.then(
        (value) => {
          leave();
          resolve(value);
        },
        (err: unknown) => {
          leave();
          reject(err);
        },
      );
    });
  }
}
