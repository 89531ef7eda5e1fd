// The cluster with a node runs what users run: pods scheduled, images pulled by the kubelet from
// the node's registry, Deployments rolled out by the controller manager, logs served by the kubelet.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../harness.ts';
import type { NodeCluster } from '../node.ts';
import { nodeCluster } from './cluster.ts';

describe('cluster with a node', () => {
  let cluster: NodeCluster;

  before(async () => {
    cluster = await nodeCluster();
    await cluster.kubectl(['create', 'namespace', 'node-basics']);
  });

  after(async () => {
    await cluster?.kubectl(['delete', 'namespace', 'node-basics', '--wait=false']);
    await cluster?.stop();
  });

  test('a pod whose image was built here is pulled from the node registry and runs', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pause', namespace: 'node-basics' },
      spec: { containers: [{ name: 'pause', image: cluster.images.pause }] },
    };
    const created = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
    assert.equal(created.code, 0, created.stderr);
    const waited = await cluster.kubectl(
      ['wait', '--for=condition=Ready', 'pod/pause', '-n', 'node-basics', '--timeout=90s'],
      { timeoutMs: 100_000 },
    );
    assert.equal(waited.code, 0, waited.stderr);
    const ip = await cluster.kubectl([
      'get',
      'pod',
      'pause',
      '-n',
      'node-basics',
      '-o',
      'jsonpath={.status.podIP}',
    ]);
    assert.match(ip.stdout, /^10\.244\.0\.\d+$/);
    // API server -> kubelet: the path `kubectl logs` and `exec` take.
    const logs = await cluster.kubectl(['logs', 'pause', '-n', 'node-basics']);
    assert.equal(logs.code, 0, logs.stderr);
  });

  test('a Deployment rolls out its replicas', async () => {
    const created = await cluster.kubectl([
      'create',
      'deployment',
      'two',
      '-n',
      'node-basics',
      `--image=${cluster.images.pause}`,
      '--replicas=2',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const rolled = await cluster.kubectl(
      ['rollout', 'status', 'deployment/two', '-n', 'node-basics', '--timeout=90s'],
      { timeoutMs: 100_000 },
    );
    assert.equal(rolled.code, 0, rolled.stderr);
    await eventually('two pods Running', async () => {
      const phases = await cluster.kubectl([
        'get',
        'pods',
        '-n',
        'node-basics',
        '-l',
        'app=two',
        '-o',
        'jsonpath={.items[*].status.phase}',
      ]);
      return phases.stdout === 'Running Running' ? true : undefined;
    });
  });
});
