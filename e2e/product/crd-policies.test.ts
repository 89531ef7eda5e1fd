// `serve --watch-policies` behind the real API server, beside e2e/serve-crd.test.ts (policy
// changes, warn ImagePolicy, ServiceAccount pull secrets) and e2e/crd.test.ts (validation): a
// GPG key by Secret reference verifying signatures, an anonymous pod refused where its pull secret
// is missing, the pod's own imagePullSecrets, and an ImagePolicy ANDed with a ClusterImagePolicy.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cluster, type CommandResult, eventually, startCluster } from '../harness.ts';
import {
  ok,
  type Portcullis,
  podJson,
  repoRoot,
  type SignedRegistry,
  startPortcullis,
  startSignedRegistry,
} from './fixtures.ts';

const WEBHOOK = 'crd.e2e.portcullis.dev';
const NS = 'team';
const USER = 'puller';
const PASSWORD = 'e2e-secret-password';

describe('serve --watch-policies: key by Secret reference, missing and pod pull secrets, ImagePolicy AND', () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let portcullis: Portcullis;
  let h: string;
  let gpgKeyData: string;

  const apply = (input: string, ...flags: string[]): Promise<CommandResult> =>
    cluster.kubectl(['apply', ...flags, '-f', '-'], { input });

  /** A ClusterImagePolicy for namespaces labelled trust=on: `requirement` for the team repositories. */
  const clusterPolicy = (requirement: object) =>
    JSON.stringify({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'team-images' },
      spec: {
        namespaceSelector: { matchLabels: { trust: 'on' } },
        default: [{ type: 'reject' }],
        transports: { docker: { [`${h}/team`]: [requirement] } },
      },
    });
  // The key by reference: a ClusterImagePolicy's references are read in the webhook's namespace.
  const signedBy = () => ({
    type: 'signedBy',
    keyType: 'GPGKeys',
    keySecretRef: { name: 'signer', key: 'key.gpg' },
  });

  /** A pod of the `puller` ServiceAccount (whose pull secret holds the registry password). */
  const pod = (name: string, image: string, serviceAccount: string | undefined = 'builder') =>
    podJson(name, NS, [image], serviceAccount);

  before(async () => {
    [cluster, registry] = await Promise.all([
      startCluster(),
      startSignedRegistry({ users: { [USER]: PASSWORD } }),
    ]);
    h = registry.host;
    gpgKeyData = (await readFile(registry.gpgKeyPath)).toString('base64');
    await Promise.all([registry.push('team/app:v1', 'gpg'), registry.push('team/unsigned:v1', 'none')]);
    ok(await cluster.kubectl(['apply', '-f', join(repoRoot, 'charts', 'portcullis', 'crds')]), 'CRDs');
    ok(
      await cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']),
      'CRDs established',
    );
    for (const ns of ['portcullis-system', NS]) ok(await cluster.kubectl(['create', 'namespace', ns]), ns);
    ok(await cluster.kubectl(['label', 'namespace', NS, 'trust=on']), 'label');
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    ok(
      await apply(
        [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'regcred', namespace: NS },
            type: 'kubernetes.io/dockerconfigjson',
            data: {
              '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [h]: { auth } } })).toString(
                'base64',
              ),
            },
          },
          {
            apiVersion: 'v1',
            kind: 'ServiceAccount',
            metadata: { name: 'builder', namespace: NS },
            imagePullSecrets: [{ name: 'regcred' }],
          },
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'anonymous', namespace: NS } },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'signer', namespace: 'portcullis-system' },
            data: { 'key.gpg': gpgKeyData },
          },
        ]
          .map((o) => JSON.stringify(o))
          .join('\n'),
      ),
      'pull secret and ServiceAccounts',
    );
    ok(await apply(clusterPolicy(signedBy())), 'ClusterImagePolicy');
    portcullis = await startPortcullis(
      cluster,
      registry.work,
      [
        '--watch-policies',
        `--kubeconfig=${cluster.kubeconfig}`,
        `--registries.d=${registry.registriesD}`,
        `--registries-conf=${registry.registriesConf}`,
        '--timeout=4',
      ],
      { POD_NAMESPACE: 'portcullis-system', POD_NAME: 'portcullis-e2e-0' },
    );
    await cluster.registerWebhook({
      name: WEBHOOK,
      url: `${portcullis.url}/validate`,
      timeoutSeconds: 8,
      namespaceLabels: { trust: 'on' },
    });
    await eventually('the webhook bites', async () => {
      const probe = await apply(pod('probe', `${h}/team/unsigned:v1`), '--dry-run=server');
      return probe.stderr.includes(`admission webhook "${WEBHOOK}"`) ? true : undefined;
    });
  });

  after(async () => {
    await cluster?.stop();
    await portcullis?.stop();
    await registry?.stop();
  });

  test('a ClusterImagePolicy applied with kubectl denies an unsigned image and admits a signed one', async () => {
    const denied = await apply(pod('unsigned', `${h}/team/unsigned:v1`));
    assert.notEqual(denied.code, 0);
    assert.match(
      denied.stderr,
      new RegExp(
        `admission webhook "${WEBHOOK}" denied the request: image "${h}/team/unsigned:v1" at spec\\.containers\\[0\\]\\.image is not trusted: .*A signature was required, but no signature exists`,
      ),
    );
    const admitted = await apply(pod('signed', `${h}/team/app:v1`));
    assert.equal(admitted.code, 0, admitted.stderr);
  });

  test('without a pull secret the image on a password-protected registry cannot be verified', async () => {
    // Without it the registry refuses the tag lookup: the image cannot be verified, so it is denied.
    const anonymous = await apply(pod('anonymous', `${h}/team/app:v1`, 'anonymous'));
    assert.notEqual(anonymous.code, 0);
    assert.match(
      anonymous.stderr,
      new RegExp(`image "${h}/team/app:v1" at spec\\.containers\\[0\\]\\.image could not be verified`),
    );
    const withSecret = await apply(pod('with-secret', `${h}/team/app:v1`));
    assert.equal(withSecret.code, 0, withSecret.stderr);
  });

  test("the pod's own imagePullSecrets are used as well", async () => {
    const result = await apply(podJson('own-secret', NS, [`${h}/team/app:v1`], 'anonymous', ['regcred']));
    assert.equal(result.code, 0, result.stderr);
  });

  test('an ImagePolicy in the namespace must admit too, and its deletion is in force at once', async () => {
    const imagePolicy = JSON.stringify({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'ImagePolicy',
      metadata: { name: 'frozen', namespace: NS },
      spec: { default: [{ type: 'reject' }] },
    });
    ok(await apply(imagePolicy), 'ImagePolicy');
    const denied = await eventually('the ImagePolicy is in force', async () => {
      const result = await apply(pod('frozen', `${h}/team/app:v1`), '--dry-run=server');
      return result.code !== 0 ? result : undefined;
    });
    assert.match(
      denied.stderr,
      new RegExp(
        `image "${h}/team/app:v1" at spec\\.containers\\[0\\]\\.image is not trusted: ImagePolicy/${NS}/frozen: .*rejected by policy`,
      ),
    );
    ok(await cluster.kubectl(['delete', 'imagepolicy', 'frozen', '-n', NS]), 'delete the ImagePolicy');
    await eventually('the ImagePolicy is gone', async () => {
      const result = await apply(pod('thawed', `${h}/team/app:v1`), '--dry-run=server');
      return result.code === 0 ? result : undefined;
    });
  });
});
