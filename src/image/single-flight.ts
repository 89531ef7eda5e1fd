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
