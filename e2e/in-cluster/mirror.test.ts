// The chart's mirror CronJob run as a real Job (`kubectl create job --from=cronjob/...`): it copies
// cosign-signed images with their signatures into the mirror, and pods using the mirror are
// judged on the carried signatures as containers/image judges them: remapIdentity (the
// matchRepoDigestOrExact rule after the prefix is rewritten) admits a signature that names the
// origin's tag, by tag and by digest, and refuses one that names the repository only (cosign's
// default); exactRepository naming the origin admits the latter. A release uninstalled and
// installed again into its namespace adopts the report ConfigMap the chart kept.
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
const reportConfigMap = `${release}-portcullis-mirror-report`;

describe('the mirror CronJob on a node', () => {
  let cluster: NodeCluster;
  let image: BuiltImage;
  let images: Images;
  let values: Record<string, unknown>;
  /** origin repo@digest per mirrored repository name */
  const origins: Record<'remapped' | 'name-only' | 'by-repo', string> = {
    remapped: '',
    'name-only': '',
    'by-repo': '',
  };
  const mirrored = (name: keyof typeof origins, by: 'tag' | 'digest') => {
    const origin = origins[name];
    return `${cluster.registry}/mirror/${name}${by === 'tag' ? ':v1' : origin.slice(origin.indexOf('@'))}`;
  };
  /** `kubectl apply --dry-run=server` of a pod: the webhook's answer without running it. */
  const admission = (name: string, podImage: string) =>
    cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: podJson(name, appNs, podImage) });

  before(async () => {
    cluster = await nodeCluster();
    [image, images] = await Promise.all([portcullisImage(cluster), testImages(cluster)]);
    await appNamespace(cluster, appNs, release);
    ok(await cluster.kubectl(['apply', '-f', `${chart}/crds`]), 'CRDs');
    // Signed at the origin: one signature naming the tag (cosign --sign-container-identity), two
    // naming the repository only, as cosign and skopeo do by default.
    origins.remapped = await images.pushCosignSigned(
      'cosign/remapped:v1',
      undefined,
      undefined,
      `${cluster.registry}/cosign/remapped:v1`,
    );
    origins['name-only'] = await images.pushCosignSigned('cosign/name-only:v1');
    origins['by-repo'] = await images.pushCosignSigned('cosign/by-repo:v1');
    // In every replica's first sync, so in force as soon as the release is Ready.
    const cosign = { type: 'sigstoreSigned', keyData: images.cosignKeyData };
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: clusterImagePolicy('e2e-mirror', release, {
          [`${cluster.registry}/mirror`]: [
            {
              ...cosign,
              signedIdentity: {
                type: 'remapIdentity',
                prefix: `${cluster.registry}/mirror`,
                signedPrefix: `${cluster.registry}/cosign`,
              },
            },
          ],
          [`${cluster.registry}/mirror/by-repo`]: [
            {
              ...cosign,
              signedIdentity: {
                type: 'exactRepository',
                dockerRepository: `${cluster.registry}/cosign/by-repo`,
              },
            },
          ],
        }),
      }),
      'ClusterImagePolicy',
    );
    values = {
      ...testValues(cluster, image, images, release),
      mirror: {
        enabled: true,
        destination: `${cluster.registry}/mirror`,
        images: `${cluster.registry}:\n  images:\n${Object.keys(origins)
          .map((name) => `    cosign/${name}:\n      - v1\n`)
          .join('')}  tls-verify: false\n`,
        destTLSVerify: false,
        signatures: 'carry',
      },
    };
    ok(await helmInstall(cluster, release, releaseNs, values, ['--wait', '--timeout=300s']), 'helm install');
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

  test('a Job created from the CronJob mirrors signed images with their signatures', async () => {
    // Nothing is in the mirror yet: its pods are refused.
    const before = await admission('before-sync', mirrored('remapped', 'tag'));
    assert.notEqual(before.code, 0, before.stdout);
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
    // sync without --scoped keeps the last path component: <destination>/<name>.
    for (const [name, origin] of Object.entries(origins)) {
      const tags = (
        (await (await fetch(`http://${cluster.registry}/v2/mirror/${name}/tags/list`)).json()) as {
          tags: string[];
        }
      ).tags;
      const digest = origin.slice(origin.indexOf('@') + 1);
      assert.ok(tags.includes('v1'), `${name}: ${tags.join(' ')}`);
      assert.ok(
        tags.includes(`${digest.replace(':', '-')}.sig`),
        `${name}: the signature came along: ${tags}`,
      );
    }
  });

  test('remapIdentity admits the mirror by tag and by digest on a signature naming the origin tag', async () => {
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: podJson('remapped-by-tag', appNs, mirrored('remapped', 'tag')),
      }),
      'pod by tag',
    );
    await waitRunning(cluster, appNs, 'remapped-by-tag');
    ok(await admission('remapped-by-digest', mirrored('remapped', 'digest')), 'pod by digest');
  });

  // containers/image refuses a signature whose identity has no tag or digest under
  // matchRepoDigestOrExact (and so under remapIdentity), whatever the pod names: a mirror of
  // cosign's default signatures needs exactRepository (below) or signatures naming the tag.
  test('remapIdentity refuses a signature naming the repository only, by tag and by digest', async () => {
    for (const by of ['tag', 'digest'] as const) {
      const refused = await admission(`name-only-by-${by}`, mirrored('name-only', by));
      assert.notEqual(refused.code, 0, `by ${by}: ${refused.stdout}`);
      assert.match(refused.stderr, /denied the request/);
      assert.match(refused.stderr, /is not accepted/, `by ${by}`);
    }
  });

  test('exactRepository naming the origin admits the mirror on a repository-only signature', async () => {
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: podJson('by-repo', appNs, mirrored('by-repo', 'tag')),
      }),
      'pod by tag',
    );
    await waitRunning(cluster, appNs, 'by-repo');
    ok(await admission('by-repo-by-digest', mirrored('by-repo', 'digest')), 'pod by digest');
  });

  test('uninstalled and installed again into its namespace, the release adopts the kept report ConfigMap', async () => {
    ok(
      await cluster.helm(['uninstall', release, '-n', releaseNs, '--wait', '--timeout=120s'], {
        timeoutMs: 150_000,
      }),
      'helm uninstall',
    );
    // Kept by the chart (helm.sh/resource-policy: keep) with what the Job wrote into it.
    const kept = ok(
      await cluster.kubectl(['get', 'configmap', reportConfigMap, '-n', releaseNs, '-o', 'jsonpath={.data}']),
      'kept report',
    );
    assert.match(kept, /summary\.json/);
    ok(
      await helmInstall(cluster, release, releaseNs, values, ['--wait', '--timeout=300s']),
      'helm install again',
    );
    const labels = JSON.parse(
      ok(
        await cluster.kubectl([
          'get',
          'configmap',
          reportConfigMap,
          '-n',
          releaseNs,
          '-o',
          'jsonpath={.metadata.labels}',
        ]),
        'labels',
      ),
    ) as Record<string, string>;
    assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm');
  });
});
