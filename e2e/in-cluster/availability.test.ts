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
  admissionsDuring,
  appNamespace,
  chart,
  clusterImagePolicy,
  cosignSigned,
  helmInstall,
  type Images,
  ok,
  podJson,
  replacedPodsGone,
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

  const replacedGone = () => replacedPodsGone(cluster, releaseNs);

  const assertNoneFailed = (counts: AdmissionCounts) => {
    assert.ok(counts.admitted > 0);
    assert.deepEqual(
      { denied: counts.denied, failed: counts.failed, timedOut: counts.timedOut },
      { denied: 0, failed: 0, timedOut: 0 },
      counts.errors.join('\n'),
    );
  };

  // Counted until every replaced pod has exited, so the end of each drain is inside the count.
  test('no admission fails or times out while kubectl rollout restart replaces every replica', async () => {
    const counts = await admissionsDuring(cluster, appNs, signed, RATE, async () => {
      ok(
        await cluster.kubectl(['rollout', 'restart', `deployment/${deployment}`, '-n', releaseNs]),
        'rollout restart',
      );
      await rolledOut();
      await replacedGone();
    });
    report('rollout restart', counts);
    assertNoneFailed(counts);
  });

  test('no admission fails or times out while one replica is deleted with --grace-period=0', async () => {
    await replacedGone();
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
    const counts = await admissionsDuring(cluster, appNs, signed, RATE, async () => {
      ok(
        await cluster.kubectl(['delete', 'pod', pod, '-n', releaseNs, '--grace-period=0', '--force']),
        'delete --grace-period=0',
      );
      await sleep(2_000);
      await rolledOut();
      await replacedGone();
    });
    report('one pod deleted with --grace-period=0', counts);
    assertNoneFailed(counts);
  });

  test('with every replica deleted at once and failurePolicy Fail, the Deployment comes back by itself', async () => {
    const counts = await admissionsDuring(
      cluster,
      appNs,
      signed,
      RATE,
      async () => {
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
      },
      { leadMs: 0 },
    );
    // Refusals while no replica answers are what failurePolicy Fail means; the point is the return.
    report('every replica deleted at once', counts);
    const created = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('after-outage', appNs, signed),
    });
    assert.equal(created.code, 0, created.stderr);
  });
});
