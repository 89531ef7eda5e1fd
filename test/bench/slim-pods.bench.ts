// What the pod watch of `serve --verify-running` keeps per pod: the heap held by 10,000 Pods (as
// the API server serves them) reduced by slimPod, with the string pool sharing their images.
//
//   node_modules/.bin/node --expose-gc test/bench/slim-pods.bench.ts [--pods N]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { StringPool, slimPod } from '../../src/kube/pods.ts';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '10000' } } });
const count = Number(values.pods);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function servedPod(i: number): unknown {
  return JSON.parse(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `app-${i % 700}-7f9-${i}`,
        namespace: `team-${i % 7}`,
        uid: randomUUID(),
        resourceVersion: String(1000 + i),
        labels: { app: `app-${i % 700}` },
        managedFields: [
          { manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:spec': {} } },
        ],
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: `app-${i % 700}-7f9`,
            uid: randomUUID(),
            controller: true,
          },
        ],
      },
      spec: {
        containers: [{ name: 'app', image: `registry.example/bench/img${i % 300}:v1`, resources: {} }],
        serviceAccountName: 'default',
        restartPolicy: 'Always',
      },
      status: { phase: 'Running', qosClass: 'BestEffort' },
    }),
  );
}

gc();
const before = process.memoryUsage().heapUsed;
const pool = new StringPool();
const kept = [];
for (let i = 0; i < count; i++) kept.push(slimPod(servedPod(i), pool));
gc();
const after = process.memoryUsage().heapUsed;
process.stdout.write(
  `${kept.length} pods kept: ${((after - before) / 2 ** 20).toFixed(1)} MiB of heap, ${Math.round((after - before) / count)} bytes per pod\n`,
);
