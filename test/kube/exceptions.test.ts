// Break-glass exceptions through the watcher (on the in-memory API server; e2e/exceptions.test.ts
// runs it against the real one) and the webhook: admitted with a warning, an audit annotation,
// a metric and an Event while active; nothing once expired, and the status says so.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExceptionWatcher } from '../../src/kube/exceptions.ts';
import { appRig, podSpec, post, review, workload } from '../webhook/rig.ts';
import { FakeCluster } from './fake-cluster.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exception(name: string, expiresAfter: string, images: unknown[], createdAt = new Date()) {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ImageTrustException',
    metadata: {
      name,
      namespace: 'team-a',
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: createdAt.toISOString(),
    },
    spec: {
      images,
      reason: 'CVE-2026-1234 hotfix, signing service down',
      owner: 'alice@example.com',
      expiresAfter,
    },
  };
}

/** Runs `work` with a webhook rig whose exceptions come from a watcher over a cluster holding `objects`. */
async function withExceptions(
  objects: readonly ReturnType<typeof exception>[],
  work: (rig: ReturnType<typeof appRig>, cluster: FakeCluster) => Promise<void>,
): Promise<void> {
  const cluster = new FakeCluster();
  for (const o of objects) cluster.apply('imagetrustexceptions', o);
  const watcher = new ExceptionWatcher({
    api: cluster,
    leader: undefined,
    informer: { baseDelayMs: 10, maxDelayMs: 100, onError: () => {} },
    now: Date.now,
    onError: () => {},
    eventIntervalMs: 60_000,
  });
  await watcher.start();
  try {
    await work(appRig({ exceptions: watcher }), cluster);
  } finally {
    await watcher.stop();
  }
}

const pod = (images: string[], namespace = 'team-a') =>
  review('', 'Pod', workload('', 'Pod', podSpec(images)), { namespace });

describe('break-glass exceptions', () => {
  it('admit matching images without verification, with a warning, an audit annotation, a metric and an Event', async () => {
    await withExceptions(
      [exception('hotfix', '72h', [{ scope: 'registry.example/unsigned' }])],
      async (rig, cluster) => {
        const { body } = await post(
          rig.app,
          '/validate',
          pod(['registry.example/unsigned/app:1', 'registry.example/team/app:1']),
        );
        assert.equal(body.response.allowed, true, JSON.stringify(body));
        // The excepted image is never looked at; the other is verified as usual.
        assert.deepEqual(rig.resolver.calls, ['registry.example/team/app:1']);
        assert.equal(body.response.warnings.length, 1);
        assert.match(
          body.response.warnings[0],
          /^portcullis: image "registry\.example\/unsigned\/app:1" admitted WITHOUT verification by break-glass exception team-a\/hotfix \(owner alice@example\.com, until \d{4}-[\d-]+T[\d:]+Z\): CVE-2026-1234/,
        );
        assert.match(
          body.response.auditAnnotations['break-glass'],
          /^registry\.example\/unsigned\/app:1 by team-a\/hotfix/,
        );
        const metrics = (await rig.app.inject({ url: '/metrics' })).body;
        assert.match(metrics, /^portcullis_exception_admissions_total\{namespace="team-a"\} 1$/m);
        assert.equal(cluster.events.length, 1);
        assert.equal(cluster.events[0]!.reason, 'BreakGlassAdmission');
        // One Event per image and exception per interval, however many admissions.
        await post(rig.app, '/validate', pod(['registry.example/unsigned/app:1']));
        assert.equal(cluster.events.length, 1);
        const status = cluster.get('imagetrustexceptions', 'team-a', 'hotfix')?.status as { state: string };
        assert.equal(status.state, 'Active');
      },
    );
  });

  it('cover only their own namespace', async () => {
    await withExceptions(
      [exception('hotfix', '72h', [{ scope: 'registry.example/unsigned' }])],
      async (rig) => {
        const { body } = await post(rig.app, '/validate', pod(['registry.example/unsigned/app:1'], 'team-b'));
        assert.equal(body.response.allowed, false);
      },
    );
  });

  it('do nothing once expired, and say so in their status', async () => {
    await withExceptions(
      [exception('short', '1s', [{ scope: 'registry.example/unsigned' }])],
      async (rig, cluster) => {
        assert.equal(
          (await post(rig.app, '/validate', pod(['registry.example/unsigned/app:1']))).body.response.allowed,
          true,
        );
        await sleep(1300);
        const { body } = await post(rig.app, '/validate', pod(['registry.example/unsigned/app:1']));
        assert.equal(body.response.allowed, false);
        assert.equal(body.response.auditAnnotations['break-glass'], undefined);
        const status = cluster.get('imagetrustexceptions', 'team-a', 'short')?.status as {
          state: string;
          message: string;
        };
        assert.equal(status.state, 'Expired');
        assert.match(status.message, /^expired at .*: admits nothing/);
      },
    );
  });

  it('do nothing when invalid (an expiry beyond the bound got past an older CRD), and say so', async () => {
    await withExceptions(
      [exception('long', '720h', [{ scope: 'registry.example/unsigned' }])],
      async (rig, cluster) => {
        assert.equal(
          (await post(rig.app, '/validate', pod(['registry.example/unsigned/app:1']))).body.response.allowed,
          false,
        );
        const status = cluster.get('imagetrustexceptions', 'team-a', 'long')?.status as { state: string };
        assert.equal(status.state, 'Invalid');
      },
    );
  });
});
