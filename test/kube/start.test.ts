import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startKube } from '../../src/kube/index.ts';
import { compileWithKeys } from './compile.ts';
import { recordedCluster } from './fake-cluster.ts';

describe('startKube', () => {
  it('wires the controller, pull secrets and the Lease: ready, leading, status written', async () => {
    const cluster = recordedCluster();
    const errors: string[] = [];
    const kube = await startKube({
      api: cluster,
      compile: compileWithKeys,
      namespace: 'portcullis-system',
      identity: 'pod-0',
      onError: (err, context) => errors.push(`${context}: ${String(err)}`),
    });
    try {
      assert.equal(kube.ready(), true);
      assert.equal(kube.policies.policiesFor('team-a').length, 3);
      const creds = await kube.pullSecrets.secretsFor({
        namespace: 'team-a',
        serviceAccountName: 'builder',
        imagePullSecrets: [],
      });
      assert.equal(creds.dockerConfigJson.length, 1);
      assert.equal(
        cluster.leases.get('portcullis-system/portcullis-controller')?.spec.holderIdentity,
        'pod-0',
      );
      await kube.policies.settled();
      assert.ok(cluster.statusPatches.length >= 3, 'the leader wrote every status');
      assert.deepEqual(errors, []);
    } finally {
      await kube.stop();
    }
  });
});
