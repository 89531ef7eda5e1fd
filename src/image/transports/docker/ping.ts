// The ping of the docker transport: GET /v2/ finds the scheme (HTTPS, or HTTP when insecure and
// HTTPS fails) and the auth challenges; answers are shared by the session's clients of a registry
// for a minute, and one ping under way serves every client that asks meanwhile, whatever their
// signals (go-containerregistry transport/ping.go).
import { parseChallenges } from './auth.ts';
import { DockerError } from './errors.ts';
import { type GatePass, noteRetryAfter, passGate } from './gate.ts';
import { drain, errorFromResponse, type HttpClientOptions, send } from './http.ts';
import type { Bounds } from './retry.ts';
import { type PingResult, type RegistrySession, sharedRegistrySession } from './session.ts';

const PING_CACHE_MS = 60_000;

/** Forgets the shared session's pings (tests that restart a registry on the same port). */
export function clearPingCache(): void {
  sharedRegistrySession().pings.clear();
}

/** What pinging a registry needs of its client. */
export interface PingTarget {
  readonly registry: string;
  /** The host the API lives on (registry-1.docker.io for docker.io). */
  readonly apiHost: string;
  readonly insecure: boolean;
  readonly session: RegistrySession;
  readonly http: HttpClientOptions;
  /** The caller's: it stops waiting for the ping, which goes on for the session's other clients. */
  readonly signal: AbortSignal | undefined;
  /** The caller's (performance.now()): bounds the retries of a ping it starts. */
  readonly deadline: number;
  /** The registry's gate (gate.ts), passed before each attempt. */
  readonly gate: GatePass;
  /** The client's retries, for the last scheme tried. */
  withRetry<T>(attempt: () => Promise<T>, bounds: Bounds): Promise<T>;
}

/** `work`, or a TIMEOUT as soon as `signal` aborts (`work` goes on for whoever else awaits it). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(new DockerError('TIMEOUT', `${what}: aborted`));
  return new Promise((resolve, reject) => {
    const abort = () => reject(new DockerError('TIMEOUT', `${what}: aborted`));
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * GET /v2/: finds the scheme (HTTPS, or HTTP when insecure and HTTPS fails) and the auth
 * challenges. Results are shared by clients of the same registry for a minute; while one
 * ping is under way, every client of the registry in the session waits for it.
 */
export async function ping(target: PingTarget): Promise<PingResult> {
  const cacheKey = `${target.apiHost}\n${target.insecure}\n${target.http.tls.verify}`;
  const cached = target.session.pings.get(cacheKey);
  if (cached !== undefined && cached.expires > Date.now()) return cached.result;
  const pingsInFlight = target.session.pingsInFlight;
  let pinging = pingsInFlight.get(cacheKey);
  if (pinging === undefined) {
    // Not under this caller's signal, so its abort fails no one else; its deadline still
    // bounds the retries, so the ping ends about when its first caller stops waiting.
    const mine: Promise<PingResult> = pingNow(target, cacheKey).finally(() => {
      if (pingsInFlight.get(cacheKey) === mine) pingsInFlight.delete(cacheKey);
    });
    // Every caller may have given up by the time it fails: nobody else hears of it then.
    mine.catch(() => {});
    pingsInFlight.set(cacheKey, mine);
    pinging = mine;
  }
  return untilAborted(pinging, target.signal, `pinging registry ${target.registry}`);
}

async function pingNow(target: PingTarget, cacheKey: string): Promise<PingResult> {
  const schemes = target.insecure ? ['https', 'http'] : ['https'];
  const failures: DockerError[] = [];
  const bounds: Bounds = { signal: undefined, deadline: target.deadline };
  for (const [i, scheme] of schemes.entries()) {
    const origin = `${scheme}://${target.apiHost}`;
    const url = `${origin}/v2/`;
    const attempt = async () => {
      await passGate(target.gate, false, url, bounds);
      const res = await send({ method: 'GET', url }, target.http);
      if (res.status === 200 || res.status === 401) return res;
      // 5xx and 429 are temporary (and retried); anything else means this is no registry.
      const err = await errorFromResponse(res, `${scheme}`);
      noteRetryAfter(target.gate.gate, err);
      throw err.temporary
        ? err
        : new DockerError('BAD_RESPONSE', `${scheme}: status ${res.status}`, { status: res.status });
    };
    try {
      // With an HTTP fallback left, a failing HTTPS attempt is not worth retrying.
      const res = i < schemes.length - 1 ? await attempt() : await target.withRetry(attempt, bounds);
      await drain(res.body);
      const result: PingResult = {
        origin,
        challenges: res.status === 401 ? parseChallenges(res.challenges) : [],
        supportsSignatures: res.headers['x-registry-supports-signatures'] === '1',
      };
      target.session.pings.set(cacheKey, { result, expires: Date.now() + PING_CACHE_MS });
      return result;
    } catch (err) {
      failures.push(
        err instanceof DockerError
          ? err
          : new DockerError('NETWORK', `${scheme}: ${String(err)}`, { cause: err }),
      );
    }
  }
  // The HTTPS failure (e.g. an unknown CA) says more than an HTTP answer from a TLS port.
  const first = failures[0]!;
  throw new DockerError(
    first.code,
    `pinging registry ${target.registry}: ${failures.map((f) => f.message).join('; ')}`,
    {
      cause: first,
      ...(first.status !== undefined ? { status: first.status } : {}),
    },
  );
}
