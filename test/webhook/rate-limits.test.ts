// Rate limits on the real components: a real Distribution registry behind a fault proxy answering
// bursts of 429 with Retry-After, GPG-signed images, the webhook over HTTPS. A Retry-After that
// fits the deadline is waited for; one that does not fails the check at once, so that
// stale-if-error answers for a digest verified before, and a denial comes early for the rest.
// A registry budget meters manifest reads the same way.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CACHE_LIMITS } from '../../src/cache/index.ts';
import { DockerTransport, RegistrySession } from '../../src/image/transports/docker/index.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import type { FaultPlan } from '../helpers/fault-proxy.ts';
import {
  realComponents,
  type SignedRegistry,
  serverConfig,
  signedRegistry,
  webhookClient,
} from './real-server.ts';
import { podSpec, review, workload } from './rig.ts';

const DEADLINE_MS = 3000;
// No fresh caching: every admission asks the registry, so each one meets the burst.
const cache = { ...DEFAULT_CACHE_LIMITS, allowedTtlMs: 0, deniedTtlMs: 0, digestTtlMs: 0 };
const pod = (...images: string[]) => review('', 'Pod', workload('', 'Pod', podSpec(images)));

/** 429 with `retryAfter` for the next `n` requests other than pings, then the registry. */
function burst(n: number, retryAfter: string): FaultPlan {
  let left = n;
  return ({ path }) => {
    if (path === '/v2/' || left <= 0) return { kind: 'pass' };
    left--;
    return { kind: 'status', status: 429, headers: { 'retry-after': retryAfter } };
  };
}

describe('rate limits through the webhook', () => {
  let fixture: SignedRegistry;
  let h: string;

  before(async () => {
    fixture = await signedRegistry();
    h = fixture.host;
    for (const name of ['short', 'long', 'never', 'b1', 'b2', 'b3', 'b4'])
      await fixture.push(`ns/${name}:v1`);
  });
  after(() => fixture?.stop());

  describe('Retry-After', () => {
    let client: ReturnType<typeof webhookClient>;
    before(async () => {
      const server = await fixture.replica({ deadlineMs: DEADLINE_MS, logLevel: 'silent', cache });
      client = webhookClient(server, fixture.ca);
    });

    it('within the deadline: waited for, then verified afresh', async () => {
      fixture.proxy.set(burst(1, '1'));
      try {
        const response = await client.post('/validate', pod(`${h}/ns/short:v1`));
        assert.equal(response.allowed, true, JSON.stringify(response));
        assert.equal(response.warnings, undefined);
        assert.ok(response.ms >= 900 && response.ms < DEADLINE_MS, `answered after ${response.ms} ms`);
      } finally {
        fixture.proxy.set({ kind: 'pass' });
      }
    });

    it('beyond the deadline: a digest verified before is admitted from its record at once', async () => {
      const image = `${h}/ns/long:v1`;
      assert.equal((await client.post('/validate', pod(image))).allowed, true);
      fixture.proxy.set(burst(100, '30'));
      try {
        const response = await client.post('/validate', pod(image));
        assert.equal(response.allowed, true, JSON.stringify(response));
        assert.match(response.warnings[0], /the registry is failing \(TOOMANYREQUESTS\)/);
        assert.ok(response.ms < 1000, `answered after ${response.ms} ms, not at the deadline`);
      } finally {
        fixture.proxy.set({ kind: 'pass' });
      }
    });

    it('beyond the deadline: an image never verified is refused at once', async () => {
      fixture.proxy.set(burst(100, '30'));
      try {
        const response = await client.post('/validate', pod(`${h}/ns/never:v1`));
        assert.equal(response.allowed, false);
        assert.match(response.status.message, /could not be verified: .*\(Retry-After\)/);
        assert.ok(response.ms < 1000, `answered after ${response.ms} ms`);
      } finally {
        fixture.proxy.set({ kind: 'pass' });
      }
    });
  });

  describe('a registry budget', () => {
    let server: RunningServer;
    let transport: DockerTransport;
    before(async () => {
      transport = new DockerTransport(
        fixture.env.environment,
        new RegistrySession({ budgets: new Map([[fixture.host, { pulls: 2, periodMs: 3_600_000 }]]) }),
      );
      server = await startServer(
        serverConfig(fixture.work, { deadlineMs: DEADLINE_MS, logLevel: 'silent', cache }),
        realComponents(fixture.work, transport),
      );
    });
    after(async () => {
      await server?.close();
      await transport?.close();
    });

    it('verifies images while it lasts, then refuses at once without reaching the registry', async () => {
      const client = webhookClient(server, fixture.ca);
      let manifestReads = 0;
      fixture.proxy.set(({ method, path }) => {
        if (method === 'GET' && path.includes('/manifests/')) manifestReads++;
        return { kind: 'pass' };
      });
      try {
        assert.equal((await client.post('/validate', pod(`${h}/ns/b1:v1`))).allowed, true);
        assert.equal((await client.post('/validate', pod(`${h}/ns/b2:v1`))).allowed, true);
        const spent = await client.post('/validate', pod(`${h}/ns/b3:v1`));
        assert.equal(spent.allowed, false);
        assert.match(spent.status.message, /request budget/);
        assert.ok(spent.ms < 1000, `answered after ${spent.ms} ms`);
        assert.equal(manifestReads, 2);
      } finally {
        fixture.proxy.set({ kind: 'pass' });
      }
    });

    it('once spent: a digest verified before is admitted from its record at once, with a warning', async () => {
      const own = new DockerTransport(
        fixture.env.environment,
        new RegistrySession({ budgets: new Map([[fixture.host, { pulls: 1, periodMs: 3_600_000 }]]) }),
      );
      const replica = await startServer(
        serverConfig(fixture.work, { deadlineMs: DEADLINE_MS, logLevel: 'silent', cache }),
        realComponents(fixture.work, own),
      );
      try {
        const client = webhookClient(replica, fixture.ca);
        const image = `${h}/ns/b4:v1`;
        assert.equal((await client.post('/validate', pod(image))).allowed, true);
        const response = await client.post('/validate', pod(image));
        assert.equal(response.allowed, true, JSON.stringify(response));
        assert.match(response.warnings[0], /the registry is failing \(BUDGET_EXHAUSTED\)/);
        assert.ok(response.ms < 1000, `answered after ${response.ms} ms, not at the deadline`);
      } finally {
        await replica.close();
        await own.close();
      }
    });
  });
});
