import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaderElector } from '../../src/kube/leader.ts';
import { FakeCluster } from './fake-cluster.ts';

function elector(cluster: FakeCluster, identity: string, clock: { now: number }) {
  return new LeaderElector(cluster, {
    namespace: 'portcullis-system',
    name: 'portcullis-controller',
    identity,
    leaseDurationSeconds: 15,
    retryPeriodMs: 1000,
    now: () => new Date(clock.now),
    onError: () => {},
  });
}

describe('LeaderElector', () => {
  it('one of two replicas leads; the other takes over only after the lease expires', async () => {
    const cluster = new FakeCluster();
    const clock = { now: Date.parse('2026-11-26T19:00:00Z') };
    const a = elector(cluster, 'a', clock);
    const b = elector(cluster, 'b', clock);
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.equal(await b.tryAcquireOrRenew(), false);
    clock.now += 10_000;
    assert.equal(await a.tryAcquireOrRenew(), true, 'renewal');
    clock.now += 14_000;
    assert.equal(await b.tryAcquireOrRenew(), false, 'renewed 14 s ago: still held');
    clock.now += 2_000;
    assert.equal(await b.tryAcquireOrRenew(), true, 'expired: taken over');
    const lease = await cluster.readLease('portcullis-system', 'portcullis-controller');
    assert.equal(lease?.spec.holderIdentity, 'b');
    assert.equal(lease?.spec.leaseTransitions, 1);
    assert.equal(await a.tryAcquireOrRenew(), false, 'the old leader sees the new holder');
  });

  it('a leader that releases the lease hands it over at once, not after it expires', async () => {
    const cluster = new FakeCluster();
    const clock = { now: Date.parse('2026-11-26T19:00:00Z') };
    const a = elector(cluster, 'a', clock);
    const b = elector(cluster, 'b', clock);
    assert.equal(await a.tryAcquireOrRenew(), true);
    clock.now += 1000;
    await a.release();
    assert.equal(a.isLeader, false);
    assert.equal(await b.tryAcquireOrRenew(), true, 'taken 1 s after the last renewal');
    // Releasing a lease someone else holds changes nothing.
    await a.release();
    assert.equal(
      (await cluster.readLease('portcullis-system', 'portcullis-controller'))?.spec.holderIdentity,
      'b',
    );
  });

  it('steps down when the API server cannot be reached', async () => {
    const cluster = new FakeCluster();
    const clock = { now: Date.now() };
    const a = elector(cluster, 'a', clock);
    const changes: boolean[] = [];
    a.onChange((l) => changes.push(l));
    assert.equal(await a.tryAcquireOrRenew(), true);
    cluster.down = true;
    assert.equal(await a.tryAcquireOrRenew(), false);
    assert.deepEqual(changes, [true, false]);
  });

  it('loses a race for the same expired lease without error', async () => {
    const cluster = new FakeCluster();
    const clock = { now: Date.now() };
    await cluster.createLease({
      metadata: { namespace: 'portcullis-system', name: 'portcullis-controller' },
      spec: {
        holderIdentity: 'gone',
        leaseDurationSeconds: 15,
        renewTime: new Date(clock.now - 60_000).toISOString(),
      },
    });
    const a = elector(cluster, 'a', clock);
    const b = elector(cluster, 'b', clock);
    const [ra, rb] = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    assert.deepEqual([ra, rb].sort(), [false, true]);
  });
});
