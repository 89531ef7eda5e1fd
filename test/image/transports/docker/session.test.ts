// The registry session: what clients remember about registries lives in the transport's session,
// bounded, and is released as a whole by close().
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
