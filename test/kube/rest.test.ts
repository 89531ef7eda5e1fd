// The REST list+watch against faults a real API server produces at unpredictable moments (a
// connection cut in the middle of a watch), served by a loopback HTTP server that cuts on cue.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRest, TransformingListWatch } from '../../src/kube/rest.ts';
import type { KubeObject } from '../../src/kube/types.ts';

const pod = (name: string, resourceVersion: string) => ({
  metadata: { name, namespace: 'team', resourceVersion },
});

async function apiServer(handle: (req: IncomingMessage, res: ServerResponse, url: URL) => void) {
  const server = createServer((req, res) => handle(req, res, new URL(req.url ?? '/', 'http://x')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
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
  return {
    rest: new KubeRest(kc),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('TransformingListWatch', () => {
  it('survives a watch cut mid-stream and resumes from the last event seen', async () => {
    const watches: (string | null)[] = [];
    const { rest, close } = await apiServer((_req, res, url) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (url.searchParams.get('watch') !== 'true') {
        res.end(JSON.stringify({ metadata: { resourceVersion: '10' }, items: [pod('a', '10')] }));
        return;
      }
      watches.push(url.searchParams.get('resourceVersion'));
      if (watches.length === 1) {
        res.write(`${JSON.stringify({ type: 'ADDED', object: pod('b', '11') })}\n`);
        // The connection drops with the watch open (an API server restart, a proxy reset).
        setTimeout(() => res.socket?.destroy(), 50);
      } else {
        res.write(`${JSON.stringify({ type: 'ADDED', object: pod('c', '12') })}\n`);
      }
    });
    const errors: unknown[] = [];
    const watched = new TransformingListWatch<KubeObject>(rest, {
      path: '/api/v1/pods',
      transform: (o) => o as KubeObject,
    });
    watched.on('error', (err) => errors.push(err));
    try {
      await watched.start();
      const deadline = Date.now() + 10_000;
      while (watched.get('c', 'team') === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(
        watched
          .list()
          .map((o) => o.metadata?.name)
          .sort(),
        ['a', 'b', 'c'],
      );
      assert.deepEqual(watches, ['10', '11']);
      assert.deepEqual(errors, []);
    } finally {
      await watched.stop();
      close();
    }
  });
});
