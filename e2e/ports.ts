// Loopback ports for the processes a cluster starts.
import { createServer } from 'node:net';

/** `count` distinct TCP ports free on 127.0.0.1 now (another process may still take one before use). */
export async function freePorts(count: number): Promise<number[]> {
  // Held open together so that the ports handed out differ from each other.
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer();
      return new Promise<ReturnType<typeof createServer>>((settle, fail) => {
        server.once('error', fail);
        server.listen(0, '127.0.0.1', () => settle(server));
      });
    }),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('free port: no TCP address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((settle) => server.close(settle))));
  return ports;
}
