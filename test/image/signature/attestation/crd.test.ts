// sigstoreAttested in the policy CRDs: the controller compiles it with a key from a ConfigMap (the
// same reference forms as sigstoreSigned), and a condition that does not compile makes the policy
// Invalid with the expression and its position. What the API server itself refuses (the schema's
// CEL rules) is checked against the real kube-apiserver in e2e/product/attestations.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { PolicyController } from '../../../../src/kube/policy-controller.ts';
import type { PolicyStatus } from '../../../../src/policy/crd/types.ts';
import { runCli } from '../../../helpers/cli.ts';
import { compileWithKeys } from '../../../kube/compile.ts';
import { type FakeCluster, fixture, recordedCluster } from '../../../kube/fake-cluster.ts';
import { GENERATOR, SLSA_V1 } from './helpers.ts';

const running: { stop(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

async function controllerOn(cluster: FakeCluster) {
  const controller = new PolicyController({
    api: cluster,
    compile: compileWithKeys,
    leader: undefined,
    controllerNamespace: 'portcullis-system',
    informer: { baseDelayMs: 5, maxDelayMs: 20, onError: () => {} },
    refLoadTimeoutMs: 200,
    now: () => new Date('2026-12-06T10:00:00Z'),
    onError: () => {},
  });
  running.push(controller);
  await controller.start();
  return controller;
}

const invalid = (cluster: FakeCluster, name: string) =>
  (cluster.get('imagepolicies', 'team-a', name)?.status as PolicyStatus | undefined)?.conditions?.find(
    (c) => c.type === 'Invalid',
  );

describe('sigstoreAttested in ImagePolicy', () => {
  const requirement = (conditions: string[]) => ({
    type: 'sigstoreAttested',
    keyConfigMapRef: { name: 'team-keys', key: 'cosign.pub' },
    predicateType: SLSA_V1,
    conditions,
  });
  const apply = (cluster: FakeCluster, name: string, conditions: string[]) =>
    cluster.apply('imagepolicies', {
      ...fixture<Record<string, unknown>>('ip-team-a'),
      metadata: { name, namespace: 'team-a' },
      spec: { default: [requirement(conditions)] },
    });

  it('compiles with its key from a ConfigMap', async () => {
    const cluster = recordedCluster();
    const controller = await controllerOn(cluster);
    apply(cluster, 'provenance', [`predicate.runDetails.builder.id == "${GENERATOR}"`]);
    await controller.settled();
    const p = controller.policiesFor('team-a').find((x) => x.key === 'ImagePolicy/team-a/provenance');
    assert.equal(p?.state, 'ready');
  });

  it('a condition that does not compile: Invalid, with the expression and its position', async () => {
    const cluster = recordedCluster();
    const controller = await controllerOn(cluster);
    apply(cluster, 'typo', [
      'has(predicate.runDetails)',
      'predicate.runDetails.builder.id.startWith("https://")',
    ]);
    await controller.settled();
    const p = controller.policiesFor('team-a').find((x) => x.key === 'ImagePolicy/team-a/typo');
    assert.equal(p?.state, 'failed');
    const c = invalid(cluster, 'typo');
    assert.equal(c?.status, 'True');
    assert.equal(c?.reason, 'PolicyInvalid');
    assert.match(
      c?.message ?? '',
      /\/default\/0\/conditions\/1 .*condition "predicate\.runDetails\.builder\.id\.startWith\(\\"https:\/\/\\"\)": 1:32: unknown function startWith/,
    );
  });
});

describe('policy export and sigstoreAttested', () => {
  it('carries predicateType and conditions to a ClusterImagePolicy and back', async () => {
    const work = await mkdtemp(join(tmpdir(), 'portcullis-attest-export-'));
    try {
      const pem = fixture<{ data: Record<string, string> }>('configmap-team-keys').data['cosign.pub']!;
      await writeFile(join(work, 'builder.pub'), pem);
      const requirement = {
        type: 'sigstoreAttested',
        predicateType: SLSA_V1,
        conditions: [`predicate.runDetails.builder.id == "${GENERATOR}"`],
      };
      await writeFile(
        join(work, 'policy.json'),
        JSON.stringify({ default: [{ ...requirement, keyPath: join(work, 'builder.pub') }] }),
      );
      const cip = await runCli(['policy', 'export', join(work, 'policy.json')]);
      assert.equal(cip.code, 0, cip.stderr);
      await writeFile(join(work, 'cip.yaml'), cip.stdout);
      const back = await runCli([
        'policy',
        'export',
        '--ref-dir',
        join(work, 'keys'),
        join(work, 'cip.yaml'),
      ]);
      assert.equal(back.code, 0, back.stderr);
      assert.deepEqual(JSON.parse(back.stdout).default, [
        { ...requirement, keyData: Buffer.from(pem).toString('base64') },
      ]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
