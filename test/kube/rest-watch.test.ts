// KubeRest.watch against a real HTTP server that cuts the watch in the middle of its stream, as an
// API server restarting (or a connection reset) does, and against our own abort at shutdown.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRest } from '../../src/kube/rest.ts';
import { KubeError } from '../../src/kube/types.ts';

describe('KubeRest.watch when the stream is cut', () => {
  let server: Server;
  let rest: KubeRest;
  const open = new Set<ServerResponse>();

  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // One whole event, then half of the next: the connection is cut mid-stream by the test.
      res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n{"type":"MOD`);
      open.add(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'c',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    rest = new KubeRest(kc);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const started = async () => {
    while (open.size === 0) await new Promise((r) => setTimeout(r, 10));
    const [res] = open;
    open.clear();
    return res!;
  };

  it('a connection cut by the server ends the watch (the informer watches again), after the events that came whole', async () => {
    const events: string[] = [];
    const watching = rest.watch(
      '/api/v1/pods',
      {},
      undefined,
      (type) => events.push(type),
      new AbortController().signal,
    );
    (await started()).socket?.destroy();
    // Settled, one way or the other, and the process is still here to see it.
    await watching.catch((err: unknown) => assert.ok(err instanceof KubeError, String(err)));
    assert.deepEqual(events, ['ADDED']);
  });

  it('aborting a watch mid-stream (shutdown) resolves it', async () => {
    const abort = new AbortController();
    const watching = rest.watch('/api/v1/pods', {}, undefined, () => {}, abort.signal);
    await started();
    abort.abort();
    await watching;
  });
});
