// The webhook stays available, counted: admissions sent continuously (20 a second, failurePolicy
// Fail) while `kubectl rollout restart` replaces every replica and while one pod is deleted with
// --grace-period=0; and it never blocks itself: with every replica deleted at once, the Deployment
// comes back by itself (the release's namespace is not judged by its own webhook).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeCluster } from '../node.ts';
import { type BuiltImage, nodeCluster, portcullisImage } from './cluster.ts';
import {
  type AdmissionCounts,
  admissionStream,
  appNamespace,
  chart,
  clusterImagePolicy,
  cosignSigned,
  helmInstall,
  type Images,
  ok,
  podJson,
  testImages,
  testValues,
} from './fixtures.ts';

const release = 'avail';
const releaseNs = 'portcullis-avail';
const deployment = `${release}-portcullis`;
const appNs = 'apps-avail';
const RATE = 20;

function report(what: string, counts: AdmissionCounts): void {
  process.stderr.write(
    `e2e: ${what}: ${counts.sent} admissions sent at ${RATE}/s, ${counts.admitted} admitted, ` +
      `${counts.denied} denied, ${counts.failed} failed, ${counts.timedOut} timed out` +
      `${counts.errors.length > 0 ? `\n  ${counts.errors.join('\n  ')}` : ''}\n`,
  );
}

describe('availability of the webhook during restarts', () => {
  let cluster: NodeCluster;
  let image: BuiltImage;
  let images: Images;
  let signed: string;

  const rolledOut = async () =>
    ok(
      await cluster.kubectl(
        ['rollout', 'status', `deployment/${deployment}`, '-n', releaseNs, '--timeout=240s'],
        {
          timeoutMs: 250_000,
        },
      ),
      'rollout status',
    );

  before(async () => {
    cluster = await nodeCluster();
    [image, images] = await Promise.all([portcullisImage(cluster), testImages(cluster)]);
    await appNamespace(cluster, appNs, release);
    ok(await cluster.kubectl(['apply', '-f', `${chart}/crds`]), 'CRDs');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: clusterImagePolicy('e2e-avail', release, {
          [`${cluster.registry}/cosign`]: cosignSigned(images),
        }),
      }),
      'ClusterImagePolicy',
    );
    ok(
      await helmInstall(cluster, release, releaseNs, testValues(cluster, image, images, release), [
        '--wait',
        '--timeout=300s',
      ]),
      'helm install',
    );
    signed = await images.pushCosignSigned('cosign/load:v1');
    ok(
      await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
        input: podJson('warm', appNs, signed),
      }),
      'warm up',
    );
  });

  after(async () => {
    await cluster?.helm(['uninstall', release, '-n', releaseNs, '--wait', '--timeout=120s'], {
      timeoutMs: 150_000,
    });
    await cluster?.kubectl(['delete', 'clusterimagepolicy', 'e2e-avail', '--wait=false']);
    await cluster?.kubectl(['delete', 'namespace', appNs, releaseNs, '--wait=false']);
    await images?.stop();
    await cluster?.stop();
  });

  // Measured on 2026-12-06: 4 failures in 614, then 2 in 1351. The API server keeps connections to
  // a replica alive through its Service (kube-proxy's endpoint removal moves only new connections);
  // the replica stops its server 2 s after SIGTERM (shutdownDelayMs), and a request arriving on
  // such a connection then gets fastify's 503 while closing ("the server is currently unable to
  // handle the request"), or a reset / broken pipe when it races the closing of idle connections.
  // The fix belongs to the webhook's drain (src/server.ts): answer normally with `Connection: close`
  // while draining, so the client reconnects to a ready replica, before closing.
  test('no admission fails or times out while kubectl rollout restart replaces every replica', {
    todo: 'issue 15: 503s from a closing replica on kept-alive connections',
  }, async () => {
    const stream = admissionStream(cluster, appNs, signed, RATE);
    await sleep(3_000);
    ok(
      await cluster.kubectl(['rollout', 'restart', `deployment/${deployment}`, '-n', releaseNs]),
      'rollout restart',
    );
    await rolledOut();
    await sleep(5_000);
    const counts = await stream.stop();
    report('rollout restart', counts);
    assert.ok(counts.admitted > 0);
    assert.deepEqual(
      { denied: counts.denied, failed: counts.failed, timedOut: counts.timedOut },
      { denied: 0, failed: 0, timedOut: 0 },
      counts.errors.join('\n'),
    );
  });

  // Measured on 2026-12-06: 0 failures in 202, then 2 in 469 under load 20-28, both 503s 10 and 16 s
  // after the delete: the API object goes at once, the kubelet stops the container later with
  // SIGTERM, and the replica's drain fails the same way as above.
  test('no admission fails or times out while one replica is deleted with --grace-period=0', {
    todo: 'issue 15: 503s from a closing replica on kept-alive connections',
  }, async () => {
    const pod = ok(
      await cluster.kubectl([
        'get',
        'pods',
        '-n',
        releaseNs,
        '-l',
        'app.kubernetes.io/name=portcullis',
        '-o',
        'jsonpath={.items[0].metadata.name}',
      ]),
      'a webhook pod',
    );
    const stream = admissionStream(cluster, appNs, signed, RATE);
    await sleep(3_000);
    ok(
      await cluster.kubectl(['delete', 'pod', pod, '-n', releaseNs, '--grace-period=0', '--force']),
      'delete --grace-period=0',
    );
    await sleep(2_000);
    await rolledOut();
    await sleep(5_000);
    const counts = await stream.stop();
    report('one pod deleted with --grace-period=0', counts);
    assert.ok(counts.admitted > 0);
    assert.deepEqual(
      { denied: counts.denied, failed: counts.failed, timedOut: counts.timedOut },
      { denied: 0, failed: 0, timedOut: 0 },
      counts.errors.join('\n'),
    );
  });

  test('with every replica deleted at once and failurePolicy Fail, the Deployment comes back by itself', async () => {
    const stream = admissionStream(cluster, appNs, signed, RATE);
    ok(
      await cluster.kubectl([
        'delete',
        'pods',
        '-n',
        releaseNs,
        '-l',
        'app.kubernetes.io/name=portcullis',
        '--wait=false',
      ]),
      'delete every replica',
    );
    await sleep(2_000);
    await rolledOut();
    await sleep(5_000);
    const counts = await stream.stop();
    // Refusals while no replica answers are what failurePolicy Fail means; the point is the return.
    report('every replica deleted at once', counts);
    const created = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('after-outage', appNs, signed),
    });
    assert.equal(created.code, 0, created.stderr);
  });
});
