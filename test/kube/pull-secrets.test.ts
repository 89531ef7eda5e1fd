import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { PolicyController } from '../../src/kube/policy-controller.ts';
import { DOCKER_CFG, dockercfgToConfigJson, KubePullSecrets } from '../../src/kube/pull-secrets.ts';
import type { PolicySource } from '../../src/policy/crd/source.ts';
import type { PullSecretSource, TrustPolicy } from '../../src/policy/index.ts';
import { type FakeCluster, fixture, pullSecret, recordedCluster } from './fake-cluster.ts';

const options = { baseDelayMs: 5, maxDelayMs: 20, onError: () => {} };
const running: KubePullSecrets[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

async function started(cluster: FakeCluster): Promise<KubePullSecrets> {
  const source = new KubePullSecrets(cluster, options);
  running.push(source);
  await source.start();
  return source;
}

const decoded = (name: string) =>
  Buffer.from(
    fixture<{ data: Record<string, string> }>(name).data['.dockerconfigjson']!,
    'base64',
  ).toString();
const legacy = () =>
  JSON.stringify({
    auths: JSON.parse(
      Buffer.from(
        fixture<{ data: Record<string, string> }>('secret-legacy').data['.dockercfg']!,
        'base64',
      ).toString(),
    ),
  });

describe('KubePullSecrets', () => {
  const cases: {
    name: string;
    pod: { serviceAccountName: string; imagePullSecrets: string[] };
    want: () => string[];
  }[] = [
    {
      name: 'the pod secret only',
      pod: { serviceAccountName: 'default', imagePullSecrets: ['regcred'] },
      want: () => [decoded('secret-regcred')],
    },
    {
      name: 'pod secrets first, then the ServiceAccount ones (dockercfg converted, missing skipped)',
      pod: { serviceAccountName: 'builder', imagePullSecrets: ['regcred'] },
      want: () => [decoded('secret-regcred'), legacy()],
    },
    {
      name: 'a secret named by both the pod and its ServiceAccount is used once',
      pod: { serviceAccountName: 'builder', imagePullSecrets: ['legacy', 'regcred'] },
      want: () => [legacy(), decoded('secret-regcred')],
    },
    {
      name: 'no secrets at all',
      pod: { serviceAccountName: 'nobody', imagePullSecrets: [] },
      want: () => [],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const source = await started(recordedCluster());
      const got = await source.secretsFor({ namespace: 'team-a', ...c.pod });
      assert.deepEqual(got.dockerConfigJson, c.want());
      // Known without waiting too, so a review whose verdicts are cached is answered at once.
      assert.deepEqual(source.knownSecretsFor({ namespace: 'team-a', ...c.pod })?.dockerConfigJson, c.want());
    });
  }

  it('never reads a pull secret of another namespace', async () => {
    const source = await started(recordedCluster());
    const got = await source.secretsFor({
      namespace: 'default',
      serviceAccountName: 'default',
      imagePullSecrets: ['regcred'],
    });
    assert.deepEqual(got.dockerConfigJson, []);
  });

  it('caches only pull-secret-typed Secrets', async () => {
    const cluster = recordedCluster();
    await started(cluster);
    const watched = [...cluster.watchers].map((w) => w.matches('secrets', fixture('secret-cosign')));
    assert.ok(!watched.includes(true), 'an Opaque secret is not cached');
  });

  it('throws NOT_SYNCED before the first sync instead of answering without credentials', async () => {
    const cluster = recordedCluster();
    cluster.down = true;
    const source = new KubePullSecrets(cluster, options);
    running.push(source);
    void source.start();
    const pod = { namespace: 'team-a', serviceAccountName: 'builder', imagePullSecrets: [] };
    await assert.rejects(source.secretsFor(pod), { code: 'NOT_SYNCED' });
    assert.equal(source.knownSecretsFor(pod), undefined, 'nothing is known before the first sync');
  });

  it('a secret that is not valid JSON: secretsFor says so, knownSecretsFor leaves it to secretsFor', async () => {
    const cluster = recordedCluster();
    const source = await started(cluster);
    cluster.apply('secrets', pullSecret('team-a', 'broken', '{not json', DOCKER_CFG));
    const pod = { namespace: 'team-a', serviceAccountName: 'default', imagePullSecrets: ['broken'] };
    await assert.rejects(source.secretsFor(pod), {
      code: 'API_ERROR',
      message: 'reading pull secret team-a/broken: not valid JSON',
    });
    assert.equal(source.knownSecretsFor(pod), undefined);
  });

  it('a rotated secret is read anew at once: no review gets the credentials it replaced', async () => {
    const cluster = recordedCluster();
    const source = await started(cluster);
    const pod = { namespace: 'team-a', serviceAccountName: 'default', imagePullSecrets: ['rotating'] };
    const config = (user: string) =>
      JSON.stringify({
        auths: { 'registry.example': { auth: Buffer.from(`${user}:pw`).toString('base64') } },
      });
    const known = () => source.knownSecretsFor(pod)?.dockerConfigJson;
    // The fake cluster delivers each change to the watches as it is applied.
    cluster.apply('secrets', pullSecret('team-a', 'rotating', config('alice')));
    // Read many times (decoded once), then rotated: the next read has the new credentials.
    for (let i = 0; i < 3; i++) assert.deepEqual(known(), [config('alice')]);
    cluster.apply('secrets', pullSecret('team-a', 'rotating', config('bob')));
    assert.deepEqual(known(), [config('bob')]);
    assert.deepEqual((await source.secretsFor(pod)).dockerConfigJson, [config('bob')]);
    // A legacy secret broken, then fixed: the error does not outlive the version that caused it.
    const legacyPod = { ...pod, imagePullSecrets: ['legacy-rotating'] };
    cluster.apply('secrets', pullSecret('team-a', 'legacy-rotating', '{not json', DOCKER_CFG));
    const broken = { message: 'reading pull secret team-a/legacy-rotating: not valid JSON' };
    await assert.rejects(source.secretsFor(legacyPod), broken);
    await assert.rejects(source.secretsFor(legacyPod), broken);
    const entries = { 'registry.example': { auth: Buffer.from('carol:pw').toString('base64') } };
    cluster.apply('secrets', pullSecret('team-a', 'legacy-rotating', JSON.stringify(entries), DOCKER_CFG));
    assert.deepEqual(source.knownSecretsFor(legacyPod)?.dockerConfigJson, [
      JSON.stringify({ auths: entries }),
    ]);
  });

  it('restricted to namespaces (a Role in each): reads those, and gives nothing elsewhere', async () => {
    const cluster = recordedCluster();
    const source = new KubePullSecrets(cluster, options, ['team-a']);
    running.push(source);
    await source.start();
    const inTeam = await source.secretsFor({
      namespace: 'team-a',
      serviceAccountName: 'builder',
      imagePullSecrets: ['regcred'],
    });
    assert.deepEqual(inTeam.dockerConfigJson, [decoded('secret-regcred'), legacy()]);
    const elsewhere = await source.secretsFor({
      namespace: 'default',
      serviceAccountName: 'default',
      imagePullSecrets: ['regcred'],
    });
    assert.deepEqual(elsewhere.dockerConfigJson, []);
    const other = { metadata: { name: 'x', namespace: 'default' }, type: 'kubernetes.io/dockerconfigjson' };
    assert.ok(![...cluster.watchers].some((w) => w.matches('secrets', other)), 'no watch outside team-a');
  });

  it('converts .dockercfg to .dockerconfigjson', () => {
    assert.equal(dockercfgToConfigJson('{"r.io":{"auth":"dTpw"}}'), '{"auths":{"r.io":{"auth":"dTpw"}}}');
    assert.throws(() => dockercfgToConfigJson('[]'), { code: 'API_ERROR' });
  });
});

describe('the webhook contracts', () => {
  it('KubePullSecrets is a PullSecretSource and PolicyController a PolicySource of Evaluators (compile-time)', () => {
    const sources: { pull: PullSecretSource; policies: PolicySource<TrustPolicy> } | undefined = undefined as
      | { pull: KubePullSecrets; policies: PolicyController<TrustPolicy> }
      | undefined;
    assert.equal(sources, undefined);
  });
});
