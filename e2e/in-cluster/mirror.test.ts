// The chart's mirror CronJob run as a real Job (`kubectl create job --from=cronjob/...`): it copies
// a cosign-signed image with its signature into the mirror; a pod using the mirror admitted on that
// signature is todo (see below).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NodeCluster } from '../node.ts';
import { type BuiltImage, nodeCluster, portcullisImage } from './cluster.ts';
import {
  appNamespace,
  chart,
  clusterImagePolicy,
  helmInstall,
  type Images,
  ok,
  podJson,
  testImages,
  testValues,
  waitRunning,
} from './fixtures.ts';

const release = 'mirror';
const releaseNs = 'portcullis-mirror';
const appNs = 'apps-mirror';

describe('the mirror CronJob on a node', () => {
  let cluster: NodeCluster;
  let image: BuiltImage;
  let images: Images;
  let mirroredDigest = '';

  before(async () => {
    cluster = await nodeCluster();
    [image, images] = await Promise.all([portcullisImage(cluster), testImages(cluster)]);
    await appNamespace(cluster, appNs, release);
    ok(await cluster.kubectl(['apply', '-f', `${chart}/crds`]), 'CRDs');
  });

  after(async () => {
    await cluster?.helm(['uninstall', release, '-n', releaseNs, '--wait', '--timeout=120s'], {
      timeoutMs: 150_000,
    });
    await cluster?.kubectl(['delete', 'clusterimagepolicy', 'e2e-mirror', '--wait=false']);
    await cluster?.kubectl(['delete', 'namespace', appNs, releaseNs, '--wait=false']);
    await images?.stop();
    await cluster?.stop();
  });

  test('a Job created from the CronJob mirrors a signed image with its signature', async () => {
    const origin = await images.pushCosignSigned('cosign/mirrored:v1');
    const digest = origin.slice(origin.indexOf('@') + 1);
    const values = {
      ...testValues(cluster, image, images, release),
      mirror: {
        enabled: true,
        destination: `${cluster.registry}/mirror`,
        images: `${cluster.registry}:\n  images:\n    cosign/mirrored:\n      - v1\n  tls-verify: false\n`,
        destTLSVerify: false,
        signatures: 'carry',
      },
    };
    ok(await helmInstall(cluster, release, releaseNs, values, ['--wait', '--timeout=300s']), 'helm install');
    ok(
      await cluster.kubectl([
        'create',
        'job',
        'mirror-now',
        '-n',
        releaseNs,
        '--from=cronjob/mirror-portcullis-mirror',
      ]),
      'create job',
    );
    const waited = await cluster.kubectl(
      ['wait', '--for=condition=Complete', 'job/mirror-now', '-n', releaseNs, '--timeout=180s'],
      { timeoutMs: 190_000 },
    );
    const logs = await cluster.kubectl(['logs', 'job/mirror-now', '-n', releaseNs]);
    assert.equal(waited.code, 0, `${waited.stderr}\n${logs.stdout}${logs.stderr}`);
    // sync without --scoped keeps the last path component: <destination>/mirrored.
    const tags = (await (await fetch(`http://${cluster.registry}/v2/mirror/mirrored/tags/list`)).json()) as {
      tags: string[];
    };
    assert.ok(tags.tags.includes('v1'), tags.tags.join(' '));
    assert.ok(
      tags.tags.includes(`${digest.replace(':', '-')}.sig`),
      `the signature came along: ${tags.tags.join(' ')}`,
    );

    mirroredDigest = digest;
  });

  // The cosign binary (and skopeo 1.9's sigstore signing) name the repository without a tag.
  // remapIdentity compares like matchRepoDigestOrExact and refuses such an identity, as upstream
  // containers/image does; exactRepository naming the origin should accept it (upstream compares
  // the repository name only) but is refused today (measured 2026-12-06), to be looked at in
  // src/image/signature. Proving remapIdentity needs a signature that names the tag: GPG through a
  // lookaside the mirror Job can write (a PersistentVolumeClaim), not set up here.
  test('a pod using the mirror is admitted on the carried signature', {
    todo: 'exactRepository refuses a cosign identity; remapIdentity needs tag-naming signatures',
  }, async () => {
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: clusterImagePolicy('e2e-mirror', release, {
          [`${cluster.registry}/mirror`]: [
            {
              type: 'sigstoreSigned',
              keyData: images.cosignKeyData,
              signedIdentity: {
                type: 'exactRepository',
                dockerRepository: `${cluster.registry}/cosign/mirrored`,
              },
            },
          ],
        }),
      }),
      'ClusterImagePolicy',
    );
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: podJson('from-mirror', appNs, `${cluster.registry}/mirror/mirrored@${mirroredDigest}`),
      }),
      'mirror pod',
    );
    await waitRunning(cluster, appNs, 'from-mirror');
  });
});
