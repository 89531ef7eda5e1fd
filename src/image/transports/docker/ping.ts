// The ping of the docker transport: GET /v2/ finds the scheme (HTTPS, or HTTP when insecure and
// HTTPS fails) and the auth challenges; answers are shared by the session's clients of a registry
// for a minute, and one ping under way serves every client that asks meanwhile
// (go-containerregistry transport/ping.go).
import { parseChallenges } from './auth.ts';
import { DockerError } from './errors.ts';
import { drain, type HttpClientOptions, send } from './http.ts';
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
  readonly signal: AbortSignal | undefined;
  /** The client's retries, for the last scheme tried. */
  withRetry<T>(attempt: () => Promise<T>): Promise<T>;
}

/**
 * GET /v2/: finds the scheme (HTTPS, or HTTP when insecure and HTTPS fails) and the auth
 * challenges. Results are shared by clients of the same registry for a minute.
 */
export async function ping(target: PingTarget): Promise<PingResult> {
  const cacheKey = `${target.apiHost}\n${target.insecure}\n${target.http.tls.verify}`;
  const cached = target.session.pings.get(cacheKey);
  if (cached !== undefined && cached.expires > Date.now()) return cached.result;
  const signal = target.signal;
  const pingsInFlight = target.session.pingsInFlight;
  let pinging = pingsInFlight.get(cacheKey);
  if (pinging === undefined || pinging.signal !== signal) {
    const mine = {
      signal,
      result: pingNow(target, cacheKey).finally(() => {
        if (pingsInFlight.get(cacheKey) === mine) pingsInFlight.delete(cacheKey);
      }),
    };
    pingsInFlight.set(cacheKey, mine);
    pinging = mine;
  }
  return pinging.result;
}

async function pingNow(target: PingTarget, cacheKey: string): Promise<PingResult> {
  const schemes = target.insecure ? ['https', 'http'] : ['https'];
  const failures: DockerError[] = [];
  for (const [i, scheme] of schemes.entries()) {
    const origin = `${scheme}://${target.apiHost}`;
    const attempt = () => send({ method: 'GET', url: `${origin}/v2/`, signal: target.signal }, target.http);
    try {
      // With an HTTP fallback left, a failing HTTPS attempt is not worth retrying.
      const res = i < schemes.length - 1 ? await attempt() : await target.withRetry(attempt);
      await drain(res.body);
      if (res.status !== 200 && res.status !== 401) {
        failures.push(
          new DockerError('BAD_RESPONSE', `${scheme}: status ${res.status}`, { status: res.status }),
        );
        continue;
      }
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
