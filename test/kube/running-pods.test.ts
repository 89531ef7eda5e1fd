// What is kept of a Pod, and the owner chain its results go to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveOwner, type SlimOwner, StringPool, slimOwner, slimPod } from '../../src/kube/pods.ts';

const ref = (kind: string, name: string, apiVersion = 'apps/v1') => ({
  apiVersion,
  kind,
  name,
  uid: `uid-${name}`,
  controller: true,
});

function podObject(images: string[], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-1',
      namespace: 'team',
      uid: 'uid-pod',
      resourceVersion: '7',
      labels: { app: 'web' },
      annotations: { big: 'x'.repeat(10_000) },
      ownerReferences: [ref('ReplicaSet', 'web-5d9')],
    },
    spec: {
      serviceAccountName: 'builder',
      imagePullSecrets: [{ name: 'regcred' }, {}],
      initContainers: [{ name: 'init', image: 'registry.example/init:v1' }],
      containers: images.map((image, i) => ({ name: `c${i}`, image, env: [{ name: 'A', value: 'b' }] })),
    },
    status: { phase: 'Running' },
    ...extra,
  };
}

describe('slimPod', () => {
  it('keeps the images (distinct, in order), the controller, the ServiceAccount and pull secret names', () => {
    const pod = slimPod(
      podObject(['registry.example/app:v1', 'registry.example/app:v1', 'x/y:z']),
      new StringPool(),
    );
    assert.deepEqual(pod, {
      metadata: { name: 'web-1', namespace: 'team', uid: 'uid-pod', resourceVersion: '7' },
      owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9', uid: 'uid-web-5d9' },
      serviceAccountName: 'builder',
      imagePullSecrets: ['regcred'],
      images: ['registry.example/init:v1', 'registry.example/app:v1', 'x/y:z'],
      omittedImages: 0,
    });
  });

  it('drops pods that finished, and malformed ones', () => {
    const pool = new StringPool();
    assert.equal(slimPod(podObject(['a:v1'], { status: { phase: 'Succeeded' } }), pool), undefined);
    assert.equal(slimPod(podObject(['a:v1'], { status: { phase: 'Failed' } }), pool), undefined);
    assert.equal(slimPod({ metadata: { name: 'x' } }, pool), undefined);
    assert.equal(slimPod('not a pod', pool), undefined);
  });

  it('keeps at most 100 distinct images of a pod with thousands, and counts the rest', () => {
    const images = Array.from({ length: 5000 }, (_, i) => `registry.example/app${i}:v1`);
    const pod = slimPod(podObject(images), new StringPool());
    assert.equal(pod?.images.length, 100);
    assert.equal(pod?.omittedImages, 4901);
  });

  it('shares one string per distinct image across pods', () => {
    const pool = new StringPool();
    const a = slimPod(podObject([`registry.example/${'app'}:v1`]), pool);
    const b = slimPod(JSON.parse(JSON.stringify(podObject(['registry.example/app:v1']))), pool);
    assert.ok(Object.is(a?.images[1], b?.images[1]));
  });
});

describe('resolveOwner', () => {
  const pool = new StringPool();
  const owner = (name: string, controller: ReturnType<typeof ref> | undefined, kind = 'ReplicaSet') =>
    slimOwner(
      {
        apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1',
        kind,
        metadata: {
          name,
          namespace: 'team',
          uid: `uid-${name}`,
          ownerReferences: controller ? [controller] : [],
        },
      },
      pool,
    )!;
  const pod = (controller: ReturnType<typeof ref> | undefined) =>
    slimPod(
      {
        metadata: {
          name: 'p',
          namespace: 'team',
          uid: 'uid-p',
          ownerReferences: controller ? [controller] : [],
        },
        spec: { containers: [{ image: 'a:v1' }] },
      },
      pool,
    )!;
  const lookupIn = (objects: SlimOwner[]) => (_kind: string, name: string) =>
    objects.find((o) => o.metadata.name === name);

  it('goes through the ReplicaSet to its Deployment, and through the Job to its CronJob', () => {
    const rs = owner('web-5d9', ref('Deployment', 'web'));
    assert.deepEqual(resolveOwner(pod(ref('ReplicaSet', 'web-5d9')), lookupIn([rs])), {
      owner: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web' },
    });
    const job = owner('nightly-28', ref('CronJob', 'nightly', 'batch/v1'), 'Job');
    assert.equal(
      resolveOwner(pod(ref('Job', 'nightly-28', 'batch/v1')), lookupIn([job])).owner.kind,
      'CronJob',
    );
  });

  it('a bare pod is its own owner; an unknown ReplicaSet or one of another uid stops the chain there', () => {
    assert.deepEqual(resolveOwner(pod(undefined), lookupIn([])).owner, {
      apiVersion: 'v1',
      kind: 'Pod',
      name: 'p',
      uid: 'uid-p',
    });
    assert.equal(resolveOwner(pod(ref('ReplicaSet', 'gone')), lookupIn([])).owner.kind, 'ReplicaSet');
    const impostor = {
      ...owner('web-5d9', ref('Deployment', 'web')),
      metadata: { name: 'web-5d9', namespace: 'team', uid: 'other', resourceVersion: undefined },
    };
    assert.equal(
      resolveOwner(pod(ref('ReplicaSet', 'web-5d9')), lookupIn([impostor])).owner.kind,
      'ReplicaSet',
    );
  });

  it("an owner chain that loops stops at the pod's controller and says so", () => {
    const a = owner('a', ref('ReplicaSet', 'b'));
    const b = owner('b', ref('ReplicaSet', 'a'));
    const resolved = resolveOwner(pod(ref('ReplicaSet', 'a')), lookupIn([a, b]));
    assert.deepEqual(resolved, {
      owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: 'uid-a' },
      note: 'the owner chain loops at ReplicaSet/a',
    });
  });

  it("an owner chain longer than 8 stops at the pod's controller and says so", () => {
    const chain = Array.from({ length: 20 }, (_, i) => owner(`rs${i}`, ref('ReplicaSet', `rs${i + 1}`)));
    const resolved = resolveOwner(pod(ref('ReplicaSet', 'rs0')), lookupIn(chain));
    assert.equal(resolved.owner.name, 'rs0');
    assert.equal(resolved.note, 'the owner chain is longer than 8');
  });
});
