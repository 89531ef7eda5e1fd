// A TCP load balancer on loopback that routes as a Service does through kube-proxy: each new
// connection goes to the next backend whose /readyz answers 200 (probed like a kubelet, over HTTPS
// without verifying), a removed backend gets no new connection, and connections already open stay
// where they are (conntrack). TLS passes through untouched.
import { request } from 'node:https';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpBalancer {
  /** The port clients connect to, on 127.0.0.1. */
  readonly port: number;
  /** A backend on 127.0.0.1:`port`: routed to once its /readyz answers 200. */
  add(port: number): void;
  /** The endpoint is gone: no new connection goes there; open ones stay. */
  remove(port: number): void;
  /** Backends that get new connections now. */
  ready(): readonly number[];
  /** Connections accepted with no ready backend to send them to (refused). */
  readonly refused: number;
  stop(): Promise<void>;
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export async function startTcpBalancer(probeIntervalMs = 200): Promise<TcpBalancer> {
  const backends = new Map<number, { ready: boolean }>();
  const sockets = new Set<Socket>();
  let next = 0;
  let refused = 0;
  let stopped = false;
  const readyPorts = () => [...backends].filter(([, b]) => b.ready).map(([p]) => p);
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const ports = readyPorts();
    if (ports.length === 0) {
      refused++;
      client.destroy();
      return;
    }
    const port = ports[next++ % ports.length] as number;
    const upstream = createConnection({ host: '127.0.0.1', port });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((settle) => server.listen(0, '127.0.0.1', settle));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('balancer: no TCP address');
  const loop = async () => {
    while (!stopped) {
      await Promise.all(
        [...backends].map(async ([port, b]) => {
          const ok = await probe(port);
          // A backend removed while the probe ran stays removed.
          if (backends.get(port) === b) b.ready = ok;
        }),
      );
      await new Promise((r) => setTimeout(r, probeIntervalMs));
    }
  };
  const probing = loop();
  return {
    port: address.port,
    add: (port) => backends.set(port, { ready: false }),
    remove: (port) => backends.delete(port),
    ready: readyPorts,
    get refused() {
      return refused;
    },
    stop: async () => {
      stopped = true;
      for (const s of sockets) s.destroy();
      await new Promise((settle) => server.close(settle));
      await probing;
    },
  };
}
