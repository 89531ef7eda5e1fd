// A release over its life on a real node: an image the kubelet cannot pull fails the pod and not
// the webhook; `helm upgrade` from enforce to warn takes effect without a denied admission; `helm
// uninstall` runs the pre-delete hook Job and leaves no webhook configuration behind. And bad
// input: a value that makes the webhook refuse to start fails `kubectl rollout status`, with the
// container's own message in the pod's status, and nothing is admitted meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../harness.ts';
import type { NodeCluster } from '../node.ts';
import { type BuiltImage, nodeCluster, portcullisImage } from './cluster.ts';
import {
  admissionsDuring,
  appNamespace,
  cosignSigned,
  helmInstall,
  type Images,
  ok,
  podJson,
  replacedPodsGone,
  testImages,
  testValues,
  waitRunning,
} from './fixtures.ts';

const release = 'life';
const releaseNs = 'portcullis-life';
const deployment = `${release}-portcullis`;
const appNs = 'apps-life';

describe('a release over its life', () => {
  let cluster: NodeCluster;
  let image: BuiltImage;
  let images: Images;
  let signed: string;
  let unsigned: string;

  const values = (mode: 'enforce' | 'warn') => {
    const base = testValues(cluster, image, images, release);
    return {
      ...base,
      webhook: { ...(base.webhook as object), mode },
      policy: {
        crds: false,
        json: JSON.stringify({
          default: [{ type: 'reject' }],
          transports: {
            docker: {
              [`${cluster.registry}/cosign`]: cosignSigned(images),
            },
          },
        }),
      },
    };
  };

  const webhookPods = async () =>
    JSON.parse(
      ok(
        await cluster.kubectl([
          'get',
          'pods',
          '-n',
          releaseNs,
          '-l',
          'app.kubernetes.io/name=portcullis',
          '-o',
          'json',
        ]),
        'webhook pods',
      ),
    ) as {
      items: {
        status: {
          conditions?: { type: string; status: string }[];
          containerStatuses?: {
            restartCount: number;
            lastState?: { terminated?: { message?: string } };
            state?: { terminated?: { message?: string } };
          }[];
        };
      }[];
    };

  before(async () => {
    cluster = await nodeCluster();
    [image, images] = await Promise.all([portcullisImage(cluster), testImages(cluster)]);
    await appNamespace(cluster, appNs, release);
    ok(
      await helmInstall(cluster, release, releaseNs, values('enforce'), ['--wait', '--timeout=300s']),
      'install',
    );
    [signed, unsigned] = await Promise.all([
      images.pushCosignSigned('cosign/life:v1'),
      images.push('unsigned/life:v1'),
    ]);
  });

  after(async () => {
    await cluster?.helm(['uninstall', release, '-n', releaseNs, '--wait', '--timeout=120s'], {
      timeoutMs: 150_000,
    });
    await cluster?.helm(['uninstall', 'broken', '-n', 'portcullis-broken', '--no-hooks', '--timeout=60s']);
    await cluster?.kubectl([
      'delete',
      'namespace',
      appNs,
      releaseNs,
      'portcullis-broken',
      'apps-broken',
      '--wait=false',
    ]);
    await images?.stop();
    await cluster?.stop();
  });

  test('an image the kubelet cannot pull fails the pod, not the webhook', async () => {
    // Signed, so admitted; then its config is deleted from the registry, so no pull can succeed
    // (its one layer is the pause image's, which the node has already).
    const broken = await images.pushCosignSigned('cosign/unpullable:v1');
    const [repository, digest] = broken.split('@') as [string, string];
    const blobs = `http://${repository.replace('/', '/v2/')}/blobs`;
    const manifest = (await (
      await fetch(`http://${repository.replace('/', '/v2/')}/manifests/${digest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { config: { digest: string } };
    assert.equal((await fetch(`${blobs}/${manifest.config.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${blobs}/${manifest.config.digest}`, { method: 'HEAD' })).status, 404);
    ok(
      await cluster.kubectl(['apply', '-f', '-'], { input: podJson('unpullable', appNs, broken) }),
      'admitted',
    );
    await eventually(
      'the pod reports the failed pull',
      async () => {
        const reason = await cluster.kubectl([
          'get',
          'pod',
          'unpullable',
          '-n',
          appNs,
          '-o',
          'jsonpath={.status.containerStatuses[0].state.waiting.reason}',
        ]);
        if (/ErrImagePull|ImagePullBackOff/.test(reason.stdout)) return true;
        throw new Error(
          `pod status: ${(await cluster.kubectl(['get', 'pod', 'unpullable', '-n', appNs, '-o', 'jsonpath={.status}'])).stdout}`,
        );
      },
      60_000,
      500,
    );
    for (const pod of (await webhookPods()).items) {
      assert.equal(pod.status.containerStatuses?.[0]?.restartCount, 0);
      assert.equal(pod.status.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    }
    ok(
      await cluster.kubectl(['apply', '-f', '-'], { input: podJson('pullable', appNs, signed) }),
      'next pod',
    );
    await waitRunning(cluster, appNs, 'pullable');
  });

  test('helm upgrade from enforce to warn takes effect without a denied admission', async () => {
    const denied = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('unsigned-enforce', appNs, unsigned),
    });
    assert.match(denied.stderr, /denied the request/);
    const counts = await admissionsDuring(
      cluster,
      appNs,
      signed,
      20,
      async () => {
        ok(
          await helmInstall(cluster, release, releaseNs, values('warn'), ['--wait', '--timeout=300s']),
          'upgrade',
        );
      },
      { leadMs: 2_000, trailMs: 3_000 },
    );
    process.stderr.write(
      `e2e: helm upgrade to warn: ${counts.sent} sent, ${counts.admitted} admitted, ${counts.denied} denied, ` +
        `${counts.failed} failed, ${counts.timedOut} timed out\n`,
    );
    assert.equal(counts.denied, 0, counts.errors.join('\n'));
    // In force everywhere once the replaced replicas, which still answer in enforce mode on the
    // connections the API server kept to them, have exited.
    await replacedPodsGone(cluster, releaseNs);
    const warned = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('unsigned-warn', appNs, unsigned),
    });
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /Warning: .*unsigned\/life/);
  });

  test('helm uninstall runs the pre-delete hook Job and leaves no webhook configuration behind', async () => {
    // Back to enforce, so that a webhook configuration left behind would deny the pod below.
    ok(
      await helmInstall(cluster, release, releaseNs, values('enforce'), ['--wait', '--timeout=300s']),
      'enforce',
    );
    const uninstalled = await cluster.helm(
      ['uninstall', release, '-n', releaseNs, '--wait', '--timeout=180s'],
      {
        timeoutMs: 200_000,
      },
    );
    ok(uninstalled, 'helm uninstall');
    const events = ok(
      await cluster.kubectl([
        'get',
        'events',
        '-n',
        releaseNs,
        '--field-selector',
        `involvedObject.kind=Job,involvedObject.name=${deployment}-cleanup`,
        '-o',
        'jsonpath={.items[*].reason}',
      ]),
      'hook job events',
    );
    assert.match(events, /Completed/, `the hook Job ran to completion (events: ${events})`);
    const left = ok(
      await cluster.kubectl([
        'get',
        'validatingwebhookconfigurations,mutatingwebhookconfigurations',
        '-o',
        'name',
      ]),
      'webhook configurations',
    );
    assert.doesNotMatch(left, new RegExp(deployment));
    ok(
      await cluster.kubectl(['apply', '-f', '-'], { input: podJson('after-uninstall', appNs, unsigned) }),
      'pod',
    );
  });

  test("a value that keeps the webhook from starting fails rollout status with the container's message; nothing is admitted", async () => {
    await appNamespace(cluster, 'apps-broken', 'broken');
    const brokenValues = {
      ...testValues(cluster, image, images, 'broken'),
      policy: { crds: false, json: JSON.stringify({ default: [{ type: 'notARequirement' }] }) },
    };
    ok(await helmInstall(cluster, 'broken', 'portcullis-broken', brokenValues), 'helm install');
    const rollout = await cluster.kubectl(
      ['rollout', 'status', 'deployment/broken-portcullis', '-n', 'portcullis-broken', '--timeout=45s'],
      { timeoutMs: 60_000 },
    );
    assert.notEqual(rollout.code, 0, 'rollout status fails');
    const message = await eventually(
      "the container's message in the pod status",
      async () => {
        const pods = JSON.parse(
          ok(await cluster.kubectl(['get', 'pods', '-n', 'portcullis-broken', '-o', 'json']), 'broken pods'),
        ) as Awaited<ReturnType<typeof webhookPods>>;
        const status = pods.items[0]?.status.containerStatuses?.[0];
        return status?.lastState?.terminated?.message ?? status?.state?.terminated?.message;
      },
      60_000,
      1_000,
    );
    assert.match(message, /notARequirement/);
    const refused = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('meanwhile', 'apps-broken', signed),
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /failed calling webhook "validate\.portcullis\.dev"/);
  });
});
