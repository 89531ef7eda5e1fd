// WWW-Authenticate challenges and the Bearer token flow (Docker token spec, OAuth2 refresh tokens).
import { createHash } from 'node:crypto';
import { DockerError } from './errors.ts';
import { type HttpClientOptions, readCapped, readPrefix, send } from './http.ts';
import type { RegistrySession } from './session.ts';

export interface Challenge {
  /** Lower-case scheme: "basic" or "bearer" (others are kept and ignored). */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const MAX_TOKEN_RESPONSE = 1 << 20;
const MAX_CACHED_TOKENS = 10_000;
const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Refresh a little before expiry so a token does not die in flight. */
const EXPIRY_MARGIN_MS = 5_000;

/** Parses every challenge of the WWW-Authenticate headers (RFC 7235 auth-params, quoted strings). */
export function parseChallenges(headers: readonly string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const header of headers) {
    let rest = header.trim();
    let current: { scheme: string; params: Record<string, string> } | undefined;
    while (rest.length > 0) {
      const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+|$)(?![=])/.exec(rest);
      if (scheme !== null && !/^\s*=/.test(rest.slice(scheme[1]!.length))) {
        current = { scheme: scheme[1]!.toLowerCase(), params: {} };
        out.push(current);
        rest = rest.slice(scheme[0].length);
        continue;
      }
      const param = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/.exec(
        rest,
      );
      if (param === null || current === undefined) break;
      current.params[param[1]!.toLowerCase()] =
        param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : (param[3] ?? '');
      rest = rest.slice(param[0].length);
    }
  }
  return out;
}

export interface TokenCredentials {
  readonly username: string;
  readonly password: string;
  readonly identityToken?: string;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Caches bearer tokens per scope set until they expire. */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get(key: string): string | undefined {
    const t = this.#tokens.get(key);
    if (t === undefined) return undefined;
    if (t.expiresAt - EXPIRY_MARGIN_MS <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  set(key: string, token: string, lifetimeSeconds: number, issuedAt?: number): void {
    if (this.#tokens.size >= MAX_CACHED_TOKENS) {
      const now = this.#now();
      for (const [k, t] of this.#tokens) if (t.expiresAt - EXPIRY_MARGIN_MS <= now) this.#tokens.delete(k);
      if (this.#tokens.size >= MAX_CACHED_TOKENS) this.#tokens.clear();
    }
    const start = issuedAt !== undefined && issuedAt <= this.#now() ? issuedAt : this.#now();
    this.#tokens.set(key, { token, expiresAt: start + lifetimeSeconds * 1000 });
  }

  delete(key: string): void {
    this.#tokens.delete(key);
  }
}

/** Fetches a token from the challenge's realm for the scopes. Token values never reach errors. */
export async function fetchToken(
  challenge: Challenge,
  scopes: readonly string[],
  creds: TokenCredentials | undefined,
  http: HttpClientOptions,
  signal?: AbortSignal,
): Promise<{ token: string; expiresIn: number; issuedAt: number | undefined }> {
  const realm = challenge.params.realm;
  if (realm === undefined || realm === '') {
    throw new DockerError('AUTH_FAILED', 'bearer challenge without realm');
  }
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new DockerError('AUTH_FAILED', 'bearer challenge: invalid realm URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DockerError('AUTH_FAILED', `bearer challenge: unsupported realm scheme ${url.protocol}`);
  }
  const service = challenge.params.service;
  const where = `requesting bearer token from ${url.protocol}//${url.host}${url.pathname}`;
  let res: Awaited<ReturnType<typeof send>>;
  if (creds?.identityToken !== undefined) {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: creds.identityToken,
      client_id: 'portcullis',
    });
    if (service !== undefined) form.set('service', service);
    if (scopes.length > 0) form.set('scope', scopes.join(' '));
    res = await send(
      {
        method: 'POST',
        url: url.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        signal,
      },
      http,
    );
  } else {
    if (service !== undefined) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (creds !== undefined && (creds.username !== '' || creds.password !== '')) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    res = await send({ method: 'GET', url: url.toString(), headers, signal }, http);
  }
  if (res.status !== 200) {
    await readPrefix(res.body, 4096);
    const code = res.status === 401 ? 'UNAUTHORIZED' : res.status === 403 ? 'DENIED' : 'AUTH_FAILED';
    throw new DockerError(code, `${where}: status ${res.status}`, {
      status: res.status,
      temporary: res.status >= 500 || res.status === 429,
    });
  }
  const body = await readCapped(res.body, MAX_TOKEN_RESPONSE, where);
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new DockerError('AUTH_FAILED', `${where}: response is not JSON`);
  }
  const o = (doc ?? {}) as {
    token?: unknown;
    access_token?: unknown;
    expires_in?: unknown;
    issued_at?: unknown;
  };
  const token = typeof o.token === 'string' && o.token !== '' ? o.token : o.access_token;
  if (typeof token !== 'string' || token === '')
    throw new DockerError('AUTH_FAILED', `${where}: no token in response`);
  const expiresIn =
    typeof o.expires_in === 'number' && o.expires_in >= DEFAULT_TOKEN_LIFETIME_S
      ? o.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
  const issuedAt = typeof o.issued_at === 'string' ? Date.parse(o.issued_at) : Number.NaN;
  return { token, expiresIn, issuedAt: Number.isNaN(issuedAt) ? undefined : issuedAt };
}

/** Scope strings of the token spec. */
export function repositoryScope(repo: string, actions: string): string {
  return `repository:${repo}:${actions}`;
}

/**
 * Tokens are shared by every client of the same registry and identity, so a webhook opening a
 * source per admission does not fetch a token each time. The key holds a hash, never a secret.
 */
export function tokenCacheFor(
  session: RegistrySession,
  registry: string,
  credentials: TokenCredentials | undefined,
): TokenCache {
  const c = credentials;
  const identity =
    c === undefined
      ? 'anonymous'
      : createHash('sha256')
          .update(`${c.username}\0${c.password}\0${c.identityToken ?? ''}`)
          .digest('hex');
  const key = `${registry}\n${identity}`;
  let cache = session.tokens.get(key);
  if (cache === undefined) {
    cache = new TokenCache();
    session.tokens.set(key, cache);
  }
  return cache;
}

/** What the Authorization header of a request is made from. */
export interface Authorizer {
  /** A bearer token given as is (`--registry-token`): used for every request, never refreshed. */
  readonly registryToken: string | undefined;
  /** The challenges of the registry's last 401 (the ping's, or a request's). */
  readonly challenges: readonly Challenge[] | undefined;
  readonly credentials: TokenCredentials | undefined;
  readonly tokens: TokenCache;
  readonly http: HttpClientOptions;
  readonly signal: AbortSignal | undefined;
}

/** The Authorization header for `scopes` (a fresh token when `fresh`), or undefined for none. */
export async function authorization(
  from: Authorizer,
  scopes: readonly string[],
  fresh: boolean,
): Promise<string | undefined> {
  if (from.registryToken !== undefined) return `Bearer ${from.registryToken}`;
  const challenges = from.challenges ?? [];
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  const basic = challenges.find((c) => c.scheme === 'basic');
  const creds = from.credentials;
  if (bearer !== undefined) {
    const key = [...scopes].sort().join(' ');
    if (fresh) from.tokens.delete(key);
    const cached = from.tokens.get(key);
    if (cached !== undefined) return `Bearer ${cached}`;
    // Runs inside request()'s retry loop; a temporary token failure retries the whole exchange.
    const t = await fetchToken(bearer, scopes, creds, from.http, from.signal);
    from.tokens.set(key, t.token, t.expiresIn, t.issuedAt);
    return `Bearer ${t.token}`;
  }
  if (basic !== undefined && creds !== undefined) {
    return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  }
  return undefined;
}
