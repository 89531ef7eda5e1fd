// Per-call cancellation against the real Distribution registry behind a fault proxy: a call's own
// signal and deadline bound that call only; the client, its other calls and the session's shared
// ping go on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DockerTransport, RegistrySession } from '../../../../src/image/transports/docker/index.ts';
import { type DockerTestEnv, dockerTestEnv, putImage } from '../../../helpers/docker-env.ts';
import { countRequest, type FaultProxy, startFaultProxy } from '../../../helpers/fault-proxy.ts';
import { proxiedClient, timed } from '../../../helpers/proxied-client.ts';
import { startRegistry, type TestRegistry } from '../../../helpers/registry.ts';
import { type SyntheticImage, syntheticImage } from '../../../helpers/synthetic-image.ts';

const SLOW = 'bounds/slow';
const FAST = 'bounds/fast';
/** A call that is not stopped hangs: it fails instead. */
const BOUNDED = { timeout: 20_000 };

/** What the proxy does to requests: nothing, until a test says. */
function calm() {
  return {
    /** Pings are held without an answer. */
    pingHangs: false,
    pingDelayMs: 0,
    /** The next `left` pings are answered with 429 and this Retry-After. */
    pingBurst: { left: 0, retryAfter: '0' },
    /** The next `left` manifest requests are answered with 429 and this Retry-After. */
    burst: { left: 0, retryAfter: '0' },
    /** How long manifest requests of SLOW are held. */
    slowDelayMs: 0,
  };
}

describe('per-call signal and deadline against a real registry behind a fault proxy', () => {
  let env: DockerTestEnv;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let session: RegistrySession;
  let image: SyntheticImage;
  /** Requests the proxy saw, by kind (`ping`, `GET manifest`, ...). */
  let seen: Map<string, number>;
  let faults = calm();
  before(async () => {
    env = await dockerTestEnv();
    registry = await startRegistry();
    // Layers of a few MiB, so a blob read is still under way when it is aborted.
    image = syntheticImage({ layers: 1, layerBytes: 8 << 20 });
    for (const repo of [SLOW, FAST]) {
      const ref = env.transport.parseReference(`//${registry.host}/${repo}:v1`);
      await putImage(await ref.newImageDestination(env.ctx), image);
    }
    proxy = await startFaultProxy(registry);
    proxy.set(({ method, path }) => {
      const kind = countRequest(seen, method, path);
      if (kind === 'ping' && faults.pingBurst.left > 0) {
        faults.pingBurst.left--;
        return { kind: 'status', status: 429, headers: { 'retry-after': faults.pingBurst.retryAfter } };
      }
      if (kind === 'ping' && faults.pingHangs) return { kind: 'hang' };
      if (kind === 'ping')
        return faults.pingDelayMs > 0 ? { kind: 'delay', ms: faults.pingDelayMs } : { kind: 'pass' };
      if (kind.endsWith('manifest') && faults.burst.left > 0) {
        faults.burst.left--;
        return { kind: 'status', status: 429, headers: { 'retry-after': faults.burst.retryAfter } };
      }
      if (path.startsWith(`/v2/${SLOW}/manifests/`) && faults.slowDelayMs > 0)
        return { kind: 'delay', ms: faults.slowDelayMs };
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
    faults = calm();
  });

  const count = (kind: string) => seen.get(kind) ?? 0;
  const client = (options: { deadlineInMs?: number; maxConcurrency?: number } = {}) =>
    proxiedClient(proxy.host, session, { ...options, signal: new AbortController().signal });

  it(
    'an aborted call fails with TIMEOUT while another call of the same client completes',
    BOUNDED,
    async () => {
      const c = client();
      await c.ping();
      faults.slowDelayMs = 1500;
      const controller = new AbortController();
      const aborted = timed(() => c.getManifest(SLOW, 'v1', { signal: controller.signal }));
      const other = c.getManifest(FAST, 'v1');
      setTimeout(() => controller.abort(), 100);
      const { error, ms } = await aborted;
      assert.equal(error?.code, 'TIMEOUT');
      assert.equal(error.temporary, false);
      assert.ok(ms < 1000, `gave up after ${ms} ms`);
      assert.equal((await other).digest, image.manifestDigest);
      // The client is not poisoned: the same read, without the abort, is answered.
      faults.slowDelayMs = 0;
      assert.equal((await c.getManifest(SLOW, 'v1')).digest, image.manifestDigest);
    },
  );

  it('a call waiting for a free request slot stops waiting when aborted', BOUNDED, async () => {
    const c = client({ maxConcurrency: 1 });
    await c.ping();
    faults.slowDelayMs = 3000;
    const busy = c.getManifest(SLOW, 'v1');
    const controller = new AbortController();
    const queued = timed(() => c.getManifest(FAST, 'v1', { signal: controller.signal }));
    const next = c.getManifest(FAST, 'v1');
    setTimeout(() => controller.abort(), 100);
    const { error, ms } = await queued;
    assert.equal(error?.code, 'TIMEOUT');
    assert.ok(ms < 2000, `gave up after ${ms} ms, not when the slot was free`);
    // The queue goes on: the call behind the abandoned one gets the slot in turn.
    assert.equal((await busy).digest, image.manifestDigest);
    assert.equal((await next).digest, image.manifestDigest);
  });

  it(
    'a call whose signal has already aborted fails at once without reaching the registry',
    BOUNDED,
    async () => {
      const c = client();
      await c.ping();
      const before = proxy.requests();
      await assert.rejects(c.resolveDigest(FAST, 'v1', { signal: AbortSignal.abort() }), { code: 'TIMEOUT' });
      assert.equal(proxy.requests(), before);
    },
  );

  for (const [name, clientMs, callMs] of [
    ['a call deadline earlier than the client', 10_000, 300],
    ['a client deadline earlier than the call', 300, 10_000],
  ] as const) {
    it(`the earlier deadline bounds the call: ${name}`, BOUNDED, async () => {
      const c = client({ deadlineInMs: clientMs });
      faults.burst = { left: 1, retryAfter: '1' };
      const { error, ms } = await timed(() =>
        c.getManifest(FAST, 'v1', { deadline: performance.now() + callMs }),
      );
      assert.equal(error?.code, 'TOOMANYREQUESTS');
      assert.equal(error.temporary, true);
      assert.ok(ms < 900, `failed after ${ms} ms instead of waiting out the Retry-After`);
      assert.equal(count('GET manifest'), 1);
    });
  }

  it(
    'a later call deadline does not stop the client waiting out a Retry-After within it',
    BOUNDED,
    async () => {
      const c = client({ deadlineInMs: 10_000 });
      faults.burst = { left: 1, retryAfter: '1' };
      const { value, ms } = await timed(() =>
        c.getManifest(FAST, 'v1', { deadline: performance.now() + 5000 }),
      );
      assert.equal(value?.digest, image.manifestDigest);
      assert.ok(ms >= 900, `answered after ${ms} ms`);
    },
  );

  it(
    'aborting a blob read mid-stream destroys the stream with TIMEOUT; the source reads on',
    BOUNDED,
    async () => {
      const transport = new DockerTransport(env.environment, session);
      const source = await transport
        .parseReference(`//${proxy.host}/${FAST}:v1`)
        .newImageSource({ ...env.ctx, signal: new AbortController().signal });
      try {
        const layer = image.layers[0]!;
        const controller = new AbortController();
        const { stream } = await source.getBlob(
          { digest: layer.digest, size: layer.bytes.length },
          { signal: controller.signal },
        );
        const [first] = (await once(stream, 'data')) as [Buffer];
        assert.ok(first.length < layer.bytes.length, 'the read is under way');
        stream.pause();
        controller.abort();
        await assert.rejects(
          async () => {
            for await (const _ of stream) {
              // the rest of the body, if it were not cut off
            }
          },
          { code: 'TIMEOUT' },
        );
        assert.ok(stream.destroyed);
        // The same source (and client) reads the whole blob afterwards.
        const again = await source.getBlob({ digest: layer.digest, size: layer.bytes.length });
        let received = 0;
        for await (const chunk of again.stream) received += (chunk as Buffer).length;
        assert.equal(received, layer.bytes.length);
      } finally {
        await source.close();
      }
    },
  );

  describe('the shared ping', () => {
    it(
      'a call that gives up stops waiting; another call of the same client gets the answer',
      BOUNDED,
      async () => {
        faults.pingDelayMs = 500;
        const c = client();
        const impatient = new AbortController();
        const first = timed(() => c.resolveDigest(SLOW, 'v1', { signal: impatient.signal }));
        const second = c.resolveDigest(FAST, 'v1');
        setTimeout(() => impatient.abort(), 100);
        const { error, ms } = await first;
        assert.equal(error?.code, 'TIMEOUT');
        assert.ok(ms < 450, `gave up after ${ms} ms`);
        assert.equal(await second, image.manifestDigest);
        assert.equal(count('ping'), 1);
      },
    );

    it('is aborted when every call waiting for it gave up; the next call pings afresh', BOUNDED, async () => {
      faults.pingHangs = true;
      const c = client();
      const controller = new AbortController();
      const waiting = c.ping({ signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(waiting, { code: 'TIMEOUT' });
      // The abandoned ping's connection is closed (the proxy would hold it open for ever).
      for (let i = 0; proxy.sockets() > 0; i++) {
        assert.ok(i < 100, 'the abandoned ping is still connected');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      faults.pingHangs = false;
      assert.equal(await c.resolveDigest(FAST, 'v1'), image.manifestDigest);
      assert.equal(count('ping'), 2);
    });

    it(
      "is retried until the latest deadline of the calls waiting, not the first caller's",
      BOUNDED,
      async () => {
        faults.pingBurst = { left: 1, retryAfter: '1' };
        const c = client();
        const hasty = c.ping({ deadline: performance.now() + 300 });
        hasty.catch(() => {});
        const { value, error, ms } = await timed(() =>
          c.resolveDigest(FAST, 'v1', { deadline: performance.now() + 10_000 }),
        );
        assert.equal(error, undefined);
        assert.equal(value, image.manifestDigest);
        assert.ok(ms >= 900, `answered after ${ms} ms, after the Retry-After`);
        assert.equal(count('ping'), 2);
      },
    );
  });
});
