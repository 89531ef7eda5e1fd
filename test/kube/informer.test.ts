import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Informer } from '../../src/kube/informer.ts';
import { FakeCluster, fixture } from './fake-cluster.ts';

describe('Informer', () => {
  it('retries a failing list with doubling delays and is synced only after a success', async () => {
    const cluster = new FakeCluster();
    cluster.apply('namespaces', fixture('namespace-team-a'));
    cluster.down = true;
    const delays: number[] = [];
    const informer = new Informer(cluster.watch({ resource: 'namespaces' }), {
      baseDelayMs: 2,
      maxDelayMs: 8,
      onError: (_err, retryInMs) => delays.push(retryInMs),
    });
    const synced = informer.start();
    while (delays.length < 4) await new Promise((r) => setTimeout(r, 2));
    assert.equal(informer.synced, false);
    assert.deepEqual(informer.list(), []);
    cluster.restore();
    await synced;
    assert.equal(informer.synced, true);
    assert.deepEqual(delays.slice(0, 4), [2, 4, 8, 8]);
    assert.equal(informer.get('team-a')?.metadata?.name, 'team-a');
    await informer.stop();
  });

  it('starting twice opens one watch', async () => {
    const cluster = new FakeCluster();
    const informer = new Informer(cluster.watch({ resource: 'namespaces' }));
    const w = [...cluster.watchers].at(-1) as unknown as { starts: number };
    await informer.start();
    await informer.start();
    assert.equal(w.starts, 1);
    await informer.stop();
  });
});
