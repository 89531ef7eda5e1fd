// A Distribution API client for one registry host: the request path (authorization, retries,
// limits) and manifests and tags. The other mechanisms act through it, each in its own file:
// ping.ts, blob-reads.ts, uploads.ts, referrers.ts, extension-signatures.ts; auth.ts makes the
// Authorization header, gate.ts holds requests back for budgets and Retry-After, retry.ts the
// backoff, errors.ts translates what registries answer. Every size and wait is bounded.
import { Readable } from 'node:stream';
import { type Digest, digestAlgorithm, isDigest } from '../../digest.ts';
import { guessMIMEType, MANIFEST_SIZE_MAX, manifestDigest } from '../../manifest/index.ts';
import type { CallOptions } from '../../types.ts';
import {
  type Authorizer,
  authorization,
  type Challenge,
  parseChallenges,
  repositoryScope,
  type TokenCache,
  type TokenCredentials,
  tokenCacheFor,
} from './auth.ts';
import { getBlob } from './blob-reads.ts';
import { DockerError, type DockerErrorCode } from './errors.ts';
import { extensionSignatures, putExtensionSignatures } from './extension-signatures.ts';
import { type GatePass, isPull, noteRetryAfter, passGate } from './gate.ts';
import {
  DEFAULT_TIMEOUTS,
  describeUrl,
  discard,
  drain,
  errorFromResponse,
  type HttpMethod,
  type HttpResponse,
  mimeOf,
  readCapped,
  send,
  type Timeouts,
  type TlsSettings,
} from './http.ts';
import { ping } from './ping.ts';
import { listReferrers } from './referrers.ts';
import {
  type Bounds,
  callBounds,
  DEFAULT_RETRY,
  type RetryPolicy,
  retryWhileTemporary,
  type Sleep,
  sleepDefault,
} from './retry.ts';
import { Limiter, type PingResult, type RegistrySession, sharedRegistrySession } from './session.ts';
import { mountBlob, putBlob, UPLOAD_CHUNK_SIZE } from './uploads.ts';

const MAX_TAGS_PAGE = 16 << 20;
const MAX_TAG_PAGES = 10_000;

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

export interface ClientOptions {
  /** host[:port] as used in URLs; docker.io maps to registry-1.docker.io. */
  readonly registry: string;
  /** Plain HTTP is allowed (after HTTPS fails) and TLS errors are ignored. */
  readonly insecure: boolean;
  readonly tls: TlsSettings;
  readonly credentials?: TokenCredentials;
  readonly registryToken?: string;
  readonly userAgent?: string;
  /** Aborts every call of the client; each call may add its own (CallOptions). */
  readonly signal?: AbortSignal;
  /**
   * When the caller stops waiting (a performance.now() time): a retry, a `Retry-After` or a spent
   * budget that would end later fails at once, with a temporary error, instead of being waited for.
   * A call's own deadline may be earlier (CallOptions).
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

/** How a manifest is read: the media types asked for, and the call's bounds. */
export interface ManifestReadOptions extends CallOptions {
  readonly accept?: readonly string[];
}

export interface ManifestResult {
  readonly manifest: Uint8Array;
  readonly mimeType: string;
  readonly digest: Digest;
}

export interface RequestSpec {
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

/** The parameters of a mechanism (blob-reads.ts, uploads.ts, ...) after the client it acts through. */
type AfterClient<F> = F extends (client: RegistryClient, ...rest: infer R) => unknown ? R : never;

export class RegistryClient {
  readonly registry: string;
  readonly session: RegistrySession;
  /** Bytes per PATCH of a chunked upload. */
  readonly uploadChunkSize: number;
  readonly #opts: ClientOptions;
  readonly #tokens: TokenCache;
  readonly #limiter: Limiter;
  readonly #sleep: Sleep;
  readonly #retry: RetryPolicy;
  readonly #gate: GatePass;
  /** The client's own signal and deadline, which bound every call. */
  readonly #bounds: Bounds;
  #origin: string | undefined;
  #challenges: Challenge[] | undefined;
  #supportsSignatures = false;

  constructor(opts: ClientOptions) {
    this.registry = opts.registry;
    this.session = opts.session ?? sharedRegistrySession();
    this.uploadChunkSize = opts.uploadChunkSize ?? UPLOAD_CHUNK_SIZE;
    this.#opts = opts;
    this.#tokens = tokenCacheFor(this.session, opts.registry, opts.credentials);
    this.#limiter = limiterFor(this.session, opts.registry, opts.maxConcurrency ?? DEFAULT_CONCURRENCY);
    this.#sleep = opts.sleep ?? sleepDefault;
    this.#retry = opts.retry ?? DEFAULT_RETRY;
    this.#gate = {
      gate: this.session.gate(opts.registry),
      registry: opts.registry,
      maxWaitMs: this.#retry.totalMs,
      sleep: this.#sleep,
    };
    this.#bounds = { signal: opts.signal, deadline: opts.deadline ?? Number.POSITIVE_INFINITY };
  }

  /** The bounds of one call: the client's and the call's own, whichever ends first. */
  bounds(call: CallOptions = {}): Bounds {
    return callBounds(this.#bounds, call);
  }

  get #http() {
    return {
      agents: this.session.agents,
      tls: this.#opts.tls,
      timeouts: this.#opts.timeouts ?? DEFAULT_TIMEOUTS,
      ...(this.#opts.userAgent !== undefined ? { userAgent: this.#opts.userAgent } : {}),
    };
  }

  /** scheme://host of the registry's API once pinged (relative upload locations resolve against it). */
  get origin(): string | undefined {
    return this.#origin;
  }

  /** The host to contact: Docker Hub's API lives on registry-1.docker.io. */
  get #apiHost(): string {
    return this.registry === 'docker.io' ? 'registry-1.docker.io' : this.registry;
  }

  /** True when the registry advertised the X-Registry-Supports-Signatures extension. */
  async supportsSignatureExtension(call: CallOptions = {}): Promise<boolean> {
    await this.ping(call);
    return this.#supportsSignatures;
  }

  /** GET /v2/ once per client, through the session's shared pings (ping.ts). */
  ping(call: CallOptions = {}): Promise<void> {
    return this.#ping(this.bounds(call));
  }

  async #ping(bounds: Bounds): Promise<void> {
    if (this.#origin !== undefined) return;
    this.#setPing(
      await ping({
        registry: this.registry,
        apiHost: this.#apiHost,
        insecure: this.#opts.insecure,
        session: this.session,
        http: this.#http,
        bounds,
        gate: this.#gate,
        withRetry: (attempt, bounds) => this.#withRetry(attempt, bounds),
      }),
    );
  }

  #setPing(result: PingResult): void {
    this.#origin = result.origin;
    this.#challenges = [...result.challenges];
    this.#supportsSignatures = result.supportsSignatures;
  }

  #authorizer(signal: AbortSignal | undefined): Authorizer {
    return {
      registryToken: this.#opts.registryToken,
      challenges: this.#challenges,
      credentials: this.#opts.credentials,
      tokens: this.#tokens,
      http: this.#http,
      signal,
    };
  }

  /** Retries `attempt` while it fails temporarily (retry.ts), within `bounds`. */
  #withRetry<T>(attempt: () => Promise<T>, bounds: Bounds): Promise<T> {
    return retryWhileTemporary(attempt, this.#retry, this.#sleep, bounds);
  }

  /**
   * One authenticated request within one call's `bounds` (from bounds()); 401 refreshes the
   * token once; temporary failures are retried.
   */
  async request(spec: RequestSpec, bounds: Bounds): Promise<HttpResponse> {
    await this.#ping(bounds);
    const replayable = !(spec.body instanceof Readable);
    const what = `${spec.method} ${this.#describe(spec.path)}`;
    const once = async (): Promise<HttpResponse> => {
      let fresh = false;
      for (;;) {
        const auth = await authorization(this.#authorizer(bounds.signal), spec.scopes, fresh);
        const headers: Record<string, string> = { ...spec.headers };
        if (auth !== undefined) headers.authorization = auth;
        const url = /^https?:\/\//.test(spec.path) ? spec.path : `${this.#origin}${spec.path}`;
        await passGate(this.#gate, isPull(spec.method, spec.path), url, bounds);
        const wait = this.#limiter.acquire(bounds.signal);
        if (wait !== undefined) await wait;
        let res: HttpResponse;
        try {
          res = await send(
            {
              method: spec.method,
              url,
              headers,
              ...(spec.body !== undefined ? { body: spec.body } : {}),
              ...(bounds.signal !== undefined ? { signal: bounds.signal } : {}),
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
        noteRetryAfter(this.#gate.gate, err);
        throw err;
      }
    };
    return replayable && spec.retry !== false ? this.#withRetry(once, bounds) : once();
  }

  #describe(path: string): string {
    if (/^https?:\/\//.test(path)) return describeUrl(path);
    return `${this.#origin ?? this.registry}${path.split('?', 1)[0]}`;
  }

  /** Verifies that the credentials are accepted (`login`): GET /v2/ authenticated, no scope. */
  async checkAuth(call: CallOptions = {}): Promise<void> {
    const res = await this.request({ method: 'GET', path: '/v2/', scopes: [] }, this.bounds(call));
    await drain(res.body);
  }

  /** Resolves a tag (or digest) to a digest with HEAD; falls back to GET + hashing. */
  async resolveDigest(repo: string, reference: string, call: CallOptions = {}): Promise<Digest> {
    const path = `/v2/${repo}/manifests/${reference}`;
    const res = await this.request(
      {
        method: 'HEAD',
        path,
        headers: { accept: MANIFEST_ACCEPT.join(', ') },
        scopes: [repositoryScope(repo, 'pull')],
        notFound: 'MANIFEST_UNKNOWN',
        accept: [405, 400],
      },
      this.bounds(call),
    );
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
    return (await this.getManifest(repo, reference, call)).digest;
  }

  /** GETs a manifest (≤ 4 MiB); by-digest requests are verified, by-tag ones hashed. */
  async getManifest(
    repo: string,
    reference: string,
    options: ManifestReadOptions = {},
  ): Promise<ManifestResult> {
    const path = `/v2/${repo}/manifests/${reference}`;
    const what = `reading manifest ${reference} in ${this.registry}/${repo}`;
    const accept = options.accept ?? MANIFEST_ACCEPT;
    const bounds = this.bounds(options);
    const res = await this.#withRetry(async () => {
      const r = await this.request(
        {
          method: 'GET',
          path,
          headers: { accept: accept.join(', ') },
          scopes: [repositoryScope(repo, 'pull')],
          notFound: 'MANIFEST_UNKNOWN',
          retry: false,
        },
        bounds,
      );
      const length = Number(r.headers['content-length'] ?? Number.NaN);
      if (length > MANIFEST_SIZE_MAX) {
        discard(r.body);
        throw new DockerError(
          'TOO_LARGE',
          `${what}: manifest of ${length} bytes exceeds ${MANIFEST_SIZE_MAX}`,
        );
      }
      const bytes = await readCapped(r.body, MANIFEST_SIZE_MAX, what);
      return { r, bytes };
    }, bounds);
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
    call: CallOptions = {},
  ): Promise<Digest> {
    const res = await this.request(
      {
        method: 'PUT',
        path: `/v2/${repo}/manifests/${reference}`,
        headers: { 'content-type': mimeType },
        body: manifest,
        scopes: [repositoryScope(repo, 'pull,push')],
      },
      this.bounds(call),
    );
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

  async deleteManifest(repo: string, digest: Digest, call: CallOptions = {}): Promise<void> {
    const res = await this.request(
      {
        method: 'DELETE',
        path: `/v2/${repo}/manifests/${digest}`,
        scopes: [repositoryScope(repo, '*')],
        notFound: 'MANIFEST_UNKNOWN',
      },
      this.bounds(call),
    );
    await drain(res.body);
  }

  /** Size of a blob, or undefined when the repository does not have it. */
  async headBlob(repo: string, digest: Digest, call: CallOptions = {}): Promise<number | undefined> {
    const res = await this.request(
      {
        method: 'HEAD',
        path: `/v2/${repo}/blobs/${digest}`,
        scopes: [repositoryScope(repo, 'pull')],
        accept: [404],
      },
      this.bounds(call),
    );
    await drain(res.body);
    if (res.status === 404) return undefined;
    const n = Number(res.headers['content-length']);
    return Number.isSafeInteger(n) ? n : -1;
  }

  /** Streams a blob, resumed where its body breaks off (blob-reads.ts). */
  getBlob(...args: AfterClient<typeof getBlob>): ReturnType<typeof getBlob> {
    return getBlob(this, ...args);
  }

  /** Uploads a blob, verified against its digest (uploads.ts). */
  putBlob(...args: AfterClient<typeof putBlob>): ReturnType<typeof putBlob> {
    return putBlob(this, ...args);
  }

  /** Cross-repository mount; true when the registry mounted the blob (uploads.ts). */
  mountBlob(...args: AfterClient<typeof mountBlob>): ReturnType<typeof mountBlob> {
    return mountBlob(this, ...args);
  }

  /** Follows Link pagination; `maxItems` bounds the total. */
  async #paginate(
    firstPath: string,
    field: 'tags' | 'repositories',
    scopes: readonly string[],
    notFound: DockerErrorCode,
    maxItems: number,
    bounds: Bounds,
  ): Promise<string[]> {
    const items: string[] = [];
    let path: string | undefined = firstPath;
    for (let page = 0; path !== undefined; page++) {
      if (page >= MAX_TAG_PAGES)
        throw new DockerError('TOO_LARGE', `listing ${this.registry}: more than ${MAX_TAG_PAGES} pages`);
      const res = await this.request({ method: 'GET', path, scopes, notFound }, bounds);
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
  listTags(
    repo: string,
    options: { readonly pageSize?: number; readonly maxTags?: number } & CallOptions = {},
  ): Promise<string[]> {
    const maxTags = options.maxTags ?? 1_000_000;
    const query = options.pageSize === undefined ? '' : `?n=${options.pageSize}`;
    return this.#paginate(
      `/v2/${repo}/tags/list${query}`,
      'tags',
      [repositoryScope(repo, 'pull')],
      'NAME_UNKNOWN',
      maxTags,
      this.bounds(options),
    );
  }

  catalog(maxRepositories = 1_000_000, call: CallOptions = {}): Promise<string[]> {
    return this.#paginate(
      '/v2/_catalog',
      'repositories',
      ['registry:catalog:*'],
      'OPERATION_NOT_POSSIBLE',
      maxRepositories,
      this.bounds(call),
    );
  }

  /** OCI 1.1 referrers of a digest, bounded (referrers.ts). */
  listReferrers(...args: AfterClient<typeof listReferrers>): ReturnType<typeof listReferrers> {
    return listReferrers(this, ...args);
  }

  /** Simple signatures through the X-Registry-Supports-Signatures extension (extension-signatures.ts). */
  extensionSignatures(
    ...args: AfterClient<typeof extensionSignatures>
  ): ReturnType<typeof extensionSignatures> {
    return extensionSignatures(this, ...args);
  }

  /** Adds simple signatures through that extension (extension-signatures.ts). */
  putExtensionSignatures(
    ...args: AfterClient<typeof putExtensionSignatures>
  ): ReturnType<typeof putExtensionSignatures> {
    return putExtensionSignatures(this, ...args);
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
