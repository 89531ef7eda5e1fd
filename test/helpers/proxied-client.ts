// Registry clients for tests that put a fault proxy (fault-proxy.ts) in front of a real registry,
// and the outcome of a call with how long it took.
import {
  type DockerError,
  RegistryClient,
  type RegistrySession,
} from '../../src/image/transports/docker/index.ts';

/** A plain-HTTP client of `host` in `session`; `deadlineInMs` from now. */
export function proxiedClient(
  host: string,
  session: RegistrySession,
  options: {
    readonly deadlineInMs?: number;
    readonly signal?: AbortSignal;
    readonly maxConcurrency?: number;
  } = {},
): RegistryClient {
  return new RegistryClient({
    registry: host,
    insecure: true,
    tls: { verify: false },
    session,
    ...(options.deadlineInMs === undefined ? {} : { deadline: performance.now() + options.deadlineInMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.maxConcurrency === undefined ? {} : { maxConcurrency: options.maxConcurrency }),
  });
}

/** What `work` gave, or the error it failed with, and after how many milliseconds. */
export async function timed<T>(
  work: () => Promise<T>,
): Promise<{ value?: T; error?: DockerError; ms: number }> {
  const started = performance.now();
  try {
    return { value: await work(), ms: performance.now() - started };
  } catch (err) {
    return { error: err as DockerError, ms: performance.now() - started };
  }
}
