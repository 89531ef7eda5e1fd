// Two webhook replicas sharing a real redis-server, in front of a real registry: one replica's
// verification serves the other, a rollout across both verifies a new image once, and Redis
// frozen or forged never fails an admission nor admits anything unverified.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunningServer, ServerConfig } from '../../src/server.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { type SignedRegistry, signedRegistry, webhookClient } from './real-server.ts';
import { podSpec, review, workload } from './rig.ts';

const DEADLINE_MS = 5000;

describe('two replicas sharing a real Redis', () => {
  let fixture: SignedRegistry;
  let redis: TestRedis;
  let replicas: RunningServer[];
  const secret = randomBytes(32);
  let clients: ReturnType<typeof webhookClient>[];
  const pod = (...images: string[]) => review('', 'Pod', workload('', 'Pod', podSpec(images)));
  const image = (name: string) => `${fixture.host}/ns/${name}:v1`;
  /** Registry requests the admissions in `work` cause (through the proxy, so both replicas count). */
  const registryRequests = async (work: () => Promise<unknown>) => {
    const before = fixture.proxy.forwarded();
    await work();
    return fixture.proxy.forwarded() - before;
  };

  before(async () => {
    [fixture, redis] = await Promise.all([signedRegistry(), startRedis()]);
    for (const name of ['first', 'calibration', 'rollout', 'frozen', 'signed'])
      await fixture.push(`ns/${name}:v1`);
    for (const name of ['unsigned', 'unsigned-2']) await fixture.push(`ns/${name}:v1`, false);
    const config: Partial<ServerConfig> = {
      deadlineMs: DEADLINE_MS,
      sharedCache: { url: redis.url, secret },
    };
    replicas = [await fixture.replica(config), await fixture.replica(config)];
    clients = replicas.map((r) => webhookClient(r, fixture.ca));
  });
  after(async () => {
    redis?.thaw();
    await fixture?.stop();
    await redis?.stop();
  });

  it("serves one replica's verification to the other without asking the registry", async () => {
    assert.equal((await clients[0]!.post('/validate', pod(image('first')))).allowed, true);
    const requests = await registryRequests(async () => {
      const response = await clients[1]!.post('/validate', pod(image('first')));
      assert.equal(response.allowed, true);
    });
    assert.equal(requests, 0);
    assert.equal(
      await clients[1]!.metric('portcullis_cache_requests_total', 'cache="shared_verdict",result="hit"'),
      1,
    );
  });

  it('verifies a new image once for a rollout across both replicas', async () => {
    const once = await registryRequests(() => clients[0]!.post('/validate', pod(image('calibration'))));
    assert.ok(once > 0);
    const rollout = await registryRequests(async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => clients[i % 2]!.post('/validate', pod(image('rollout')))),
      );
      assert.ok(answers.every((a) => a.allowed === true));
    });
    assert.equal(rollout, once);
  });

  it('keeps answering, from the local path and before the deadline, while Redis is frozen', async () => {
    redis.freeze();
    try {
      const response = await clients[0]!.post('/validate', pod(image('frozen')));
      assert.equal(response.allowed, true);
      assert.ok(response.ms < DEADLINE_MS, `answered after ${response.ms} ms`);
      const denied = await clients[1]!.post('/validate', pod(image('unsigned')));
      assert.equal(denied.allowed, false);
      assert.equal(
        await clients[0]!.metric('portcullis_shared_cache_events_total', 'event="unavailable"'),
        1,
      );
    } finally {
      redis.thaw();
    }
    // Each replica's breaker closes again at its first lookup after the open time (a probe).
    for (const client of clients) {
      for (
        let i = 0;
        (await client.metric('portcullis_shared_cache_events_total', 'event="available"')) === 0;
        i++
      ) {
        assert.ok(i < 200, 'the shared cache never came back');
        await client.post('/validate', pod(image(`absent-${i}`)));
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  it('never admits on a signed record moved to the key of an image it denied', async () => {
    const verdictKeys = async () =>
      new Set((await redis.cli('--scan', '--pattern', 'portcullis:1:v:*')).split('\n'));
    const newKey = async (work: () => Promise<unknown>) => {
      const before = await verdictKeys();
      await work();
      return [...(await verdictKeys())].find((k) => !before.has(k))!;
    };
    const signedKey = await newKey(() => clients[0]!.post('/validate', pod(image('signed'))));
    const unsignedKey = await newKey(() => clients[0]!.post('/validate', pod(image('unsigned-2'))));
    await redis.cli('set', unsignedKey, await redis.cli('get', signedKey), 'PX', '60000');
    // A replica that has not seen the image itself reads the moved record, and rejects it.
    const fresh = webhookClient(
      await fixture.replica({ deadlineMs: DEADLINE_MS, sharedCache: { url: redis.url, secret } }),
      fixture.ca,
    );
    const response = await fresh.post('/validate', pod(image('unsigned-2')));
    assert.equal(response.allowed, false);
    assert.equal(await fresh.metric('portcullis_shared_cache_events_total', 'event="tampered"'), 1);
  });
});
