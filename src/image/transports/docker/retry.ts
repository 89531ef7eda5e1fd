// Retries of the docker transport: exponential backoff with jitter while a failure is
// temporary, within a policy's attempts and total time and the caller's deadline; a Retry-After
// is waited out at the registry's gate (gate.ts) (go-containerregistry transport/retry.go).
import type { CallOptions } from '../../types.ts';
import { abortError, DockerError } from './errors.ts';
import { MAX_PAUSE_MS } from './gate.ts';

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** No retry starts after this much time since the first attempt. */
  readonly totalMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  totalMs: 60_000,
};

/** Waits `ms`; rejects (TIMEOUT) when `signal` aborts first. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export function sleepDefault(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(abortError('waiting to retry'));
      },
      { once: true },
    );
  });
}

/** How long one exchange may take: the caller's signal and deadline (a performance.now() time). */
export interface Bounds {
  readonly signal: AbortSignal | undefined;
  readonly deadline: number;
}

/**
 * One call's bounds within its client's: aborted when either signal aborts, until the earlier
 * deadline. A call without options gets the client's as they are.
 */
export function callBounds(client: Bounds, call: CallOptions): Bounds {
  const deadline = Math.min(client.deadline, call.deadline ?? Number.POSITIVE_INFINITY);
  const own = call.signal;
  if (own === undefined || own === client.signal) {
    return deadline === client.deadline ? client : { signal: client.signal, deadline };
  }
  return { signal: client.signal === undefined ? own : AbortSignal.any([client.signal, own]), deadline };
}

/** A failure caused by the caller's abort (a body cut off with the signal's reason) is the abort. */
function asAbort(err: unknown): unknown {
  if (err instanceof DockerError && err.code === 'TIMEOUT') return err;
  return abortError(err instanceof Error ? err.message : String(err), err);
}

/**
 * Runs `attempt` with exponential backoff and jitter while it fails temporarily, within `policy`
 * and the caller's deadline. A `Retry-After` is honoured in full, by the registry's gate (gate.ts)
 * that the next attempt passes first.
 */
export async function retryWhileTemporary<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  sleep: Sleep,
  bounds: Bounds,
): Promise<T> {
  const started = performance.now();
  let slept = 0;
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (bounds.signal?.aborted === true) throw asAbort(err);
      if (!(err instanceof DockerError) || !err.temporary || i >= policy.attempts) throw err;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (i - 1));
      // Retrying before the time a registry named only meets another refusal: the next
      // attempt waits at the gate for exactly that long.
      const delay =
        err.retryAfter !== undefined
          ? Math.min(err.retryAfter * 1000, MAX_PAUSE_MS)
          : backoff / 2 + Math.random() * (backoff / 2);
      const now = performance.now();
      if (Math.max(now - started, slept) + delay > policy.totalMs || now + delay > bounds.deadline) throw err;
      if (err.retryAfter !== undefined) continue;
      await sleep(delay, bounds.signal);
      slept += delay;
    }
  }
}
