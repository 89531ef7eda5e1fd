// The ping of the docker transport: GET /v2/ finds the scheme (HTTPS, or HTTP when insecure and
// HTTPS fails) and the auth challenges; answers are shared by the session's clients of a registry
// for a minute, and one ping under way serves every call that asks meanwhile: a call that gives up
// stops waiting, the ping stops only when no call waits (go-containerregistry transport/ping.go).
import { parseChallenges } from './auth.ts';
import { abortError, DockerError } from './errors.ts';
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
  /**
   * The caller's: its abort stops its wait for the ping, which goes on while anyone else in the
   * session waits; its deadline bounds the ping's retries while it waits.
   */
  readonly bounds: Bounds;
  /** The registry's gate (gate.ts), passed before each attempt. */
  readonly gate: GatePass;
  /** The client's retries, for the last scheme tried. */
  withRetry<T>(attempt: () => Promise<T>, bounds: Bounds): Promise<T>;
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
  return target.session.pingsInFlight.join(
    cacheKey,
    target.bounds,
    (waiters) => pingNow(target, cacheKey, waiters),
    () => abortError(`pinging registry ${target.registry}`),
  );
}

/** The ping itself, under its waiters' bounds: aborted when all of them gave up, until the latest deadline. */
async function pingNow(target: PingTarget, cacheKey: string, bounds: Bounds): Promise<PingResult> {
  const schemes = target.insecure ? ['https', 'http'] : ['https'];
  const failures: DockerError[] = [];
  for (const [i, scheme] of schemes.entries()) {
    const origin = `${scheme}://${target.apiHost}`;
    const url = `${origin}/v2/`;
    const attempt = async () => {
      await passGate(target.gate, false, url, bounds);
      const res = await send({ method: 'GET', url, signal: bounds.signal }, target.http);
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
