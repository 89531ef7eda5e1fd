// The registry session: what clients remember about registries lives in the transport's session,
// bounded, and is released as a whole by close().
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_PAUSE_MS, RegistryGate } from '../../../../src/image/transports/docker/gate.ts';
import {
  DockerTransport,
  type RegistrySession as Session,
  sharedRegistrySession,
} from '../../../../src/image/transports/docker/index.ts';
import { LruMap, RegistrySession } from '../../../../src/image/transports/docker/session.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { syntheticImage } from '../../../helpers/synthetic-image.ts';

describe('LruMap', () => {
  it('keeps the most recently used entries up to its cap', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    assert.equal(m.get('a'), 1);
    m.set('c', 3);
    assert.equal(m.get('b'), undefined);
    assert.equal(m.get('a'), 1);
    assert.equal(m.get('c'), 3);
    assert.equal(m.size, 2);
  });
});

describe('RegistryGate', () => {
  const FAR = Number.POSITIVE_INFINITY;

  it('meters pulls as a token bucket: the budget at once, then one per period / pulls', () => {
    const gate = new RegistryGate({ pulls: 3, periodMs: 3000 }, 0);
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => gate.reserve(true, 0, FAR)),
      [
        { go: true, at: 0 },
        { go: true, at: 0 },
        { go: true, at: 0 },
        { go: true, at: 1000 },
        { go: true, at: 2000 },
      ],
    );
    assert.deepEqual(gate.reserve(false, 0, FAR), { go: true, at: 0 }, 'other requests are not metered');
  });

  it('takes nothing for a pull that cannot go by the latest time', () => {
    const gate = new RegistryGate({ pulls: 1, periodMs: 1000 }, 0);
    gate.reserve(true, 0, FAR);
    assert.deepEqual(gate.reserve(true, 0, 500), { go: false, at: 1000, by: 'budget' });
    assert.deepEqual(gate.reserve(true, 0, 500), { go: false, at: 1000, by: 'budget' });
    assert.deepEqual(gate.reserve(true, 0, FAR), { go: true, at: 1000 });
    gate.unreserve(true);
    assert.deepEqual(gate.reserve(true, 0, FAR), { go: true, at: 1000 });
  });

  it('refills up to the budget and no further', () => {
    const gate = new RegistryGate({ pulls: 2, periodMs: 1000 }, 0);
    gate.reserve(true, 0, FAR);
    gate.reserve(true, 0, FAR);
    const later = 60_000;
    assert.deepEqual(
      [1, 2, 3].map(() => gate.reserve(true, later, FAR)),
      [
        { go: true, at: later },
        { go: true, at: later },
        { go: true, at: later + 500 },
      ],
    );
  });

  it('a pause holds back every request, never shortened by a shorter one, and never beyond its bound', () => {
    const gate = new RegistryGate(undefined, 0);
    gate.pause(5000, 0);
    gate.pause(2000, 1000);
    assert.deepEqual(gate.reserve(false, 1000, 3000), { go: false, at: 5000, by: 'pause' });
    assert.deepEqual(gate.reserve(true, 1000, FAR), { go: true, at: 5000 });
    gate.pause(Number.MAX_SAFE_INTEGER, 10_000);
    assert.deepEqual(gate.reserve(false, 10_000, FAR), { go: true, at: 10_000 + MAX_PAUSE_MS });
  });
});

describe('a transport with its own session', () => {
  let env: DockerTestEnv;
  let registry: TestRegistry;
  before(async () => {
    env = await dockerTestEnv();
    registry = await startRegistry({ users: { alice: 'session-pw' } });
  });
  after(async () => {
    await registry.stop();
    await env.cleanup();
  });

  const pushAndPull = async (session: Session) => {
    const transport = new DockerTransport(env.environment, session);
    const ctx = { ...env.ctx, credentials: { username: 'alice', password: 'session-pw' } };
    const ref = transport.parseReference(`//${registry.host}/session/app:v1`);
    const image = syntheticImage({ layers: 1 });
    await putImage(await ref.newImageDestination(ctx), image);
    const src = await ref.newImageSource(ctx);
    await src.getManifest();
    return { transport, image };
  };

  it('remembers pings, limiters and blob locations there, not in the shared session', async () => {
    const shared = sharedRegistrySession();
    const sharedPings = shared.pings.size;
    const session = new RegistrySession();
    const { transport, image } = await pushAndPull(session);
    assert.equal(session.pings.size, 1);
    assert.equal(session.limiters.size, 1);
    assert.deepEqual(session.knownBlobLocations(registry.host, image.layers[0]!.digest), ['session/app']);
    assert.equal(shared.pings.size, sharedPings);
    assert.deepEqual(shared.knownBlobLocations(registry.host, image.layers[0]!.digest), []);
    await transport.close();
    assert.equal(session.pings.size, 0);
    assert.deepEqual(session.knownBlobLocations(registry.host, image.layers[0]!.digest), []);
  });

  it('is usable again after close (pools reopen)', async () => {
    const session = new RegistrySession();
    const first = await pushAndPull(session);
    await first.transport.close();
    await pushAndPull(session);
    await session.close();
  });
});
