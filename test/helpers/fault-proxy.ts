// A loopback HTTP proxy in front of a real registry that injects the faults outages are made of:
// refused connections, resets, hangs, 5xx and 429 answers (with Retry-After), latency. What it
// forwards reaches the registry untouched (the Host header included, so upload locations point
// back through the proxy).
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { Socket } from 'node:net';

export type Fault =
  | { readonly kind: 'pass' }
  /** Answers with `status` (and headers) without asking the registry. */
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Readonly<Record<string, string>> }
  /** Closes the connection without answering. */
  | { readonly kind: 'reset' }
  /** Accepts the request and never answers. */
  | { readonly kind: 'hang' }
  /** Forwards after `ms`. */
  | { readonly kind: 'delay'; readonly ms: number };

/** Picks the fault for one request; `count` numbers the requests since the proxy started. */
export type FaultPlan = (req: {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly count: number;
}) => Fault;

export interface FaultProxy {
  /** host:port of the proxy */
  readonly host: string;
  /** Requests that reached the proxy (answered or not). */
  readonly requests: () => number;
  /** Requests forwarded to the registry. */
  readonly forwarded: () => number;
  /** Sockets open on the proxy now. */
  readonly sockets: () => number;
  /** Applies `fault` (or a per-request plan) from now on. */
  set(fault: Fault | FaultPlan): void;
  /** Stops listening and drops every connection: new connections are refused until accept(). */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  accept(): Promise<void>;
  stop(): Promise<void>;
}

const PASS: Fault = { kind: 'pass' };

export async function startFaultProxy(upstream: { host: string }): Promise<FaultProxy> {
  const [upstreamHost, upstreamPort] = upstream.host.split(':') as [string, string];
  let plan: FaultPlan = () => PASS;
  let requests = 0;
  let forwarded = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const fault = plan({
      method: req.method ?? '',
      path: req.url ?? '/',
      headers: req.headers,
      count: ++requests,
    });
    const forward = () => {
      forwarded++;
      const out = request(
        {
          host: upstreamHost,
          port: Number(upstreamPort),
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    };
    switch (fault.kind) {
      case 'pass':
        forward();
        return;
      case 'delay': {
        const timer = setTimeout(forward, fault.ms);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case 'status':
        req.resume();
        res
          .writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers })
          .end(`{"errors":[{"code":"UNAVAILABLE","message":"injected ${fault.status}"}]}`);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        req.resume();
        return;
      default:
        res.writeHead(500).end();
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no address');
  const port = address.port;
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    host: `127.0.0.1:${port}`,
    requests: () => requests,
    forwarded: () => forwarded,
    sockets: () => sockets.size,
    set(fault) {
      plan = typeof fault === 'function' ? fault : () => fault;
    },
    async refuse() {
      const closed = new Promise((resolve) => server.close(resolve));
      dropAll();
      await closed;
    },
    async accept() {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    async stop() {
      dropAll();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Counts a request the proxy sees in `seen` by its kind, `ping` (GET /v2/), `<METHOD> manifest`
 * or `<METHOD> other`, and returns the kind.
 */
export function countRequest(seen: Map<string, number>, method: string, path: string): string {
  const kind = path === '/v2/' ? 'ping' : `${method} ${path.includes('/manifests/') ? 'manifest' : 'other'}`;
  seen.set(kind, (seen.get(kind) ?? 0) + 1);
  return kind;
}
