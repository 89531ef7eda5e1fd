// A Distribution API client for one registry host: ping, auth, retries, manifests, blobs, tags,
// uploads, mounts, referrers. Every size and wait is bounded.
import { createHash, randomBytes } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import { type Digest, Digester, digestAlgorithm, isDigest, verificationFailure } from '../../digest.ts';
import { guessMIMEType, manifestDigest } from '../../manifest/index.ts';
import { truncate } from '../../text.ts';
import type { ReferrerDescriptor } from '../../types.ts';
import { type Challenge, fetchToken, parseChallenges, TokenCache, type TokenCredentials } from './auth.ts';
import { DockerError, type DockerErrorCode, isDistributionCode, isManifestAbsent } from './errors.ts';
import {
  bodyError,
  DEFAULT_TIMEOUTS,
  discard,
  drain,
  type HttpMethod,
  type HttpResponse,
  readCapped,
  readPrefix,
  send,
  type Timeouts,
  type TlsSettings,
} from './http.ts';
import {
  Limiter,
  MAX_PAUSE_MS,
  type PingResult,
  type RegistryGate,
  type RegistrySession,
  sharedRegistrySession,
} from './session.ts';

export const MAX_MANIFEST_SIZE = 4 << 20;
export const MAX_ERROR_BODY = 64 << 10;
/** How much of a registry's error code and message an error repeats. */
const ERROR_DETAIL_MAX = 240;
const MAX_TAGS_PAGE = 16 << 20;
const MAX_TAG_PAGES = 10_000;
const MAX_SIGNATURE_LIST = 16 << 20;
/** Above this (or when the size is unknown) uploads stream through PATCH instead of one PUT. */
const MONOLITHIC_UPLOAD_MAX = 32 << 20;
const MAX_BLOB_RESUMES = 5;
/** Size of each PATCH of a chunked upload. */
const UPLOAD_CHUNK_SIZE = 64 << 20;

/** Every manifest type we can read, in the order a registry should prefer. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.oci.artifact.manifest.v1+json',
];

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

export interface ClientOptions {
  /** host[:port] as used in URLs; docker.io maps to registry-1.docker.io. */
  readonly registry: string;
  /** Plain HTTP is allowed (after HTTPS fails) and TLS errors are ignored. */
  readonly insecure: boolean;
  readonly tls: TlsSettings;
  readonly credentials?: TokenCredentials;
  readonly registryToken?: string;
  readonly userAgent?: string;
  readonly signal?: AbortSignal;
  /**
   * When the caller stops waiting (a performance.now() time): a retry, a `Retry-After` or a spent
   * budget that would end later fails at once, with a temporary error, instead of being waited for.
   */
  readonly deadline?: number;
  readonly timeouts?: Timeouts;
  readonly retry?: RetryPolicy;
  /** What is remembered about registries (tokens, pings, pools...); the process's shared one by default. */
  readonly session?: RegistrySession;
  /** Most requests in flight at once to this registry from the session (the first client sets it). */
  readonly maxConcurrency?: number;
  /** Bytes per PATCH for chunked uploads (default 64 MiB). */
  readonly uploadChunkSize?: number;
  /** Time source and sleeper, injectable for tests. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ManifestResult {
  readonly manifest: Uint8Array;
  readonly mimeType: string;
  readonly digest: Digest;
}

export type Descriptor = ReferrerDescriptor;

interface RequestSpec {
  readonly method: HttpMethod;
  /** Path after the origin, e.g. `/v2/ns/repo/manifests/latest`, or an absolute URL (uploads). */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Only replayable bodies (bytes/strings) are retried. */
  readonly body?: Uint8Array | string | Readable;
  readonly scopes: readonly string[];
  readonly followRedirects?: boolean;
  /** Error code for a 404 whose body does not say (e.g. MANIFEST_UNKNOWN). */
  readonly notFound?: DockerErrorCode;
  /** Statuses returned to the caller instead of thrown. */
  readonly accept?: readonly number[];
  /** false when the caller retries the whole exchange itself (body reads included). */
  readonly retry?: boolean;
}

function sleepDefault(ms: number, signal?: AbortSignal): Promise<void> {
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

/** How long one exchange may take: the caller's signal and deadline (performance.now()). */
interface Bounds {
  readonly signal: AbortSignal | undefined;
  readonly deadline: number;
}

/** A GET of a manifest: what Docker Hub counts as a pull, and what a registry budget meters. */
function isPull(method: HttpMethod, path: string): boolean {
  return method === 'GET' && /\/v2\/.+\/manifests\/[^/?]+(\?|$)/.test(path);
}

/**
 * Tokens are shared by every client of the same registry and identity, so a webhook opening a
 * source per admission does not fetch a token each time. The key holds a hash, never a secret.
 */
function tokenCacheFor(session: RegistrySession, opts: ClientOptions): TokenCache {
  const c = opts.credentials;
  const identity =
    c === undefined
      ? 'anonymous'
      : createHash('sha256')
          .update(`${c.username}\0${c.password}\0${c.identityToken ?? ''}`)
          .digest('hex');
  const key = `${opts.registry}\n${identity}`;
  let cache = session.tokens.get(key);
  if (cache === undefined) {
    cache = new TokenCache();
    session.tokens.set(key, cache);
  }
  return cache;
}

const DEFAULT_CONCURRENCY = 16;

/** One limiter per registry host for the session, so many clients cannot flood one registry. */
function limiterFor(session: RegistrySession, registry: string, max: number): Limiter {
  let limiter = session.limiters.get(registry);
  if (limiter === undefined) {
    limiter = new Limiter(max);
    session.limiters.set(registry, limiter);
  }
  return limiter;
}

/** Parses a Retry-After value (seconds or HTTP date) into seconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Turns a non-2xx answer into a typed error, reading at most MAX_ERROR_BODY of the body. */
export async function errorFromResponse(
  res: HttpResponse,
  what: string,
  notFound?: DockerErrorCode,
): Promise<DockerError> {
  const body = await readPrefix(res.body, MAX_ERROR_BODY);
  const retryAfter = parseRetryAfter(res.headers['retry-after']);
  const temporary = res.status >= 500 || res.status === 429 || res.status === 408;
  const ctype = res.headers['content-type'] ?? '';
  let code: DockerErrorCode | undefined;
  let detail = '';
  if (ctype.includes('json') || body[0] === 0x7b) {
    try {
      const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
      const first = doc.errors?.[0];
      if (first !== undefined && typeof first.code === 'string') {
        if (isDistributionCode(first.code)) code = first.code;
        detail = truncate(
          `${first.code}${typeof first.message === 'string' ? `: ${first.message}` : ''}`,
          ERROR_DETAIL_MAX,
        );
      }
    } catch {
      // not JSON after all: classified by status below
    }
  }
  if (code === undefined) {
    if (res.status === 401) code = 'UNAUTHORIZED';
    else if (res.status === 403) code = 'DENIED';
    else if (res.status === 404) code = notFound ?? 'NAME_UNKNOWN';
    else if (res.status === 429) code = 'TOOMANYREQUESTS';
    else if (res.status >= 500) code = 'SERVER_ERROR';
    else code = 'HTTP_ERROR';
    if (/^\s*</.test(body.toString('utf8', 0, 64))) detail = 'HTML error page';
  }
  const suffix = detail === '' ? '' : ` (${detail})`;
  return new DockerError(code, `${what}: status ${res.status}${suffix}`, {
    status: res.status,
    temporary,
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  });
}

function mimeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim();
}

/** Scope strings of the token spec. */
export function repositoryScope(repo: string, actions: string): string {
  return `repository:${repo}:${actions}`;
}

const PING_CACHE_MS = 60_000;

/** Forgets the shared session's pings (tests that restart a registry on the same port). */
export function clearPingCache(): void {
  sharedRegistrySession().pings.clear();
}

export class RegistryClient {
  readonly registry: string;
  readonly session: RegistrySession;
  readonly #opts: ClientOptions;
  readonly #tokens: TokenCache;
  readonly #limiter: Limiter;
  readonly #gate: RegistryGate;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #origin: string | undefined;
  #challenges: Challenge[] | undefined;
  #supportsSignatures = false;

  constructor(opts: ClientOptions) {
    this.registry = opts.registry;
    this.session = opts.session ?? sharedRegistrySession();
    this.#opts = opts;
    this.#tokens = tokenCacheFor(this.session, opts);
    this.#limiter = limiterFor(this.session, opts.registry, opts.maxConcurrency ?? DEFAULT_CONCURRENCY);
    this.#gate = this.session.gate(opts.registry);
    this.#sleep = opts.sleep ?? sleepDefault;
  }

  get #http() {
    return {
      agents: this.session.agents,
      tls: this.#opts.tls,
      timeouts: this.#opts.timeouts ?? DEFAULT_TIMEOUTS,
      ...(this.#opts.userAgent !== undefined ? { userAgent: this.#opts.userAgent } : {}),
    };
  }

  /** The host to contact: Docker Hub's API lives on registry-1.docker.io. */
  get #apiHost(): string {
    return this.registry === 'docker.io' ? 'registry-1.docker.io' : this.registry;
  }

  /** True when the registry advertised the X-Registry-Supports-Signatures extension. */
  async supportsSignatureExtension(): Promise<boolean> {
    await this.ping();
    return this.#supportsSignatures;
  }

  /**
   * GET /v2/: finds the scheme (HTTPS, or HTTP when insecure and HTTPS fails) and the auth
   * challenges. Results are shared by clients of the same registry for a minute; while one
   * ping is under way, every client of the registry in the session waits for it.
   */
  async ping(): Promise<void> {
    if (this.#origin !== undefined) return;
    const cacheKey = `${this.#apiHost}\n${this.#opts.insecure}\n${this.#opts.tls.verify}`;
    const cached = this.session.pings.get(cacheKey);
    if (cached !== undefined && cached.expires > Date.now()) {
      this.#setPing(cached.result);
      return;
    }
    const pingsInFlight = this.session.pingsInFlight;
    let pinging = pingsInFlight.get(cacheKey);
    if (pinging === undefined) {
      // Not under this caller's signal, so its abort fails no one else; its deadline still
      // bounds the retries, so the ping ends about when its first caller stops waiting.
      const mine: Promise<PingResult> = this.#pingNow(cacheKey).finally(() => {
        if (pingsInFlight.get(cacheKey) === mine) pingsInFlight.delete(cacheKey);
      });
      // Every caller may have given up by the time it fails: nobody else hears of it then.
      mine.catch(() => {});
      pingsInFlight.set(cacheKey, mine);
      pinging = mine;
    }
    this.#setPing(await untilAborted(pinging, this.#opts.signal, `pinging registry ${this.registry}`));
  }

  async #pingNow(cacheKey: string): Promise<PingResult> {
    const schemes = this.#opts.insecure ? ['https', 'http'] : ['https'];
    const failures: DockerError[] = [];
    const bounds: Bounds = { signal: undefined, deadline: this.#bounds.deadline };
    for (const [i, scheme] of schemes.entries()) {
      const origin = `${scheme}://${this.#apiHost}`;
      const url = `${origin}/v2/`;
      const attempt = async () => {
        await this.#passGate(false, url, bounds);
        const res = await send({ method: 'GET', url }, this.#http);
        if (res.status === 200 || res.status === 401) return res;
        // 5xx and 429 are temporary (and retried); anything else means this is no registry.
        const err = await errorFromResponse(res, `${scheme}`);
        this.#noteRetryAfter(err);
        throw err.temporary
          ? err
          : new DockerError('BAD_RESPONSE', `${scheme}: status ${res.status}`, { status: res.status });
      };
      try {
        // With an HTTP fallback left, a failing HTTPS attempt is not worth retrying.
        const res = i < schemes.length - 1 ? await attempt() : await this.#withRetry(attempt, bounds);
        await drain(res.body);
        const result: PingResult = {
          origin,
          challenges: res.status === 401 ? parseChallenges(res.challenges) : [],
          supportsSignatures: res.headers['x-registry-supports-signatures'] === '1',
        };
        this.session.pings.set(cacheKey, { result, expires: Date.now() + PING_CACHE_MS });
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
      `pinging registry ${this.registry}: ${failures.map((f) => f.message).join('; ')}`,
      {
        cause: first,
        ...(first.status !== undefined ? { status: first.status } : {}),
      },
    );
  }

  #setPing(result: PingResult): void {
    this.#origin = result.origin;
    this.#challenges = [...result.challenges];
    this.#supportsSignatures = result.supportsSignatures;
  }

  async #authorization(scopes: readonly string[], fresh: boolean): Promise<string | undefined> {
    if (this.#opts.registryToken !== undefined) return `Bearer ${this.#opts.registryToken}`;
    const challenges = this.#challenges ?? [];
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const creds = this.#opts.credentials;
    if (bearer !== undefined) {
      const key = [...scopes].sort().join(' ');
      if (fresh) this.#tokens.delete(key);
      const cached = this.#tokens.get(key);
      if (cached !== undefined) return `Bearer ${cached}`;
      // Runs inside request()'s retry loop; a temporary token failure retries the whole exchange.
      const t = await fetchToken(bearer, scopes, creds, this.#http, this.#opts.signal);
      this.#tokens.set(key, t.token, t.expiresIn, t.issuedAt);
      return `Bearer ${t.token}`;
    }
    if (basic !== undefined && creds !== undefined) {
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    return undefined;
  }

  get #bounds(): Bounds {
    return { signal: this.#opts.signal, deadline: this.#opts.deadline ?? Number.POSITIVE_INFINITY };
  }

  /** A `Retry-After` on a temporary failure holds back every request to the registry (the gate). */
  #noteRetryAfter(err: DockerError): void {
    if (err.temporary && err.retryAfter !== undefined) {
      const now = performance.now();
      this.#gate.pause(now + err.retryAfter * 1000, now);
    }
  }

  /**
   * Waits until the registry's gate lets this request go (a `Retry-After` pause, the budget's
   * next pull), or fails at once when that is later than the caller waits.
   */
  async #passGate(pull: boolean, url: string, bounds: Bounds): Promise<void> {
    const now = performance.now();
    const latest = Math.min(bounds.deadline, now + (this.#opts.retry ?? DEFAULT_RETRY).totalMs);
    const pass = this.#gate.reserve(pull, now, latest);
    if (!pass.go) {
      const seconds = Math.ceil((pass.at - now) / 1000);
      const what = this.#describe(url);
      throw pass.by === 'pause'
        ? new DockerError(
            'TOOMANYREQUESTS',
            `${what}: ${this.registry} asked to wait ${seconds} s (Retry-After), longer than the caller waits`,
            { temporary: true, retryAfter: seconds },
          )
        : new DockerError(
            'BUDGET_EXHAUSTED',
            `${what}: the request budget for ${this.registry} allows the next manifest read in ${seconds} s, later than the caller waits`,
            { temporary: true, retryAfter: seconds },
          );
    }
    if (pass.at <= now) return;
    try {
      await this.#sleep(pass.at - now, bounds.signal);
    } catch (err) {
      this.#gate.unreserve(pull);
      throw err;
    }
  }

  /**
   * Runs `attempt` with exponential backoff and jitter while it fails temporarily, within the
   * retry policy and the caller's deadline. A `Retry-After` is honoured in full, by the gate.
   */
  async #withRetry<T>(attempt: () => Promise<T>, bounds: Bounds = this.#bounds): Promise<T> {
    const policy = this.#opts.retry ?? DEFAULT_RETRY;
    const started = performance.now();
    let slept = 0;
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof DockerError) || !err.temporary || i >= policy.attempts || bounds.signal?.aborted)
          throw err;
        const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (i - 1));
        // Retrying before the time a registry named only meets another refusal: the next
        // attempt waits at the gate for exactly that long.
        const delay =
          err.retryAfter !== undefined
            ? Math.min(err.retryAfter * 1000, MAX_PAUSE_MS)
            : backoff / 2 + Math.random() * (backoff / 2);
        const now = performance.now();
        if (Math.max(now - started, slept) + delay > policy.totalMs || now + delay > bounds.deadline)
          throw err;
        if (err.retryAfter !== undefined) continue;
        await this.#sleep(delay, bounds.signal);
        slept += delay;
      }
    }
  }

  /** One authenticated request; 401 refreshes the token once; temporary failures are retried. */
  async request(spec: RequestSpec): Promise<HttpResponse> {
    await this.ping();
    const replayable = !(spec.body instanceof Readable);
    const what = `${spec.method} ${this.#describe(spec.path)}`;
    const once = async (): Promise<HttpResponse> => {
      let fresh = false;
      for (;;) {
        const auth = await this.#authorization(spec.scopes, fresh);
        const headers: Record<string, string> = { ...spec.headers };
        if (auth !== undefined) headers.authorization = auth;
        const url = /^https?:\/\//.test(spec.path) ? spec.path : `${this.#origin}${spec.path}`;
        await this.#passGate(isPull(spec.method, spec.path), url, this.#bounds);
        const wait = this.#limiter.acquire();
        if (wait !== undefined) await wait;
        let res: HttpResponse;
        try {
          res = await send(
            {
              method: spec.method,
              url,
              headers,
              ...(spec.body !== undefined ? { body: spec.body } : {}),
              ...(this.#opts.signal !== undefined ? { signal: this.#opts.signal } : {}),
              followRedirects: spec.followRedirects ?? true,
            },
            this.#http,
          );
        } finally {
          this.#limiter.release();
        }
        if (res.status === 401 && !fresh && replayable && this.#opts.registryToken === undefined) {
          const again = parseChallenges(res.challenges);
          await drain(res.body);
          if (again.length > 0) this.#challenges = again;
          fresh = true;
          continue;
        }
        if ((res.status >= 200 && res.status < 300) || spec.accept?.includes(res.status)) return res;
        const err = await errorFromResponse(res, what, spec.notFound);
        this.#noteRetryAfter(err);
        throw err;
      }
    };
    return replayable && spec.retry !== false ? this.#withRetry(once) : once();
  }

  #describe(path: string): string {
    if (/^https?:\/\//.test(path)) {
      const u = new URL(path);
      return `${u.protocol}//${u.host}${u.pathname}`;
    }
    return `${this.#origin ?? this.registry}${path.split('?', 1)[0]}`;
  }

  /** Verifies that the credentials are accepted (`login`): GET /v2/ authenticated, no scope. */
  async checkAuth(): Promise<void> {
    const res = await this.request({ method: 'GET', path: '/v2/', scopes: [] });
    await drain(res.body);
  }

  /** Resolves a tag (or digest) to a digest with HEAD; falls back to GET + hashing. */
  async resolveDigest(repo: string, reference: string): Promise<Digest> {
    const path = `/v2/${repo}/manifests/${reference}`;
    const res = await this.request({
      method: 'HEAD',
      path,
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [repositoryScope(repo, 'pull')],
      notFound: 'MANIFEST_UNKNOWN',
      accept: [405, 400],
    });
    await drain(res.body);
    const header = res.headers['docker-content-digest'];
    if (res.status === 200 && header !== undefined && isDigest(header)) {
      if (isDigest(reference) && header !== reference) {
        throw new DockerError(
          'DIGEST_MISMATCH',
          `resolving ${repo}@${reference}: registry answered ${header}`,
        );
      }
      return header;
    }
    return (await this.getManifest(repo, reference)).digest;
  }

  /** GETs a manifest (≤ 4 MiB); by-digest requests are verified, by-tag ones hashed. */
  async getManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<ManifestResult> {
    const path = `/v2/${repo}/manifests/${reference}`;
    const what = `reading manifest ${reference} in ${this.registry}/${repo}`;
    const res = await this.#withRetry(async () => {
      const r = await this.request({
        method: 'GET',
        path,
        headers: { accept: accept.join(', ') },
        scopes: [repositoryScope(repo, 'pull')],
        notFound: 'MANIFEST_UNKNOWN',
        retry: false,
      });
      const length = Number(r.headers['content-length'] ?? Number.NaN);
      if (length > MAX_MANIFEST_SIZE) {
        discard(r.body);
        throw new DockerError(
          'TOO_LARGE',
          `${what}: manifest of ${length} bytes exceeds ${MAX_MANIFEST_SIZE}`,
        );
      }
      const bytes = await readCapped(r.body, MAX_MANIFEST_SIZE, what);
      return { r, bytes };
    });
    const { r, bytes } = res;
    const served = mimeOf(r.headers['content-type']);
    if (served === 'text/html' || /^\s*</.test(bytes.toString('utf8', 0, 32))) {
      throw new DockerError('BAD_RESPONSE', `${what}: got an HTML page instead of a manifest`);
    }
    // Some registries label manifests generically; the bytes say what they are (as upstream).
    const mimeType =
      served === '' || served === 'text/plain' || served === 'application/json'
        ? guessMIMEType(bytes)
        : served;
    if (isDigest(reference)) {
      const actual = manifestDigest(bytes, digestAlgorithm(reference));
      if (actual !== reference) {
        throw new DockerError(
          'DIGEST_MISMATCH',
          `${what}: manifest does not match its digest, got ${actual}`,
        );
      }
      return { manifest: bytes, mimeType, digest: reference };
    }
    return { manifest: bytes, mimeType, digest: manifestDigest(bytes) };
  }

  async putManifest(
    repo: string,
    reference: string,
    manifest: Uint8Array,
    mimeType: string,
  ): Promise<Digest> {
    const res = await this.request({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { 'content-type': mimeType },
      body: manifest,
      scopes: [repositoryScope(repo, 'pull,push')],
    });
    await drain(res.body);
    const expected = manifestDigest(manifest);
    const header = res.headers['docker-content-digest'];
    if (header !== undefined && isDigest(header) && header !== expected && header.startsWith('sha256:')) {
      throw new DockerError(
        'DIGEST_MISMATCH',
        `writing manifest ${reference} to ${this.registry}/${repo}: registry computed ${header}, expected ${expected}`,
      );
    }
    return expected;
  }

  async deleteManifest(repo: string, digest: Digest): Promise<void> {
    const res = await this.request({
      method: 'DELETE',
      path: `/v2/${repo}/manifests/${digest}`,
      scopes: [repositoryScope(repo, '*')],
      notFound: 'MANIFEST_UNKNOWN',
    });
    await drain(res.body);
  }

  /** Size of a blob, or undefined when the repository does not have it. */
  async headBlob(repo: string, digest: Digest): Promise<number | undefined> {
    const res = await this.request({
      method: 'HEAD',
      path: `/v2/${repo}/blobs/${digest}`,
      scopes: [repositoryScope(repo, 'pull')],
      accept: [404],
    });
    await drain(res.body);
    if (res.status === 404) return undefined;
    const n = Number(res.headers['content-length']);
    return Number.isSafeInteger(n) ? n : -1;
  }

  /**
   * Streams a blob. The stream resumes with `Range` when a body breaks off. With `verify` it is
   * hashed as it flows and ends in DIGEST_MISMATCH instead of `end` when the bytes (or their count,
   * when `expectedSize` is given) do not match: one stage fewer than piping it through
   * verifyingStream. Without it the caller verifies.
   */
  async getBlob(
    repo: string,
    digest: Digest,
    options: { readonly verify?: { readonly expectedSize?: number; readonly what: string } } = {},
  ): Promise<{ stream: Readable; size: number }> {
    const path = `/v2/${repo}/blobs/${digest}`;
    const what = `reading blob ${digest} from ${this.registry}/${repo}`;
    const first = await this.request({
      method: 'GET',
      path,
      scopes: [repositoryScope(repo, 'pull')],
      notFound: 'BLOB_UNKNOWN',
    });
    const lengthHeader = Number(first.headers['content-length']);
    const size = Number.isSafeInteger(lengthHeader) ? lengthHeader : -1;
    const acceptsRanges = size >= 0;
    const resume = async (offset: number): Promise<HttpResponse> => {
      const r = await this.request({
        method: 'GET',
        path,
        headers: { range: `bytes=${offset}-` },
        scopes: [repositoryScope(repo, 'pull')],
        notFound: 'BLOB_UNKNOWN',
      });
      if (r.status !== 206) {
        discard(r.body);
        throw new DockerError(
          'SHORT_BODY',
          `${what}: body broke off at ${offset} bytes and the registry does not support Range`,
        );
      }
      return r;
    };
    // Body chunks are pushed straight on (no async iteration per chunk); a body that breaks off is
    // resumed from the byte reached.
    let body = first.body;
    let received = 0;
    const verify = options.verify;
    const digester = verify === undefined ? undefined : new Digester(digestAlgorithm(digest));
    let held: Buffer | undefined;
    /** Undefined when the bytes so far (all of them when `complete`) are what was asked for. */
    const mismatch = (complete: boolean) =>
      digester === undefined || verify === undefined
        ? undefined
        : verificationFailure(digester, digest, verify, complete);
    let resumes = 0;
    // Bumped when a body is given up, so its late events are ignored.
    let attempt = 0;
    const stream = new Readable({
      read() {
        body.resume();
      },
      destroy(err, callback) {
        discard(body);
        callback(err);
      },
    });
    const brokeOff = (err: unknown): void => {
      attempt++;
      discard(body);
      if (stream.destroyed) return;
      const e = bodyError(err, what);
      if (!acceptsRanges || resumes >= MAX_BLOB_RESUMES || received >= size) {
        stream.destroy(e);
        return;
      }
      resumes++;
      resume(received).then(
        (r) => {
          if (stream.destroyed) discard(r.body);
          else attach(r.body);
        },
        (e2: unknown) => stream.destroy(e2 as Error),
      );
    };
    const attach = (b: Readable): void => {
      body = b;
      const mine = attempt;
      b.on('data', (chunk: Buffer) => {
        if (mine !== attempt || stream.destroyed) return;
        received += chunk.byteLength;
        let out = chunk;
        if (digester !== undefined) {
          digester.update(chunk);
          const wrong = mismatch(false);
          if (wrong !== undefined) {
            attempt++;
            stream.destroy(wrong);
            return;
          }
          // The newest chunk is held back, so a consumer never has the whole blob before it is verified.
          const previous = held;
          held = chunk;
          if (previous === undefined) return;
          out = previous;
        }
        if (!stream.push(out)) b.pause();
      });
      b.on('end', () => {
        if (mine !== attempt || stream.destroyed) return;
        if (size >= 0 && received < size) {
          brokeOff(new DockerError('SHORT_BODY', `${what}: got ${received} of ${size} bytes`));
          return;
        }
        const wrong = mismatch(true);
        if (wrong !== undefined) {
          stream.destroy(wrong);
          return;
        }
        if (held !== undefined) stream.push(held);
        held = undefined;
        stream.push(null);
      });
      b.on('error', (err) => {
        if (mine === attempt) brokeOff(err);
      });
    };
    attach(first.body);
    return { stream, size };
  }

  /**
   * Uploads a blob and returns its digest and size; the digest is verified against `expected`.
   * With `streamVerified` the stream itself fails unless its bytes match `expected` (the copy
   * engine's verifier), so it is not hashed a second time; sizes are still counted.
   */
  async putBlob(
    repo: string,
    stream: Readable,
    expected: Digest | undefined,
    size: number,
    options: { readonly streamVerified?: boolean } = {},
  ): Promise<{ digest: Digest; size: number }> {
    const what = `writing blob to ${this.registry}/${repo}`;
    const scopes = [repositoryScope(repo, 'pull,push')];
    // When the source fails (a digest mismatch, a broken pull), that is the error to report, not
    // the aborted request it caused; listening from the start also covers a failure during POST.
    let sourceError: unknown;
    stream.once('error', (err) => {
      sourceError = err;
    });
    const start = await this.request({
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/`,
      scopes,
      accept: [202],
    });
    await drain(start.body);
    let location = this.#uploadLocation(start, what);
    const trusted = options.streamVerified === true && expected !== undefined;
    const digester = trusted
      ? undefined
      : new Digester(expected === undefined ? 'sha256' : digestAlgorithm(expected));
    let sent = 0;
    // A verified stream of known size goes to the socket as it is: undici enforces Content-Length
    // (fewer or more bytes fail the request) and the stream itself fails on a wrong digest.
    const chunkSize = this.#opts.uploadChunkSize ?? UPLOAD_CHUNK_SIZE;
    const direct = trusted && size >= 0 && (size <= MONOLITHIC_UPLOAD_MAX || size <= chunkSize);
    let metered: Readable = stream;
    if (!direct) {
      metered = new Transform({
        transform(chunk: Buffer, _enc, callback) {
          digester?.update(chunk);
          sent += chunk.byteLength;
          callback(null, chunk);
        },
      });
      pipeline(stream, metered as Transform, () => {
        // errors surface on `metered`, which the request body reads
      });
    }
    /**
     * A verified stream of known size was all sent once its request succeeded (undici enforces the
     * Content-Length). undici may close the stream before it reports its own end, so that is not
     * awaited; a verifier that failed has already said so.
     */
    const bodyDone = (): void => {
      if (!direct) return;
      if (sourceError !== undefined) throw sourceError;
      sent = size;
    };
    try {
      if (expected !== undefined && size >= 0 && size <= MONOLITHIC_UPLOAD_MAX) {
        const url = this.#withQuery(location, { digest: expected });
        const res = await this.request({
          method: 'PUT',
          path: url,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
          body: metered,
          scopes,
        });
        await drain(res.body);
        bodyDone();
        checkStoredDigest(res, expected, what);
      } else {
        // Large or unsized blobs go up as a series of streamed PATCH chunks, never buffered whole.
        const whole = size >= 0 && size <= chunkSize;
        // Created only when re-chunking: an iterator starts reading the stream at once.
        let source: AsyncIterator<Buffer> | undefined;
        const nextChunk = () => {
          source ??= metered[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
          return source.next();
        };
        let pending: Buffer | undefined;
        async function* chunk(): AsyncGenerator<Buffer> {
          for (let sent = 0; sent < chunkSize; ) {
            let buf = pending;
            pending = undefined;
            if (buf === undefined) {
              const next = await nextChunk();
              if (next.done === true) return;
              buf = next.value;
            }
            if (sent + buf.length > chunkSize) {
              pending = buf.subarray(chunkSize - sent);
              buf = buf.subarray(0, chunkSize - sent);
            }
            sent += buf.length;
            yield buf;
          }
        }
        if (whole) {
          // One PATCH takes the stream as it is, without re-chunking it (as skopeo does), with a
          // Content-Length when the size is known so it is not sent chunked.
          const patch = await this.request({
            method: 'PATCH',
            path: location,
            headers: {
              'content-type': 'application/octet-stream',
              ...(direct ? { 'content-length': String(size) } : {}),
            },
            body: metered,
            scopes,
          });
          await drain(patch.body);
          bodyDone();
          location = this.#uploadLocation(patch, what);
        }
        for (let first = true; !whole; first = false) {
          if (pending === undefined) {
            const next = await nextChunk();
            if (next.done === true && !first) break;
            pending = next.done === true ? undefined : next.value;
          }
          const patch = await this.request({
            method: 'PATCH',
            path: location,
            headers: { 'content-type': 'application/octet-stream' },
            body: Readable.from(chunk()),
            scopes,
          });
          await drain(patch.body);
          location = this.#uploadLocation(patch, what);
        }
        const actual = digester === undefined ? (expected as Digest) : digester.digest();
        if (expected !== undefined && actual !== expected) {
          throw new DockerError('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}`);
        }
        if (size >= 0 && sent !== size) {
          throw new DockerError('SIZE_INVALID', `${what}: expected ${size} bytes, got ${sent}`);
        }
        const res = await this.request({
          method: 'PUT',
          path: this.#withQuery(location, { digest: actual }),
          headers: { 'content-length': '0' },
          body: '',
          scopes,
        });
        await drain(res.body);
        checkStoredDigest(res, actual, what);
        return { digest: actual, size: sent };
      }
    } catch (err) {
      await this.#cancelUpload(location, scopes);
      throw sourceError ?? err;
    }
    if (size >= 0 && sent !== size) {
      throw new DockerError('SIZE_INVALID', `${what}: expected ${size} bytes, got ${sent}`);
    }
    return { digest: expected, size: sent };
  }

  async #cancelUpload(location: string, scopes: readonly string[]): Promise<void> {
    try {
      const res = await this.request({ method: 'DELETE', path: location, scopes, accept: [404] });
      await drain(res.body);
    } catch {
      // the registry expires abandoned uploads on its own
    }
  }

  #uploadLocation(res: HttpResponse, what: string): string {
    const location = res.headers.location;
    if (location === undefined)
      throw new DockerError('BAD_RESPONSE', `${what}: upload response without Location`);
    return new URL(location, `${this.#origin}/`).toString();
  }

  #withQuery(url: string, params: Record<string, string>): string {
    const u = new URL(url);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.toString();
  }

  /** Cross-repository mount; true when the registry mounted the blob (201). */
  async mountBlob(repo: string, from: string, digest: Digest): Promise<boolean> {
    const scopes = [repositoryScope(repo, 'pull,push'), repositoryScope(from, 'pull')];
    const res = await this.request({
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      scopes,
      accept: [202],
    });
    await drain(res.body);
    if (res.status === 201) return true;
    // 202: the registry started an ordinary upload instead; abandon it.
    if (res.headers.location !== undefined)
      await this.#cancelUpload(this.#uploadLocation(res, 'mount'), scopes);
    return false;
  }

  /** Follows Link pagination; `maxItems` bounds the total. */
  async #paginate(
    firstPath: string,
    field: 'tags' | 'repositories',
    scopes: readonly string[],
    notFound: DockerErrorCode,
    maxItems: number,
  ): Promise<string[]> {
    const items: string[] = [];
    let path: string | undefined = firstPath;
    for (let page = 0; path !== undefined; page++) {
      if (page >= MAX_TAG_PAGES)
        throw new DockerError('TOO_LARGE', `listing ${this.registry}: more than ${MAX_TAG_PAGES} pages`);
      const res = await this.request({ method: 'GET', path, scopes, notFound });
      const body = await readCapped(res.body, MAX_TAGS_PAGE, `listing ${this.#describe(path)}`);
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new DockerError('BAD_RESPONSE', `listing ${this.#describe(path)}: response is not JSON`);
      }
      const list = doc[field];
      if (list !== null && list !== undefined) {
        if (!Array.isArray(list) || !list.every((t) => typeof t === 'string')) {
          throw new DockerError(
            'BAD_RESPONSE',
            `listing ${this.#describe(path)}: ${field} is not a list of strings`,
          );
        }
        items.push(...(list as string[]));
        if (items.length > maxItems)
          throw new DockerError('TOO_LARGE', `listing ${this.registry}: more than ${maxItems} ${field}`);
      }
      path = nextLink(res.headers.link);
    }
    return items;
  }

  /** All tags, following Link pagination; `pageSize` asks for pages of that many (`n=`). */
  listTags(repo: string, options: { pageSize?: number; maxTags?: number } = {}): Promise<string[]> {
    const maxTags = options.maxTags ?? 1_000_000;
    const query = options.pageSize === undefined ? '' : `?n=${options.pageSize}`;
    return this.#paginate(
      `/v2/${repo}/tags/list${query}`,
      'tags',
      [repositoryScope(repo, 'pull')],
      'NAME_UNKNOWN',
      maxTags,
    );
  }

  catalog(maxRepositories = 1_000_000): Promise<string[]> {
    return this.#paginate(
      '/v2/_catalog',
      'repositories',
      ['registry:catalog:*'],
      'NOT_SUPPORTED',
      maxRepositories,
    );
  }

  /**
   * OCI 1.1 referrers of `digest`; registries without the API (404/405/400) fall back to the
   * `sha256-<hex>` tag schema. At most `max` descriptors. `tagAbsent`: the caller knows there is
   * no such tag, so the fallback is not asked for.
   */
  async listReferrers(
    repo: string,
    digest: Digest,
    artifactType?: string,
    max = 1000,
    options: { readonly tagAbsent?: boolean } = {},
  ): Promise<Descriptor[]> {
    const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
    let index: Uint8Array | undefined;
    if (this.session.withoutReferrersApi.get(this.registry) === undefined) {
      const res = await this.request({
        method: 'GET',
        path: `/v2/${repo}/referrers/${digest}${query}`,
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
        scopes: [repositoryScope(repo, 'pull')],
        accept: [404, 405, 400],
      });
      const type = mimeOf(res.headers['content-type']);
      if (res.status === 200 && type === 'application/vnd.oci.image.index.v1+json') {
        index = await readCapped(res.body, MAX_MANIFEST_SIZE, `listing referrers of ${digest}`);
      } else {
        await drain(res.body);
        // distribution-spec 1.1 forbids a 404 from a registry that has the API: a plain (not a
        // Distribution error JSON) 404 is the router's "no such endpoint", so later listings on
        // this registry go straight to the tag schema instead of asking again per image.
        if (res.status === 404 && type !== 'application/json') {
          this.session.withoutReferrersApi.set(this.registry, true);
        }
      }
    }
    if (index === undefined) {
      if (options.tagAbsent === true) return [];
      try {
        index = (
          await this.getManifest(repo, digest.replace(':', '-'), ['application/vnd.oci.image.index.v1+json'])
        ).manifest;
      } catch (err) {
        if (isManifestAbsent(err)) return [];
        throw err;
      }
    }
    return descriptorsOf(index, artifactType, max, `referrers of ${digest}`);
  }

  /** Simple signatures through the X-Registry-Supports-Signatures extension (read side). */
  async extensionSignatures(
    repo: string,
    digest: Digest,
    maxSignatures: number,
    maxBytes: number,
  ): Promise<Uint8Array[]> {
    const res = await this.request({
      method: 'GET',
      path: extensionSignaturesPath(repo, digest),
      scopes: [repositoryScope(repo, 'pull')],
      accept: [404],
    });
    if (res.status === 404) {
      await drain(res.body);
      return [];
    }
    const body = await readCapped(res.body, MAX_SIGNATURE_LIST, `reading signatures of ${digest}`);
    let doc: { signatures?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as { signatures?: unknown };
    } catch {
      throw new DockerError('BAD_RESPONSE', `reading signatures of ${digest}: response is not JSON`);
    }
    const list = Array.isArray(doc.signatures) ? doc.signatures : [];
    const out: Uint8Array[] = [];
    for (const s of list.slice(0, maxSignatures)) {
      const e = s as { schemaVersion?: unknown; type?: unknown; content?: unknown };
      if (e.schemaVersion !== 2)
        throw new DockerError(
          'SIGNATURE_INVALID',
          `reading signatures of ${digest}: unsupported schemaVersion`,
        );
      if (e.type !== 'atomic')
        throw new DockerError('SIGNATURE_INVALID', `reading signatures of ${digest}: unsupported type`);
      if (typeof e.content !== 'string')
        throw new DockerError('SIGNATURE_INVALID', `reading signatures of ${digest}: content is not base64`);
      const bytes = Buffer.from(e.content, 'base64');
      if (bytes.byteLength > maxBytes)
        throw new DockerError(
          'TOO_LARGE',
          `reading signatures of ${digest}: signature larger than ${maxBytes} bytes`,
        );
      out.push(bytes);
    }
    return out;
  }

  /**
   * Adds simple signatures through the X-Registry-Supports-Signatures extension; signatures the
   * registry already has (same bytes) are skipped. Each new one gets a random unique name.
   */
  async putExtensionSignatures(repo: string, digest: Digest, blobs: readonly Uint8Array[]): Promise<void> {
    const existing = await this.extensionSignatures(
      repo,
      digest,
      Number.MAX_SAFE_INTEGER,
      MAX_SIGNATURE_LIST,
    );
    for (const blob of blobs) {
      if (existing.some((e) => Buffer.compare(Buffer.from(e), Buffer.from(blob)) === 0)) continue;
      const body = JSON.stringify({
        schemaVersion: 2,
        name: `${digest}@${randomBytes(16).toString('hex')}`,
        type: 'atomic',
        content: Buffer.from(blob).toString('base64'),
      });
      const res = await this.request({
        method: 'PUT',
        path: extensionSignaturesPath(repo, digest),
        headers: { 'content-type': 'application/json' },
        body,
        scopes: [repositoryScope(repo, 'pull,push')],
      });
      await drain(res.body);
      if (res.status !== 201) {
        throw new DockerError(
          'BAD_RESPONSE',
          `writing a signature of ${digest} to ${this.registry}/${repo}: status ${res.status}, expected 201`,
          { status: res.status },
        );
      }
    }
  }
}

/** The extension API's path for the signatures of `digest`. */
function extensionSignaturesPath(repo: string, digest: Digest): string {
  return `/extensions/v2/${repo}/signatures/${digest}`;
}

/** A registry that stores a blob under another digest than the one sent is not trusted further. */
function checkStoredDigest(res: HttpResponse, expected: Digest, what: string): void {
  const stored = res.headers['docker-content-digest'];
  if (
    stored !== undefined &&
    isDigest(stored) &&
    stored !== expected &&
    digestAlgorithm(stored) === digestAlgorithm(expected)
  ) {
    throw new DockerError('DIGEST_MISMATCH', `${what}: registry stored ${stored}, expected ${expected}`);
  }
}

/** The `rel="next"` target of a Link header, if any. */
export function nextLink(link: string | undefined): string | undefined {
  if (link === undefined) return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m !== null && /\brel\s*=\s*"?next"?/.test(m[2]!)) return m[1]!;
  }
  return undefined;
}

/** The descriptors of an OCI index (referrers), filtered by artifactType, at most `max`. */
export function descriptorsOf(
  index: Uint8Array,
  artifactType: string | undefined,
  max: number,
  what: string,
): Descriptor[] {
  let doc: { manifests?: unknown };
  try {
    doc = JSON.parse(Buffer.from(index).toString('utf8')) as { manifests?: unknown };
  } catch {
    throw new DockerError('BAD_RESPONSE', `${what}: index is not JSON`);
  }
  if (!Array.isArray(doc.manifests)) return [];
  const out: Descriptor[] = [];
  for (const m of doc.manifests) {
    const d = m as Record<string, unknown>;
    if (
      typeof d.digest !== 'string' ||
      !isDigest(d.digest) ||
      typeof d.mediaType !== 'string' ||
      typeof d.size !== 'number'
    ) {
      throw new DockerError('BAD_RESPONSE', `${what}: invalid descriptor`);
    }
    const at = typeof d.artifactType === 'string' ? d.artifactType : undefined;
    if (artifactType !== undefined && at !== artifactType) continue;
    out.push({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(at !== undefined ? { artifactType: at } : {}),
      ...(typeof d.annotations === 'object' && d.annotations !== null
        ? { annotations: d.annotations as Record<string, string> }
        : {}),
    });
    if (out.length >= max) break;
  }
  return out;
}
