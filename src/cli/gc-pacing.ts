// Young-generation collections paced while copy and sync stream blobs.
//
// Every socket read allocates a fresh 64 KiB buffer. They die young, but a copy allocates few JS
// objects, so young collections are rare: the dead buffers pile up (tens of MiB of RSS) until
// V8's external-memory trigger forces full mark-compacts, about 20 of them per 384 MiB copied,
// a fifth of the process's CPU. A young collection every 25 ms returns them promptly instead
// (measured: peak RSS 150-160 -> 110-120 MiB, user CPU down ~20%). The CLI cannot start Node with
// a smaller --max-semi-space-size (bin/ is a plain script), so the collector is asked directly.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const INTERVAL_MS = 25;

type YoungGc = (options: { readonly type: 'minor' }) => void;

/** undefined: not looked up yet; null: not available in this runtime. */
let collector: YoungGc | null | undefined;

function youngGc(): YoungGc | null {
  if (collector === undefined) {
    const exposed = (globalThis as { gc?: unknown }).gc;
    try {
      if (typeof exposed === 'function') collector = exposed as YoungGc;
      else {
        // The flag only takes effect for contexts created after it is set.
        setFlagsFromString('--expose-gc');
        const fn: unknown = runInNewContext('gc');
        collector = typeof fn === 'function' ? (fn as YoungGc) : null;
      }
    } catch {
      collector = null;
    }
  }
  return collector;
}

let running = 0;
let timer: NodeJS.Timeout | undefined;

/** Runs `work` (a copy or a sync) with young collections paced; nested and concurrent calls share one timer. */
export async function withGcPacing<T>(work: () => Promise<T>): Promise<T> {
  const gc = youngGc();
  if (gc === null) return work();
  if (running++ === 0) {
    timer = setInterval(() => gc({ type: 'minor' }), INTERVAL_MS);
    timer.unref();
  }
  try {
    return await work();
  } finally {
    if (--running === 0) clearInterval(timer);
  }
}
