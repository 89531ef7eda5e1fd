// Request events of the docker transport (node:diagnostics_channel), against the real registry.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { closeAllAgents, onRequest, type RequestEvent } from '../../../../src/image/index.ts';
import { RegistryClient } from '../../../../src/image/transports/docker/index.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { freePort, startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { syntheticImage } from '../../../helpers/synthetic-image.ts';

let env: DockerTestEnv;
let registry: TestRegistry;
before(async () => {
  env = await dockerTestEnv();
  registry = await startRegistry({ users: { alice: 'trace-pw' } });
});
after(async () => {
  await registry.stop();
  await env.cleanup();
  await closeAllAgents();
});

async function recorded(work: () => Promise<unknown>): Promise<RequestEvent[]> {
  const events: RequestEvent[] = [];
  const stop = onRequest((e) => events.push(e));
  try {
    await work().catch(() => {});
  } finally {
    stop();
  }
  return events;
}

describe('request events', () => {
  it('one per exchange of a push, paths without their query strings', async () => {
    const ref = env.transport.parseReference(`//${registry.host}/trace/push:v1`);
    const ctx = { ...env.ctx, credentials: { username: 'alice', password: 'trace-pw' } };
    const events = await recorded(async () =>
      putImage(await ref.newImageDestination(ctx), syntheticImage({ layers: 1 })),
    );
    for (const e of events) {
      assert.equal(e.host, registry.host);
      assert.ok(!e.path.includes('?'), e.path);
      assert.ok(e.durationMs >= 0);
    }
    const seen = events.map(
      (e) => `${e.method} ${e.path.replace(/uploads\/[0-9a-f-]+$/, 'uploads/ID')} ${e.status}`,
    );
    for (const want of [
      'POST /v2/trace/push/blobs/uploads/ 202',
      'PUT /v2/trace/push/blobs/uploads/ID 201',
      'PUT /v2/trace/push/manifests/v1 201',
    ]) {
      assert.ok(seen.includes(want), `${want} in\n${seen.join('\n')}`);
    }
  });

  it('a failed exchange carries its error code and no status', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const client = new RegistryClient({
      registry: host,
      insecure: true,
      tls: { verify: false },
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, totalMs: 1 },
    });
    const events = await recorded(() => client.ping());
    assert.deepEqual(
      events.map((e) => [e.method, e.scheme, e.host, e.path, e.status, e.error]),
      [
        ['GET', 'https', host, '/v2/', undefined, 'NETWORK'],
        ['GET', 'http', host, '/v2/', undefined, 'NETWORK'],
      ],
    );
  });

  it('nothing is published to a listener that stopped', async () => {
    const stopped: RequestEvent[] = [];
    onRequest((e) => stopped.push(e))();
    const client = new RegistryClient({ registry: registry.host, insecure: true, tls: { verify: false } });
    const live = await recorded(() => client.checkAuth());
    assert.ok(live.some((e) => e.path === '/v2/' && e.status === 401));
    assert.deepEqual(stopped, []);
  });
});
