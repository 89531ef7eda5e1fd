// Rate limits against the real Distribution registry behind a fault proxy that answers bursts of
// 429 with Retry-After: a Retry-After is waited for when it ends before the caller's deadline and
// fails at once otherwise, it holds back every request of the session to that registry, and a
// registry budget meters manifest reads. Pings are shared by every client of a session.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RegistryClient, RegistrySession } from '../../../../src/image/transports/docker/index.ts';
import type { RegistryBudget } from '../../../../src/image/transports/docker/session.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { countRequest, type FaultProxy, startFaultProxy } from '../../../helpers/fault-proxy.ts';
import { proxiedClient, timed } from '../../../helpers/proxied-client.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { syntheticImage } from '../../../helpers/synthetic-image.ts';

const REPOS = ['limits/a', 'limits/b', 'limits/c'];

describe('rate limits against a real registry behind a fault proxy', () => {
  let env: DockerTestEnv;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let session: RegistrySession;
  /** Requests the proxy saw, by kind (`ping`, `HEAD manifest`, `GET manifest`). */
  let seen: Map<string, number>;
  /** Answers the first `n` manifest requests with 429 and this Retry-After, then passes. */
  let burst: { left: number; retryAfter: string } = { left: 0, retryAfter: '0' };
  /** How long the proxy holds each ping. */
  let pingDelayMs = 0;

  before(async () => {
    env = await dockerTestEnv();
    registry = await startRegistry();
    for (const repo of REPOS) {
      const ref = env.transport.parseReference(`//${registry.host}/${repo}:v1`);
      await putImage(await ref.newImageDestination(env.ctx), syntheticImage({ layers: 1 }));
    }
    proxy = await startFaultProxy(registry);
    proxy.set(({ method, path }) => {
      const kind = countRequest(seen, method, path);
      if (kind === 'ping') return pingDelayMs > 0 ? { kind: 'delay', ms: pingDelayMs } : { kind: 'pass' };
      if (burst.left > 0) {
        burst.left--;
        return { kind: 'status', status: 429, headers: { 'retry-after': burst.retryAfter } };
      }
      return { kind: 'pass' };
    });
  });
  after(async () => {
    await session?.close();
    await proxy?.stop();
    await registry?.stop();
    await env?.cleanup();
  });
  beforeEach(async () => {
    await session?.close();
    session = new RegistrySession();
    seen = new Map();
    burst = { left: 0, retryAfter: '0' };
    pingDelayMs = 0;
  });

  const count = (kind: string) => seen.get(kind) ?? 0;
  const client = (options: { deadlineInMs?: number; signal?: AbortSignal } = {}) =>
    proxiedClient(proxy.host, session, options);

  describe('Retry-After', () => {
    it('is waited for when it ends before the deadline, without asking the registry meanwhile', async () => {
      burst = { left: 1, retryAfter: '1' };
      const { value, ms } = await timed(() => client({ deadlineInMs: 5000 }).getManifest(REPOS[0]!, 'v1'));
      assert.ok(value !== undefined, 'the manifest after the wait');
      assert.ok(ms >= 950 && ms < 4000, `answered after ${ms} ms`);
      assert.equal(count('GET manifest'), 2);
    });

    it('fails at once, temporarily, when it ends after the deadline', async () => {
      burst = { left: 1, retryAfter: '30' };
      const { error, ms } = await timed(() => client({ deadlineInMs: 3000 }).getManifest(REPOS[0]!, 'v1'));
      assert.equal(error?.code, 'TOOMANYREQUESTS');
      assert.equal(error.temporary, true);
      assert.equal(error.retryAfter, 30);
      assert.ok(ms < 1000, `failed after ${ms} ms`);
      assert.equal(count('GET manifest'), 1);
    });

    it('holds back every client of the session: the others fail at once without reaching the registry', async () => {
      burst = { left: 1, retryAfter: '30' };
      await assert.rejects(client({ deadlineInMs: 3000 }).resolveDigest(REPOS[0]!, 'v1'), {
        code: 'TOOMANYREQUESTS',
      });
      const before = proxy.requests();
      const others = await Promise.all(
        REPOS.map((repo) => timed(() => client({ deadlineInMs: 3000 }).resolveDigest(repo, 'v1'))),
      );
      for (const { error, ms } of others) {
        assert.equal(error?.code, 'TOOMANYREQUESTS');
        assert.match(error.message, /Retry-After/);
        assert.ok(ms < 1000, `failed after ${ms} ms`);
      }
      assert.equal(proxy.requests(), before, 'nothing more reached the registry');
      // Another session (another replica) is not held back.
      const fresh = new RegistryClient({
        registry: proxy.host,
        insecure: true,
        tls: { verify: false },
        session: new RegistrySession(),
      });
      assert.match(await fresh.resolveDigest(REPOS[1]!, 'v1'), /^sha256:/);
      await fresh.session.close();
    });

    it('without a deadline, is waited for within the retry policy', async () => {
      burst = { left: 2, retryAfter: '1' };
      const { value, ms } = await timed(() => client().resolveDigest(REPOS[0]!, 'v1'));
      assert.match(value ?? '', /^sha256:/);
      assert.ok(ms >= 1900, `answered after ${ms} ms: each Retry-After was waited for in full`);
      assert.equal(count('HEAD manifest'), 3);
    });
  });

  describe('a registry budget', () => {
    const budgeted = (budget: RegistryBudget) => {
      session = new RegistrySession({ budgets: new Map([[proxy.host, budget]]) });
    };

    it('meters manifest reads: once spent, the next fails at once without reaching the registry', async () => {
      budgeted({ pulls: 2, periodMs: 3_600_000 });
      await client({ deadlineInMs: 3000 }).getManifest(REPOS[0]!, 'v1');
      await client({ deadlineInMs: 3000 }).getManifest(REPOS[1]!, 'v1');
      const { error, ms } = await timed(() => client({ deadlineInMs: 3000 }).getManifest(REPOS[2]!, 'v1'));
      assert.equal(error?.code, 'BUDGET_EXHAUSTED');
      assert.equal(error.temporary, true);
      assert.ok(ms < 1000, `failed after ${ms} ms`);
      assert.equal(count('GET manifest'), 2);
      // Tag resolutions (HEAD) are not pulls.
      assert.match(await client({ deadlineInMs: 3000 }).resolveDigest(REPOS[2]!, 'v1'), /^sha256:/);
    });

    it('waits for the next pull when it comes before the deadline', async () => {
      budgeted({ pulls: 1, periodMs: 1000 });
      await client({ deadlineInMs: 3000 }).getManifest(REPOS[0]!, 'v1');
      const { value, ms } = await timed(() => client({ deadlineInMs: 3000 }).getManifest(REPOS[1]!, 'v1'));
      assert.ok(value !== undefined);
      assert.ok(ms >= 800, `answered after ${ms} ms: the budget refills one pull a second`);
      assert.equal(count('GET manifest'), 2);
    });

    it('gives a pull back when its caller gives up waiting for it', async () => {
      budgeted({ pulls: 1, periodMs: 2000 });
      await client({ deadlineInMs: 5000 }).getManifest(REPOS[0]!, 'v1');
      const controller = new AbortController();
      const waiting = client({ deadlineInMs: 5000, signal: controller.signal }).getManifest(REPOS[1]!, 'v1');
      setTimeout(() => controller.abort(), 200);
      await assert.rejects(waiting, { code: 'TIMEOUT' });
      // The abandoned reservation is free again: the next read waits one refill, not two.
      const { ms } = await timed(() => client({ deadlineInMs: 5000 }).getManifest(REPOS[2]!, 'v1'));
      assert.ok(ms < 2500, `answered after ${ms} ms`);
      assert.equal(count('GET manifest'), 2);
    });
  });

  describe('pings', () => {
    it('one ping per session, whatever signals its clients run under', async () => {
      const clients = REPOS.flatMap((repo) =>
        Array.from({ length: 4 }, () => ({ repo, client: client({ signal: new AbortController().signal }) })),
      );
      await Promise.all(clients.map(({ repo, client }) => client.resolveDigest(repo, 'v1')));
      assert.equal(count('ping'), 1);
      assert.equal(count('HEAD manifest'), clients.length);
    });

    it('a client that gives up stops waiting; the ping goes on for the others', async () => {
      pingDelayMs = 500;
      const impatient = new AbortController();
      const first = timed(() => client({ signal: impatient.signal }).resolveDigest(REPOS[0]!, 'v1'));
      const others = REPOS.map((repo) =>
        client({ signal: new AbortController().signal }).resolveDigest(repo, 'v1'),
      );
      setTimeout(() => impatient.abort(), 100);
      const { error, ms } = await first;
      assert.equal(error?.code, 'TIMEOUT');
      assert.ok(ms < 450, `gave up after ${ms} ms`);
      for (const digest of await Promise.all(others)) assert.match(digest, /^sha256:/);
      assert.equal(count('ping'), 1);
    });
  });
});
