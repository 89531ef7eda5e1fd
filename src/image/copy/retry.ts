// Retries of operations that failed for reasons that may go away (network, 429/5xx marked temporary).
import { setTimeout as sleep } from 'node:timers/promises';

const temporaryCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/** True for errors a later attempt may not hit: transports mark them with `temporary: true`. */
export function isTemporary(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as { temporary?: unknown }).temporary === true) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && temporaryCodes.has(code)) return true;
  }
  return false;
}

/** Seconds a server asked us to wait (Retry-After), from the error or its causes. */
function retryAfterSeconds(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const after = (e as { retryAfter?: unknown }).retryAfter;
    if (typeof after === 'number' && after >= 0) return after;
  }
  return undefined;
}

const MAX_RETRY_AFTER_MS = 60_000;

export async function withRetry<T>(
  fn: () => Promise<T>,
  times: number,
  delayMs: number,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= times || !isTemporary(err) || signal?.aborted) throw err;
      // The server's Retry-After wins; else a fixed delay if asked (--retry-delay), else exponential.
      const after = retryAfterSeconds(err);
      const wait =
        after !== undefined
          ? Math.min(after * 1000, MAX_RETRY_AFTER_MS)
          : delayMs > 0
            ? delayMs
            : 2 ** attempt * 1000;
      await sleep(wait, undefined, { signal });
    }
  }
}
