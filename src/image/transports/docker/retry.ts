// Retries of the docker transport: exponential backoff with jitter while a failure is
// temporary, honouring Retry-After, within a policy's attempts and total time
// (go-containerregistry transport/retry.go).
import { DockerError } from './errors.ts';

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
        reject(new DockerError('TIMEOUT', 'aborted while waiting to retry'));
      },
      { once: true },
    );
  });
}

/** Runs `attempt` with exponential backoff and jitter while it fails temporarily. */
export async function retryWhileTemporary<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  sleep: Sleep,
  signal: AbortSignal | undefined,
): Promise<T> {
  const started = Date.now();
  let slept = 0;
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof DockerError) || !err.temporary || i >= policy.attempts || signal?.aborted)
        throw err;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (i - 1));
      const delay =
        err.retryAfter !== undefined
          ? Math.min(err.retryAfter * 1000, policy.maxDelayMs)
          : backoff / 2 + Math.random() * (backoff / 2);
      if (Math.max(Date.now() - started, slept) + delay > policy.totalMs) throw err;
      await sleep(delay, signal);
      slept += delay;
    }
  }
}
