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
      // Exponential backoff unless a fixed delay was asked for (skopeo --retry-delay).
      await sleep(delayMs > 0 ? delayMs : 2 ** attempt * 1000, undefined, { signal });
    }
  }
}
