// An in-process fake registry ONLY for faults the real Distribution registry cannot produce
// (429 + Retry-After, lying digests, cut bodies, hanging answers, redirect loops, HTML pages).
// Each test scripts the answers; requests are recorded.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
}

/** Returns true when it answered; otherwise the fake answers 404. */
export type FaultHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  count: number,
) => boolean | Promise<boolean>;

export interface FaultRegistry {
  readonly host: string;
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Replaces the scripted behaviour (the `/v2/` ping always answers 200). */
  handle(handler: FaultHandler): void;
  stop(): Promise<void>;
}

export async function startFaultRegistry(
  host = '127.0.0.1',
  pingHeaders: Record<string, string> = {},
): Promise<FaultRegistry> {
  let handler: FaultHandler = () => false;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    if (path === '/v2/' && req.method === 'GET') {
      res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', ...pingHeaders }).end('{}');
      return;
    }
    requests.push({ method: req.method ?? '', path, headers: req.headers });
    const count = requests.filter((r) => r.path === path && r.method === req.method).length;
    if (!(await handler(req, res, count))) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"NAME_UNKNOWN","message":"not scripted"}]}');
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault registry: no address');
  return {
    host: `${host}:${address.port}`,
    url: `http://${host}:${address.port}`,
    requests,
    handle(h) {
      handler = h;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
