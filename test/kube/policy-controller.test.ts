import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { LeaderElector } from '../../src/kube/leader.ts';
import { PolicyController } from '../../src/kube/policy-controller.ts';
import type { ActivePolicy, PolicyChange } from '../../src/policy/crd/source.ts';
import type { PolicyStatus } from '../../src/policy/crd/types.ts';
import { compileWithKeys } from './compile.ts';
import { type FakeCluster, fixture, recordedCluster } from './fake-cluster.ts';

let compiles = 0;
/** The real parser and key loading, counted so tests can prove a version is compiled once. */
async function compileCounted(policyJson: string) {
  const compiled = await compileWithKeys(policyJson);
  compiles++;
  return compiled;
}

const running: { stop(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

async function startController(cluster: FakeCluster, leader?: LeaderElector) {
  const errors: string[] = [];
  const controller = new PolicyController({
    api: cluster,
    compile: compileCounted,
    controllerNamespace: 'portcullis-system',
    leader,
    informer: { baseDelayMs: 5, maxDelayMs: 20, onError: () => {} },
    refLoadTimeoutMs: 200,
    now: () => new Date('2026-11-26T19:00:00Z'),
    onError: (err, context) => errors.push(`${context}: ${String(err)}`),
  });
  running.push(controller);
  await controller.start();
  return { controller, errors };
}

const keys = (ps: readonly ActivePolicy<unknown>[]) => ps.map((p) => `${p.key}:${p.mode}:${p.state}`);

function status(
  cluster: FakeCluster,
  resource: 'clusterimagepolicies' | 'imagepolicies',
  ns: string | undefined,
  name: string,
) {
  return cluster.get(resource, ns, name)?.status as PolicyStatus | undefined;
}
const condition = (s: PolicyStatus | undefined, type: 'Ready' | 'Invalid') =>
  s?.conditions?.find((c) => c.type === type);

async function until(what: string, check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('PolicyController', () => {
  it('is ready after the first sync and compiles every recorded policy', async () => {
    const cluster = recordedCluster();
    const { controller, errors } = await startController(cluster);
    assert.equal(controller.ready(), true);
    assert.deepEqual(errors, []);
    assert.deepEqual(keys(controller.policiesFor('team-a')), [
      'ClusterImagePolicy/everywhere:warn:ready',
      'ClusterImagePolicy/signed-quay:enforce:ready',
      'ImagePolicy/team-a/team-a:audit:ready',
    ]);
  });

  it('applies a ClusterImagePolicy only to namespaces its selector picks', async () => {
    const { controller } = await startController(recordedCluster());
    assert.deepEqual(keys(controller.policiesFor('default')), ['ClusterImagePolicy/everywhere:warn:ready']);
  });

  it('follows namespace labels: labelling a namespace brings a selecting policy into force there', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    assert.ok(!controller.policiesFor('default').some((p) => p.key === 'ClusterImagePolicy/signed-quay'));
    const ns = fixture<{ metadata: Record<string, unknown> }>('namespace-default');
    cluster.apply('namespaces', { ...ns, metadata: { ...ns.metadata, labels: { trust: 'on' } } });
    assert.ok(controller.policiesFor('default').some((p) => p.key === 'ClusterImagePolicy/signed-quay'));
  });

  it('applies every ClusterImagePolicy to a namespace not in the cache yet (fail closed)', async () => {
    const { controller } = await startController(recordedCluster());
    assert.deepEqual(keys(controller.policiesFor('created-a-moment-ago')), [
      'ClusterImagePolicy/everywhere:warn:ready',
      'ClusterImagePolicy/signed-quay:enforce:ready',
    ]);
  });

  it('resolves keySecretRef in the controller namespace and keyConfigMapRef in the policy namespace', async () => {
    const { controller } = await startController(recordedCluster());
    const byKey = new Map(controller.policiesFor('team-a').map((p) => [p.key, p]));
    const pub = fixture<{ data: Record<string, string> }>('secret-cosign').data['cosign.pub'];
    const cip = byKey.get('ClusterImagePolicy/signed-quay');
    assert.ok(cip?.state === 'ready');
    assert.deepEqual(JSON.parse(cip.compiled.policyJson), {
      default: [{ type: 'insecureAcceptAnything' }],
      transports: {
        docker: {
          'quay.io/team': [
            { type: 'sigstoreSigned', keyData: pub, signedIdentity: { type: 'matchRepository' } },
          ],
        },
      },
    });
    const ip = byKey.get('ImagePolicy/team-a/team-a');
    assert.ok(ip?.state === 'ready');
    const cm = fixture<{ data: Record<string, string> }>('configmap-team-keys').data['cosign.pub']!;
    const doc = JSON.parse(ip.compiled.policyJson) as {
      transports: { docker: Record<string, { keyData: string }[]> };
    };
    assert.equal(
      doc.transports.docker['registry.example:5000']![0]!.keyData,
      Buffer.from(cm).toString('base64'),
    );
  });

  it('writes Ready status with observedGeneration and hash, and a Compiled event', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const s = status(cluster, 'imagepolicies', 'team-a', 'team-a');
    const active = controller.policiesFor('team-a').find((p) => p.key === 'ImagePolicy/team-a/team-a');
    assert.ok(active?.state === 'ready');
    assert.equal(s?.observedGeneration, 1);
    assert.equal(s?.activeGeneration, 1);
    assert.equal(s?.policyHash, active.hash);
    assert.equal(condition(s, 'Ready')?.status, 'True');
    assert.equal(condition(s, 'Invalid')?.status, 'False');
    assert.ok(
      cluster.events.some(
        (e) => e.involved.name === 'team-a' && e.reason === 'Compiled' && e.type === 'Normal',
      ),
    );
  });

  it('compiles each version once: a second status write or resync does not recompile', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const before = compiles;
    const patches = cluster.statusPatches.length;
    cluster.apply('imagepolicies', cluster.get('imagepolicies', 'team-a', 'team-a')!);
    await controller.settled();
    assert.equal(compiles, before);
    assert.equal(cluster.statusPatches.length, patches, 'an unchanged status is not rewritten');
  });

  it('a policy referencing a missing Secret is failed with ReferenceNotFound, then recovers when it appears', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const ip = fixture<Record<string, unknown>>('ip-team-a');
    cluster.apply('imagepolicies', {
      ...ip,
      metadata: { name: 'needs-secret', namespace: 'team-a' },
      spec: { default: [{ type: 'sigstoreSigned', keySecretRef: { name: 'not-yet', key: 'k.pub' } }] },
    });
    await controller.settled();
    const failed = controller.policiesFor('team-a').find((p) => p.key === 'ImagePolicy/team-a/needs-secret');
    assert.equal(failed?.state, 'failed');
    assert.equal(failed?.mode, 'enforce');
    const s = status(cluster, 'imagepolicies', 'team-a', 'needs-secret');
    assert.equal(condition(s, 'Ready')?.status, 'False');
    assert.equal(condition(s, 'Invalid')?.reason, 'ReferenceNotFound');
    assert.match(condition(s, 'Invalid')?.message ?? '', /spec\.default\[0\]\.keySecretRef/);
    assert.equal(s?.activeGeneration, undefined);

    const cosign = fixture<{ data: Record<string, string> }>('secret-cosign');
    cluster.apply('secrets', {
      ...cosign,
      metadata: { name: 'not-yet', namespace: 'team-a' },
      data: { 'k.pub': cosign.data['cosign.pub']! },
    });
    await until('the policy to compile', () =>
      controller
        .policiesFor('team-a')
        .some((p) => p.key === 'ImagePolicy/team-a/needs-secret' && p.state === 'ready'),
    );
    await controller.settled();
    assert.equal(
      condition(status(cluster, 'imagepolicies', 'team-a', 'needs-secret'), 'Ready')?.status,
      'True',
    );
  });

  it('a failure naming a 300,000-character reference is reported in a bounded Event and condition', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const ip = fixture<Record<string, unknown>>('ip-team-a');
    const name = 'n'.repeat(300_000);
    cluster.apply('imagepolicies', {
      ...ip,
      metadata: { name: 'long-ref', namespace: 'team-a' },
      spec: { default: [{ type: 'sigstoreSigned', keySecretRef: { name, key: 'k.pub' } }] },
    });
    await controller.settled();
    await until('the failure event', () => cluster.events.some((e) => e.involved.name === 'long-ref'));
    const event = cluster.events.find((e) => e.involved.name === 'long-ref')!;
    assert.equal(event.type, 'Warning');
    assert.ok(event.message.length <= 1024, `an Event message of ${event.message.length} characters`);
    assert.match(event.message, /characters\); no version is in force$/);
    const invalid = condition(status(cluster, 'imagepolicies', 'team-a', 'long-ref'), 'Invalid');
    assert.ok((invalid?.message.length ?? 0) <= 4096);
  });

  it('a reference whose watch cannot start fails its policy (ReferenceNotLoaded) instead of dropping it', async () => {
    const cluster = recordedCluster();
    const watch = cluster.watch.bind(cluster);
    cluster.watch = ((what: Parameters<typeof watch>[0]) => {
      if ('fieldSelector' in what && what.fieldSelector === 'metadata.name=forbidden')
        throw new Error('secrets is forbidden');
      return watch(what);
    }) as typeof cluster.watch;
    const { controller } = await startController(cluster);
    cluster.apply('imagepolicies', {
      metadata: { name: 'forbidden-key', namespace: 'team-a' },
      spec: { default: [{ type: 'sigstoreSigned', keySecretRef: { name: 'forbidden', key: 'k' } }] },
    });
    await controller.settled();
    const p = controller.policiesFor('team-a').find((x) => x.key === 'ImagePolicy/team-a/forbidden-key');
    assert.equal(p?.state, 'failed');
    assert.equal(
      condition(status(cluster, 'imagepolicies', 'team-a', 'forbidden-key'), 'Invalid')?.reason,
      'ReferenceNotLoaded',
    );
  });

  it('a key that does not parse keeps the last good version and reports PolicyInvalid', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const good = controller.policiesFor('team-a').find((p) => p.key === 'ImagePolicy/team-a/team-a');
    assert.ok(good?.state === 'ready');
    const cm = fixture<Record<string, unknown>>('configmap-team-keys');
    cluster.apply('configmaps', {
      ...cm,
      data: { 'cosign.pub': '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n' },
    });
    await until(
      'the failure to be reported',
      () => condition(status(cluster, 'imagepolicies', 'team-a', 'team-a'), 'Invalid')?.status === 'True',
    );
    const kept = controller.policiesFor('team-a').find((p) => p.key === 'ImagePolicy/team-a/team-a');
    assert.ok(kept?.state === 'ready');
    assert.equal(kept.hash, good.hash, 'the last good version stays in force');
    const s = status(cluster, 'imagepolicies', 'team-a', 'team-a');
    assert.equal(condition(s, 'Invalid')?.reason, 'PolicyInvalid');
    assert.equal(condition(s, 'Ready')?.status, 'False');
    assert.equal(s?.activeGeneration, 1);
    assert.ok(
      cluster.events.some(
        (e) => e.type === 'Warning' && e.reason === 'PolicyInvalid' && /stays in force/.test(e.message),
      ),
    );
  });

  it('a rotated key retires the old generation hash and announces it', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const old = controller.policiesFor('team-a').find((p) => p.key === 'ClusterImagePolicy/signed-quay');
    assert.ok(old?.state === 'ready');
    const changes: PolicyChange[] = [];
    controller.onChange((c) => changes.push(c));
    const { publicKey } = await import('node:crypto').then((c) =>
      c.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    );
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const secret = fixture<Record<string, unknown>>('secret-cosign');
    cluster.apply('secrets', { ...secret, data: { 'cosign.pub': Buffer.from(pem).toString('base64') } });
    await until('the new key to be in force', () => {
      const p = controller.policiesFor('team-a').find((x) => x.key === 'ClusterImagePolicy/signed-quay');
      return p?.state === 'ready' && p.hash !== old.hash;
    });
    assert.ok(changes.some((c) => c.retiredHashes.includes(old.hash)));
  });

  it('a deleted policy stops applying and its hash is retired', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const gone = controller.policiesFor('default')[0];
    assert.ok(gone?.state === 'ready');
    const changes: PolicyChange[] = [];
    controller.onChange((c) => changes.push(c));
    cluster.remove('clusterimagepolicies', undefined, 'everywhere');
    await controller.settled();
    assert.deepEqual(controller.policiesFor('default'), []);
    assert.deepEqual(changes, [{ retiredHashes: [gone.hash] }]);
  });

  it('status edited to nonsense through the status subresource is rewritten, the policy untouched', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const before = controller.policiesFor('team-a').map((p) => (p.state === 'ready' ? p.hash : p.reason));
    const compilesBefore = compiles;
    cluster.writeStatus('imagepolicies', 'team-a', 'team-a', {
      observedGeneration: 99,
      policyHash: 'forged',
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'Hacked',
          message: 'x',
          lastTransitionTime: '2020-01-01T00:00:00Z',
        },
      ],
    });
    await controller.settled();
    const s = status(cluster, 'imagepolicies', 'team-a', 'team-a');
    assert.equal(s?.observedGeneration, 1);
    assert.notEqual(s?.policyHash, 'forged');
    assert.equal(condition(s, 'Ready')?.reason, 'Compiled');
    assert.equal(compiles, compilesBefore, 'a status write does not recompile');
    assert.deepEqual(
      controller.policiesFor('team-a').map((p) => (p.state === 'ready' ? p.hash : p.reason)),
      before,
    );
  });

  it('keeps serving the last known policies while the API server is down, and catches up after', async () => {
    const cluster = recordedCluster();
    const { controller } = await startController(cluster);
    const before = keys(controller.policiesFor('team-a'));
    cluster.outage();
    assert.deepEqual(keys(controller.policiesFor('team-a')), before);
    await new Promise((r) => setTimeout(r, 30));
    cluster.restore();
    cluster.remove('imagepolicies', 'team-a', 'team-a');
    await until(
      'the deletion made while reconnecting to be seen',
      () => !controller.policiesFor('team-a').some((p) => p.key === 'ImagePolicy/team-a/team-a'),
    );
    assert.equal(controller.ready(), true);
  });

  it('is not ready, and serves nothing, while the API server cannot be reached at start', async () => {
    const cluster = recordedCluster();
    cluster.down = true;
    const controller = new PolicyController({
      api: cluster,
      compile: compileCounted,
      controllerNamespace: 'portcullis-system',
      leader: undefined,
      informer: { baseDelayMs: 5, maxDelayMs: 20, onError: () => {} },
      refLoadTimeoutMs: 200,
      now: () => new Date(),
      onError: () => {},
    });
    running.push(controller);
    const started = controller.start();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(controller.ready(), false);
    assert.throws(() => controller.policiesFor('team-a'), { code: 'NOT_SYNCED' });
    cluster.restore();
    await started;
    assert.equal(controller.ready(), true);
    assert.equal(controller.policiesFor('team-a').length, 3);
  });

  it('writes no status and no events unless it leads', async () => {
    const cluster = recordedCluster();
    cluster.leases.set('portcullis-system/portcullis-controller', {
      metadata: { namespace: 'portcullis-system', name: 'portcullis-controller', resourceVersion: '1' },
      spec: {
        holderIdentity: 'other-replica',
        leaseDurationSeconds: 15,
        renewTime: new Date().toISOString(),
      },
    });
    const leader = new LeaderElector(cluster, {
      namespace: 'portcullis-system',
      name: 'portcullis-controller',
      identity: 'me',
      leaseDurationSeconds: 15,
      retryPeriodMs: 10_000,
      now: () => new Date(),
      onError: () => {},
    });
    assert.equal(await leader.tryAcquireOrRenew(), false);
    const { controller } = await startController(cluster, leader);
    assert.equal(controller.policiesFor('team-a').length, 3, 'a follower still serves policies');
    assert.deepEqual(cluster.statusPatches, []);
    assert.deepEqual(cluster.events, []);

    cluster.leases.delete('portcullis-system/portcullis-controller');
    assert.equal(await leader.tryAcquireOrRenew(), true);
    await controller.settled();
    assert.equal(condition(status(cluster, 'imagepolicies', 'team-a', 'team-a'), 'Ready')?.status, 'True');
  });
});
