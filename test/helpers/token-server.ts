// A Docker token server for the Distribution registry's `token` auth: checks Basic credentials
// and issues ES256 JWTs whose `x5c` header carries the self-signed certificate the registry trusts.
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSelfSignedCertificate } from '../../src/webhook/tls.ts';

export interface TokenServer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM bundle for the registry's `rootcertbundle`. */
  readonly rootCertBundle: string;
  /** Every token request seen: requested scopes and the user (undefined = anonymous). */
  readonly requests: { scopes: string[]; user: string | undefined; method: string; granted?: boolean }[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  readonly users: Readonly<Record<string, string>>;
  /** Anonymous callers get pull access (default false: no access). */
  readonly anonymousPull?: boolean;
  readonly expiresIn?: number;
  /** OAuth2 refresh tokens (identitytoken in auth files) -> user. */
  readonly refreshTokens?: Readonly<Record<string, string>>;
  /** The first N tokens are already expired beyond the registry's leeway (refresh tests). */
  readonly issueExpired?: number;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-token-'));
  // The same self-signed certificate the webhook makes: the registry only checks the JWT's x5c.
  const { certPath, keyPath } = await writeSelfSignedCertificate(dir, ['127.0.0.1']);
  const key = createPrivateKey(readFileSync(keyPath));
  const certDer = readFileSync(certPath, 'utf8').replace(/-----[^-]+-----|\s/g, '');
  const service = 'portcullis-test-registry';
  const issuer = 'portcullis-test-issuer';
  const requests: TokenServer['requests'] = [];

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // OAuth2 (POST, refresh_token grant) carries its parameters in a form body.
    let form = url.searchParams;
    if (req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      form = new URLSearchParams(body);
    }
    const scopes = form
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter((s) => s !== '');
    let user: string | undefined;
    const refresh = form.get('refresh_token');
    if (req.method === 'POST') {
      user =
        refresh !== null && form.get('grant_type') === 'refresh_token'
          ? options.refreshTokens?.[refresh]
          : undefined;
      if (user === undefined) {
        requests.push({ scopes, user: undefined, method: 'POST' });
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid refresh token"}');
        return;
      }
    }
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString();
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      if (options.users[name] === undefined || options.users[name] !== decoded.slice(colon + 1)) {
        requests.push({ scopes, user: name, method: req.method ?? '' });
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid credentials"}');
        return;
      }
      user = name;
    }
    const access = scopes.flatMap((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop() ?? '';
      const name = rest.join(':');
      const granted =
        user !== undefined
          ? actions.split(',')
          : options.anonymousPull
            ? actions.split(',').filter((a) => a === 'pull')
            : [];
      return granted.length > 0 ? [{ type, name, actions: granted }] : [];
    });
    const issued = requests.filter((r) => r.granted).length;
    const expired = issued < (options.issueExpired ?? 0);
    // Distribution allows 60 s of clock skew; an hour in the past is expired for sure.
    const now = Math.floor(Date.now() / 1000) - (expired ? 3600 : 0);
    requests.push({ scopes, user, method: req.method ?? '', granted: true });
    const expiresIn = options.expiresIn ?? 300;
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: user ?? '',
      aud: service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${b64url(signature)}`;
    const body = { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('token server: no address');
  return {
    realm: `http://127.0.0.1:${address.port}/token`,
    service,
    issuer,
    rootCertBundle: certPath,
    requests,
    async stop() {
      server.closeAllConnections();
      server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The registry's `token` auth settings that trust this token server. */
export function tokenAuthConfig(t: TokenServer): {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
} {
  return { realm: t.realm, service: t.service, issuer: t.issuer, rootCertBundle: t.rootCertBundle };
}
