// The only module in src that imports undici: connection pools, TLS settings, timeouts, redirects.
// Every request of the docker transport passes through send(), which publishes it (see trace.ts).
import { channel } from 'node:diagnostics_channel';
import type { Readable } from 'node:stream';
import type { Agent } from 'undici';
import {
  abortError,
  bodyError,
  DockerError,
  type DockerErrorCode,
  MAX_ERROR_BODY,
  networkError,
  registryError,
} from './errors.ts';
import { holdParserTierUp, releaseParserTierUp } from './parser-tiering.ts';
import type { RequestEvent } from './trace.ts';

export interface TlsSettings {
  /** false skips certificate verification. */
  readonly verify: boolean;
  /** Extra CA certificates (PEM) on top of the system ones. */
  readonly ca?: readonly string[];
  readonly cert?: string;
  readonly key?: string;
}

export interface Timeouts {
  readonly connectMs: number;
  readonly headersMs: number;
  /** Maximum idle time between two body chunks. */
  readonly bodyMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 10_000, headersMs: 30_000, bodyMs: 60_000 };
export const MAX_REDIRECTS = 10;

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  readonly method: HttpMethod;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string | Readable;
  readonly signal?: AbortSignal;
  /** Follow 3xx answers (GET/HEAD only); Authorization is dropped when the host changes. */
  readonly followRedirects?: boolean;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-case header names; repeated headers joined with ", " except where noted. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Every WWW-Authenticate header value (they cannot be joined safely). */
  readonly challenges: readonly string[];
  readonly body: Readable;
  /** The URL that answered, after redirects. */
  readonly url: string;
}

export interface Undici {
  readonly Agent: typeof import('undici').Agent;
  readonly request: typeof import('undici').request;
  /** false when the deep modules were not usable and the package index was loaded instead */
  readonly deep: boolean;
}
let undici: Promise<Undici> | undefined;

// undici's index also loads fetch, WebSocket, caches and mocks (about 20 ms of a CLI start-up and
// 13 MiB more RSS); only the pool and the request API are used here. These paths are not a
// documented API, so what they export is checked and the index is the fallback. The specifiers are
// literal so that the CLI bundle (scripts/build.ts) can include the two modules.
export type UndiciModules = () => Promise<readonly [agent: unknown, request: unknown]>;
const UNDICI_DEEP_MODULES: UndiciModules = () =>
  Promise.all([import('undici/lib/dispatcher/agent.js'), import('undici/lib/api/api-request.js')]);

async function deepUndici(modules: UndiciModules): Promise<Undici | undefined> {
  const [agent, api] = await modules().catch(() => []);
  const Agent: unknown = (agent as { default?: unknown } | undefined)?.default;
  const dispatch: unknown = (api as { default?: unknown } | undefined)?.default;
  if (typeof Agent !== 'function' || typeof Agent.prototype.dispatch !== 'function') return undefined;
  if (typeof dispatch !== 'function') return undefined;
  // What undici's top-level request() does: split the URL into origin and path for the pool.
  const request = (url: string, opts: Record<string, unknown> & { dispatcher: unknown }) => {
    const u = new URL(url);
    const { dispatcher, ...rest } = opts;
    return dispatch.call(dispatcher, { ...rest, origin: u.origin, path: `${u.pathname}${u.search}` });
  };
  return { Agent, request, deep: true } as unknown as Undici;
}

/**
 * Loads undici's pool and request API, from `modules` when they are what this code expects and
 * from the package index otherwise. Exported for the test that pins the fast path and the fallback.
 */
export async function loadUndiciFrom(modules: UndiciModules = UNDICI_DEEP_MODULES): Promise<Undici> {
  const deep = await deepUndici(modules);
  if (deep !== undefined) return deep;
  const index = await import('undici');
  return { Agent: index.Agent, request: index.request, deep: false };
}

/** undici is loaded on first use: CLI commands that never reach a registry do not pay for it. */
function loadUndici(): Promise<Undici> {
  undici ??= loadUndiciFrom();
  return undici;
}

/** Keep-alive pools, one per TLS configuration; a RegistrySession (session.ts) holds one. */
export class AgentPool {
  readonly #agents = new Map<string, Agent>();

  /** The pool for these settings, created on first use. */
  async agentFor(tls: TlsSettings, timeouts: Timeouts): Promise<Agent> {
    // Loaded before the lookup, so concurrent first calls cannot both create a pool.
    const { Agent } = await loadUndici();
    const customCa = tls.ca !== undefined && tls.ca.length > 0;
    const nodeTls = customCa ? await import('node:tls') : undefined;
    const key = JSON.stringify([tls.verify, tls.ca ?? [], tls.cert ?? '', tls.key ?? '', timeouts.connectMs]);
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      const connect: Record<string, unknown> = {
        rejectUnauthorized: tls.verify,
        timeout: timeouts.connectMs,
      };
      if (nodeTls !== undefined) {
        // Node replaces its default CAs when `ca` is set, so they are listed too; and the context is
        // built once per pool, not per connection: parsing every root certificate takes ~10 ms.
        connect.secureContext = nodeTls.createSecureContext({
          ca: [...nodeTls.getCACertificates('default'), ...(tls.ca ?? [])],
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
        });
      } else {
        // Nothing verified, no trust store needed: building the default one parses every root
        // certificate (and NODE_EXTRA_CA_CERTS), ~5 ms of a short command.
        if (!tls.verify) connect.ca = [];
        if (tls.cert !== undefined) connect.cert = tls.cert;
        if (tls.key !== undefined) connect.key = tls.key;
      }
      agent = new Agent({ connect, keepAliveTimeout: 30_000, connections: 32, pipelining: 1 });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** Closes every pool; later requests open new ones. */
  async close(): Promise<void> {
    const all = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(all.map((a) => a.close()));
  }
}

function headerRecord(raw: Record<string, string | string[] | undefined>): {
  headers: Record<string, string | undefined>;
  challenges: string[];
} {
  const headers: Record<string, string | undefined> = {};
  let challenges: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const lower = name.toLowerCase();
    if (lower === 'www-authenticate') {
      challenges = value === undefined ? [] : Array.isArray(value) ? value : [value];
    }
    headers[lower] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { headers, challenges };
}

function describe(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

export interface HttpClientOptions {
  /** The connection pools to send through. */
  readonly agents: AgentPool;
  readonly tls: TlsSettings;
  readonly timeouts?: Timeouts;
  readonly userAgent?: string;
}

export const REQUEST_CHANNEL = 'portcullis:registry:request';
const requests = channel(REQUEST_CHANNEL);

/** Publishes one exchange (trace.ts): the status answered, or the failure's error code. */
function publishRequest(
  method: string,
  url: string,
  startedAt: number,
  outcome: { readonly status: number } | { readonly error: string },
): void {
  if (!requests.hasSubscribers) return;
  const u = new URL(url);
  const event: RequestEvent = {
    method,
    scheme: u.protocol.slice(0, -1),
    host: u.host,
    path: u.pathname,
    ...outcome,
    durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
  };
  requests.publish(event);
}

/** Sends one request (following redirects when asked). Callers must consume or destroy `body`. */
export async function send(req: HttpRequest, options: HttpClientOptions): Promise<HttpResponse> {
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const dispatcher = await options.agents.agentFor(options.tls, timeouts);
  const { request } = await loadUndici();
  let url = req.url;
  let headers: Record<string, string> = { ...req.headers };
  if (options.userAgent !== undefined) headers['user-agent'] = options.userAgent;
  const follow = req.followRedirects === true && (req.method === 'GET' || req.method === 'HEAD');
  for (let hop = 0; ; hop++) {
    let res: Awaited<ReturnType<typeof request>>;
    const holding = holdParserTierUp();
    const startedAt = performance.now();
    try {
      res = await request(url, {
        dispatcher,
        method: req.method,
        headers,
        body: req.body ?? null,
        signal: req.signal,
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyMs,
        // undici closes the connection after every HEAD (for servers that send a body anyway);
        // registries do not, and sync HEADs every blob and tag: keep the connection, as skopeo does.
        ...(req.method === 'HEAD' ? { reset: false } : {}),
      });
    } catch (err) {
      if (holding) releaseParserTierUp(false);
      const where = `${req.method} ${describe(url)}`;
      // The signal's reason may be anything; an abort is an abort.
      const failure = req.signal?.aborted === true ? abortError(where, err) : networkError(err, where);
      publishRequest(req.method, url, startedAt, { error: failure.code });
      throw failure;
    }
    if (holding) releaseParserTierUp(true);
    publishRequest(req.method, url, startedAt, { status: res.statusCode });
    const { headers: h, challenges } = headerRecord(res.headers);
    const location = h.location;
    if (follow && res.statusCode >= 300 && res.statusCode < 400 && location !== undefined) {
      discard(res.body);
      if (hop >= MAX_REDIRECTS) {
        throw new DockerError(
          'REDIRECT_LOOP',
          `${req.method} ${describe(req.url)}: more than ${MAX_REDIRECTS} redirects`,
        );
      }
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new DockerError(
          'BAD_RESPONSE',
          `${req.method} ${describe(url)}: redirect to unsupported scheme ${next.protocol}`,
        );
      }
      // Credentials for one host must never reach another (blob storage behind a registry).
      if (next.host !== new URL(url).host) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      url = next.toString();
      continue;
    }
    return { status: res.statusCode, headers: h, challenges, body: res.body, url };
  }
}

/** Reads at most `limit` bytes of a body; more is TOO_LARGE (the rest is discarded). */
export async function readCapped(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      total += buf.byteLength;
      if (total > limit) {
        discard(body);
        throw new DockerError('TOO_LARGE', `${what}: larger than ${limit} bytes`);
      }
      chunks.push(buf);
    }
  } catch (err) {
    throw bodyError(err, what);
  }
  return Buffer.concat(chunks, total);
}

/** Reads up to `limit` bytes and drops the rest without failing (error bodies). */
export async function readPrefix(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      if (total < limit) chunks.push(buf.subarray(0, limit - total));
      total += buf.byteLength;
      if (total >= limit) break;
    }
  } catch {
    // an error body that breaks off is still worth reporting with what arrived
  } finally {
    discard(body);
  }
  return Buffer.concat(chunks);
}

/** The typed error of a non-2xx answer to `what` (errors.ts), reading at most MAX_ERROR_BODY of it. */
export async function errorFromResponse(
  res: HttpResponse,
  what: string,
  notFound?: DockerErrorCode,
): Promise<DockerError> {
  return registryError(res, await readPrefix(res.body, MAX_ERROR_BODY), what, notFound);
}

/** An absolute URL for messages: scheme, host and path, never the query (upload states, signed URLs). */
export function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Abandons a body; undici reports the abort as an error nobody needs to hear. */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** Discards a body so the connection returns to the pool. */
export async function drain(body: Readable): Promise<void> {
  try {
    const dumpable = body as Readable & { dump?: (opts?: { limit: number }) => Promise<void> };
    if (typeof dumpable.dump === 'function') {
      // undici reads up to the limit to keep the connection, and closes it beyond that.
      await dumpable.dump({ limit: 128 << 10 });
      return;
    }
    body.resume();
    for await (const _ of body) {
      // discard
    }
  } catch {
    // the response is already handled; a broken tail changes nothing
  }
}

/** The media type of a Content-Type header, without parameters. */
export function mimeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim();
}
