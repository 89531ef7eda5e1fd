// `portcullis serve --watch-policies` (a child process on the host) behind the real kube-apiserver:
// ClusterImagePolicy and ImagePolicy objects decide admissions, a policy change takes effect
// within seconds, a warn policy becomes a kubectl warning, and a ServiceAccount's pull secret
// opens an htpasswd-protected registry for signature verification.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { CRD_FILES } from '../test/policy/crd/crd-files.ts';
import { type Cluster, type CommandResult, eventually, startCluster } from './harness.ts';
import {
  type Portcullis,
  podJson,
  type SignedRegistry,
  startPortcullis,
  startSignedRegistry,
} from './product/fixtures.ts';

const CONTROLLER_NS = 'portcullis-system';
const LABEL = 'e2e.portcullis.dev/crd';
const WEBHOOK = 'crd.e2e.portcullis.dev';
const USER = 'puller';
const PASSWORD = 'pull-secret-password';

describe('portcullis serve --watch-policies behind the real API server', () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let portcullis: Portcullis | undefined;
  let h: string;

  const kubectl = async (args: string[], input?: string): Promise<CommandResult> =>
    cluster.kubectl(args, input === undefined ? {} : { input });
  const must = async (args: string[], input?: string): Promise<string> => {
    const r = await kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const applyPolicy = (
    kind: 'ClusterImagePolicy' | 'ImagePolicy',
    name: string,
    spec: unknown,
    ns?: string,
  ) =>
    must(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'portcullis.dev/v1alpha1',
        kind,
        metadata: { name, ...(ns === undefined ? {} : { namespace: ns }) },
        spec,
      }),
    );
  const applyPod = (name: string, ns: string, images: string[], serviceAccount?: string) =>
    kubectl(['apply', '--dry-run=server', '-f', '-'], podJson(name, ns, images, serviceAccount));

  function denial(result: CommandResult): string | undefined {
    const marker = `admission webhook "${WEBHOOK}" denied the request: `;
    const at = result.stderr.indexOf(marker);
    return result.code !== 0 && at >= 0 ? result.stderr.slice(at + marker.length).trimEnd() : undefined;
  }

  before(async () => {
    [cluster, registry] = await Promise.all([
      startCluster(),
      startSignedRegistry({ users: { [USER]: PASSWORD } }),
    ]);
    h = registry.host;
    await registry.push('cosign/app:v1', 'cosign');
    await must(['apply', '-f', CRD_FILES.ClusterImagePolicy, '-f', CRD_FILES.ImagePolicy]);
    await must([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/clusterimagepolicies.portcullis.dev',
      'crd/imagepolicies.portcullis.dev',
    ]);
    await must(['create', 'namespace', CONTROLLER_NS]);
    for (const ns of ['team-a', 'team-b', 'team-c']) {
      await must(['create', 'namespace', ns]);
      await must(['label', 'namespace', ns, `${LABEL}=on`]);
    }
    portcullis = await startPortcullis(
      cluster,
      registry.work,
      [
        '--watch-policies',
        `--kubeconfig=${cluster.kubeconfig}`,
        `--registries.d=${registry.registriesD}`,
        `--registries-conf=${registry.registriesConf}`,
        '--timeout=5',
      ],
      { POD_NAMESPACE: CONTROLLER_NS, POD_NAME: 'portcullis-e2e-0' },
    );
    await cluster.registerWebhook({
      name: WEBHOOK,
      url: `${portcullis.url}/validate`,
      failurePolicy: 'Fail',
      timeoutSeconds: 8,
      namespaceLabels: { [LABEL]: 'on' },
      rules: [
        { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'] },
      ],
    });
  });

  after(async () => {
    await cluster?.stop();
    await portcullis?.stop();
    await registry?.stop();
  });

  test('a ClusterImagePolicy rejecting a registry scope denies a pod with the readable reason', async () => {
    await applyPolicy('ClusterImagePolicy', 'no-library', {
      default: [{ type: 'insecureAcceptAnything' }],
      transports: { docker: { 'docker.io/library': [{ type: 'reject' }] } },
    });
    const message = await eventually('the policy to deny', async () =>
      denial(await applyPod('nginx', 'team-b', ['nginx:1.27'])),
    );
    assert.equal(
      message,
      'image "nginx:1.27" at spec.containers[0].image is not trusted: ClusterImagePolicy/no-library: Running image docker://nginx:1.27 is rejected by policy.',
    );
  });

  test('changing the policy to insecureAcceptAnything admits the pod within a few seconds', async () => {
    await applyPolicy('ClusterImagePolicy', 'no-library', { default: [{ type: 'insecureAcceptAnything' }] });
    const started = Date.now();
    const admitted = await eventually(
      'the changed policy to admit',
      async () => {
        const r = await applyPod('nginx', 'team-b', ['nginx:1.27']);
        return r.code === 0 ? r : undefined;
      },
      10_000,
    );
    assert.match(admitted.stdout, /pod\/nginx created \(server dry run\)/);
    console.log(`# policy change to admission: ${Date.now() - started} ms`);
  });

  test('a warn ImagePolicy admits in its namespace with the reason as a kubectl warning', async () => {
    await applyPolicy(
      'ImagePolicy',
      'warn-library',
      {
        mode: 'warn',
        default: [{ type: 'insecureAcceptAnything' }],
        transports: { docker: { 'docker.io/library': [{ type: 'reject' }] } },
      },
      'team-a',
    );
    const warned = await eventually('the warning', async () => {
      const r = await kubectl(['apply', '-f', '-'], podJson('redis', 'team-a', ['redis:7']));
      return r.code === 0 && r.stderr.includes('Warning: ') ? r : undefined;
    });
    assert.match(warned.stdout, /pod\/redis created/);
    assert.match(
      warned.stderr,
      /Warning: portcullis: image "redis:7" at spec\.containers\[0\]\.image is not trusted: ImagePolicy\/team-a\/warn-library: Running image docker:\/\/redis:7 is rejected by policy\./,
    );
    const elsewhere = await kubectl(['apply', '-f', '-'], podJson('redis', 'team-b', ['redis:7']));
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.doesNotMatch(elsewhere.stderr, /Warning/);
  });

  test("a ServiceAccount's imagePullSecret is used to verify a signed image on a protected registry", async () => {
    await must([
      'create',
      'secret',
      'docker-registry',
      'regcred',
      '-n',
      'team-c',
      `--docker-server=${h}`,
      `--docker-username=${USER}`,
      `--docker-password=${PASSWORD}`,
    ]);
    // No controller-manager here: the ServiceAccount is created by hand.
    await must(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'builder', namespace: 'team-c' },
        imagePullSecrets: [{ name: 'regcred' }],
      }),
    );
    await must(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'plain', namespace: 'team-c' },
      }),
    );
    const key = (await readFile(registry.cosignKeyPath)).toString('base64');
    await applyPolicy(
      'ImagePolicy',
      'signed-only',
      {
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${h}/cosign`]: [
              { type: 'sigstoreSigned', keyData: key, signedIdentity: { type: 'matchRepository' } },
            ],
          },
        },
      },
      'team-c',
    );
    const image = `${h}/cosign/app:v1`;
    const admitted = await eventually('the signed image to be admitted', async () => {
      const r = await applyPod('signed', 'team-c', [image], 'builder');
      return r.code === 0 ? r : undefined;
    });
    assert.match(admitted.stdout, /pod\/signed created \(server dry run\)/);
    // Without the secret the registry refuses, and the image cannot be verified.
    const refused = denial(await applyPod('anonymous', 'team-c', [image], 'plain'));
    assert.ok(refused !== undefined, 'expected a denial without credentials');
    assert.match(
      refused,
      new RegExp(`image "${image}" at spec\\.containers\\[0\\]\\.image could not be verified: .*401`),
    );
  });
});
