// `helm install charts/portcullis` on a real node, with only image and test values changed:
// three replicas on the chart's generated certificates behind their Service; unsigned images
// denied, cosign- and GPG-signed ones admitted and running; a private registry whose credentials
// the kubelet and the webhook both take from the pod and its ServiceAccount; ClusterImagePolicy
// changes in force in every replica, status and Events written by the Lease holder only.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { eventually } from '../harness.ts';
import { type NodeCluster, registryServer, writeRegistryHosts } from '../node.ts';
import { type BuiltImage, nodeCluster, portcullisImage } from './cluster.ts';
import {
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
  waitRunning,
} from './fixtures.ts';

const release = 'install';
const releaseNs = 'portcullis-install';
const deployment = `${release}-portcullis`;
const appNs = 'apps-install';
const PRIVATE_PORT = 5001;

interface PodInfo {
  metadata: { name: string };
  status: {
    podIP: string;
    conditions?: { type: string; status: string; lastTransitionTime: string }[];
    containerStatuses?: { restartCount: number; state: { running?: { startedAt: string } } }[];
  };
}

describe('helm install on a node', () => {
  let cluster: NodeCluster;
  let image: BuiltImage;
  let images: Images;
  let privateRegistry: string;
  // Where this file's part of the audit log begins (a shared cluster's log holds earlier files').
  let auditStart = 0;

  const webhookPods = async (): Promise<PodInfo[]> =>
    (
      JSON.parse(
        ok(
          await cluster.kubectl([
            'get',
            'pods',
            '-n',
            releaseNs,
            '-l',
            'app.kubernetes.io/name=portcullis',
            '--field-selector=status.phase=Running',
            '-o',
            'json',
          ]),
          'get webhook pods',
        ),
      ) as { items: PodInfo[] }
    ).items;

  const policy = (name: string, docker: Record<string, unknown>) => clusterImagePolicy(name, release, docker);

  before(async () => {
    cluster = await nodeCluster();
    auditStart = (await readFile(join(cluster.dir, 'audit.log'), 'utf8')).length;
    [image, images] = await Promise.all([portcullisImage(cluster), testImages(cluster)]);
    privateRegistry = `${cluster.nodeIp}:${PRIVATE_PORT}`;
    await cluster.startServer(
      await registryServer(
        'registry-private',
        join(cluster.dir, 'registry-private'),
        cluster.nodeIp,
        PRIVATE_PORT,
        `puller:${bcrypt.hashSync('pull-secret', 4)}\n`,
      ),
    );
    await writeRegistryHosts(cluster.dir, privateRegistry);
    await appNamespace(cluster, appNs, release);
    ok(await cluster.kubectl(['apply', '-f', join(chart, 'crds')]), 'CRDs');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: policy('e2e-install', {
          [`${cluster.registry}/gpg`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyData: images.gpgKeyData }],
          [`${cluster.registry}/cosign`]: cosignSigned(images),
          [`${privateRegistry}/cosign`]: cosignSigned(images),
        }),
      }),
      'ClusterImagePolicy',
    );
  });

  after(async () => {
    await cluster?.helm(['uninstall', release, '-n', releaseNs, '--wait', '--timeout=120s'], {
      timeoutMs: 150_000,
    });
    await cluster?.kubectl(['delete', 'clusterimagepolicies', '--all', '--wait=false']);
    await cluster?.kubectl(['delete', 'namespace', appNs, releaseNs, '--wait=false']);
    await images?.stop();
    await cluster?.stop();
  });

  test('three replicas become Ready on the generated certificates; the API server calls them through the Service', async () => {
    const installed = await helmInstall(
      cluster,
      release,
      releaseNs,
      testValues(cluster, image, images, release, [privateRegistry]),
      ['--wait', '--timeout=300s'],
    );
    ok(installed, 'helm install');
    ok(
      await cluster.kubectl(
        ['rollout', 'status', `deployment/${deployment}`, '-n', releaseNs, '--timeout=60s'],
        {
          timeoutMs: 70_000,
        },
      ),
      'rollout status',
    );
    const pods = await webhookPods();
    assert.equal(pods.length, 3);
    // The time from container start to Ready, as the kubelet saw it (seconds resolution).
    const startToReady = pods.map((pod) => {
      const started = Date.parse(pod.status.containerStatuses?.[0]?.state.running?.startedAt ?? '');
      const ready = Date.parse(
        pod.status.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '',
      );
      return (ready - started) / 1000;
    });
    process.stderr.write(
      `e2e: webhook container start to Ready: ${startToReady.join(' s, ')} s; image ${image.size}\n`,
    );

    const secret = JSON.parse(
      ok(
        await cluster.kubectl(['get', 'secret', `${deployment}-tls`, '-n', releaseNs, '-o', 'json']),
        'secret',
      ),
    ) as { data: Record<string, string> };
    const webhook = JSON.parse(
      ok(
        await cluster.kubectl(['get', 'validatingwebhookconfiguration', deployment, '-o', 'json']),
        'webhook',
      ),
    ) as { webhooks: { clientConfig: { caBundle: string; service: { name: string } } }[] };
    assert.equal(webhook.webhooks[0]?.clientConfig.caBundle, secret.data['ca.crt']);
    assert.equal(webhook.webhooks[0]?.clientConfig.service.name, deployment);
    const serving = new X509Certificate(Buffer.from(secret.data['tls.crt'] ?? '', 'base64'));
    assert.ok(
      serving.verify(new X509Certificate(Buffer.from(secret.data['ca.crt'] ?? '', 'base64')).publicKey),
    );

    const endpoints = ok(
      await cluster.kubectl([
        'get',
        'endpointslices',
        '-n',
        releaseNs,
        '-l',
        `kubernetes.io/service-name=${deployment}`,
        '-o',
        'jsonpath={.items[*].endpoints[*].addresses[0]}',
      ]),
      'endpoint slices',
    );
    assert.deepEqual(endpoints.split(' ').sort(), pods.map((p) => p.status.podIP).sort());
    const unsigned = await images.push('unsigned/app:v1');
    const denied = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('unsigned', appNs, unsigned),
    });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /admission webhook "validate\.portcullis\.dev" denied the request/);
  });

  test('unsigned denied with its reason; cosign- and GPG-signed pods admitted and Running; a Deployment creates its pods', async () => {
    const unsigned = await images.push('unsigned/other:v1');
    const denied = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('unsigned-2', appNs, unsigned),
    });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /denied the request: .*unsigned\/other.*spec\.containers\[0\]\.image/);

    const cosigned = await images.pushCosignSigned('cosign/app:v1');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], { input: podJson('cosigned', appNs, cosigned) }),
      'cosign pod',
    );
    const gpgSigned = await images.pushGpgSigned('gpg/app:v1');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], { input: podJson('gpg-signed', appNs, gpgSigned) }),
      'gpg pod',
    );
    await Promise.all([waitRunning(cluster, appNs, 'cosigned'), waitRunning(cluster, appNs, 'gpg-signed')]);

    ok(
      await cluster.kubectl([
        'create',
        'deployment',
        'signed',
        '-n',
        appNs,
        `--image=${cosigned}`,
        '--replicas=2',
      ]),
      'deployment',
    );
    ok(
      await cluster.kubectl(['rollout', 'status', 'deployment/signed', '-n', appNs, '--timeout=90s'], {
        timeoutMs: 100_000,
      }),
      'deployment rolled out',
    );
    const unsignedDeployment = await cluster.kubectl([
      'create',
      'deployment',
      'unsigned',
      '-n',
      appNs,
      `--image=${unsigned}`,
    ]);
    assert.match(unsignedDeployment.stderr, /denied the request/);
  });

  test("a private registry: the kubelet and the webhook use the pod's imagePullSecrets and its ServiceAccount's", async () => {
    const auth = Buffer.from('puller:pull-secret').toString('base64');
    const dockerConfig = join(images.work, 'docker');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [privateRegistry]: { auth } } }),
    );
    const privateImage = await images.pushCosignSigned('cosign/private:v1', privateRegistry, dockerConfig);
    ok(
      await cluster.kubectl([
        'create',
        'secret',
        'docker-registry',
        'private-pull',
        '-n',
        appNs,
        `--docker-server=${privateRegistry}`,
        '--docker-username=puller',
        '--docker-password=pull-secret',
      ]),
      'pull secret',
    );
    const anonymous = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('anonymous', appNs, privateImage),
    });
    assert.notEqual(anonymous.code, 0, 'without credentials the webhook cannot verify, and denies');
    assert.match(anonymous.stderr, /denied the request/);

    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: podJson('with-secret', appNs, privateImage, { imagePullSecrets: [{ name: 'private-pull' }] }),
      }),
      'pod with imagePullSecrets',
    );
    ok(await cluster.kubectl(['create', 'serviceaccount', 'puller', '-n', appNs]), 'service account');
    ok(
      await cluster.kubectl([
        'patch',
        'serviceaccount',
        'puller',
        '-n',
        appNs,
        '-p',
        '{"imagePullSecrets":[{"name":"private-pull"}]}',
      ]),
      'service account pull secret',
    );
    // The webhook's ServiceAccount cache sees the patch within moments; the first try may be early.
    await eventually('pod with the ServiceAccount admitted', async () => {
      const created = await cluster.kubectl(['apply', '-f', '-'], {
        input: podJson('with-service-account', appNs, privateImage, { serviceAccountName: 'puller' }),
      });
      return created.code === 0 ? true : undefined;
    });
    await Promise.all([
      waitRunning(cluster, appNs, 'with-secret'),
      waitRunning(cluster, appNs, 'with-service-account'),
    ]);
  });

  test('a ClusterImagePolicy change is in force in every replica; status and Events come from the Lease holder only', async () => {
    // Signed, so admitted by the first policy: only the new one refuses it.
    const blocked = await images.pushCosignSigned('cosign/blocked:v1');
    const pods = await webhookPods();
    assert.equal(pods.length, 3);
    for (const pod of pods) {
      const answer = await reviewInPod(cluster, pod.metadata.name, podJson('probe', appNs, blocked));
      assert.match(answer, /"allowed":true/, pod.metadata.name);
    }
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: policy('e2e-install-block', { [`${cluster.registry}/cosign/blocked`]: [{ type: 'reject' }] }),
      }),
      'blocking policy',
    );
    // Each replica, asked directly from inside its own container, refuses the image.
    for (const pod of pods) {
      await eventually(`${pod.metadata.name} enforces the new policy`, async () => {
        const answer = await reviewInPod(cluster, pod.metadata.name, podJson('probe', appNs, blocked));
        if (answer.includes('"allowed":false') && answer.includes('e2e-install-block')) return true;
        throw new Error(`answer: ${answer}`);
      });
    }

    const holder = await leaseHolder(cluster);
    const holderPod = pods.find((p) => p.metadata.name === holder);
    assert.ok(holderPod, `the Lease holder ${holder} is one of the replicas`);
    await eventually('status written', async () =>
      (await observedGeneration(cluster, 'e2e-install-block')) === '1' ? true : undefined,
    );
    const writers = await statusAndEventWriters(cluster, auditStart);
    assert.deepEqual(writers, [holderPod.status.podIP], 'only the Lease holder wrote status and Events');

    // The leader goes away: the Lease moves and status keeps being written.
    const auditMark = (await readFile(join(cluster.dir, 'audit.log'), 'utf8')).length;
    ok(
      await cluster.kubectl(['delete', 'pod', holder, '-n', releaseNs, '--wait=false']),
      'delete the leader',
    );
    const next = await eventually(
      'another replica holds the Lease',
      async () => {
        const now = await leaseHolder(cluster);
        return now !== holder && now !== '' ? now : undefined;
      },
      60_000,
      500,
    );
    ok(
      await cluster.kubectl([
        'patch',
        'clusterimagepolicy',
        'e2e-install-block',
        '--type=merge',
        '-p',
        `{"spec":{"transports":{"docker":{"${cluster.registry}/cosign/blocked":[{"type":"reject"}],"${cluster.registry}/cosign/also-blocked":[{"type":"reject"}]}}}}`,
      ]),
      'change the policy',
    );
    await eventually(
      'status written by the new leader',
      async () => ((await observedGeneration(cluster, 'e2e-install-block')) === '2' ? true : undefined),
      30_000,
    );
    const nextIp = (await webhookPods()).find((p) => p.metadata.name === next)?.status.podIP;
    assert.deepEqual(await statusAndEventWriters(cluster, auditMark), [nextIp]);
  });
});

/** POSTs an AdmissionReview for `pod` to the webhook in `podName`, from inside its container. */
async function reviewInPod(cluster: NodeCluster, podName: string, pod: string): Promise<string> {
  const review = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'e2e-probe',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: appNs,
      name: 'probe',
      operation: 'CREATE',
      object: JSON.parse(pod),
      userInfo: { username: 'e2e' },
    },
  });
  const script = [
    "const req = require('https').request({ host: '127.0.0.1', port: 8443, path: '/validate', method: 'POST',",
    "  rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {",
    "  let text = ''; res.on('data', (d) => { text += d; }); res.on('end', () => process.stdout.write(text)); });",
    'req.end(process.argv[1]);',
  ].join('\n');
  const result = await cluster.kubectl([
    'exec',
    podName,
    '-n',
    releaseNs,
    '--',
    'node',
    '-e',
    script,
    review,
  ]);
  return result.stdout;
}

async function leaseHolder(cluster: NodeCluster): Promise<string> {
  return (
    await cluster.kubectl([
      'get',
      'lease',
      'portcullis-controller',
      '-n',
      releaseNs,
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ])
  ).stdout;
}

async function observedGeneration(cluster: NodeCluster, name: string): Promise<string> {
  return (
    await cluster.kubectl(['get', 'clusterimagepolicy', name, '-o', 'jsonpath={.status.observedGeneration}'])
  ).stdout;
}

/** Source addresses of the webhook's status writes and Event creations in the audit log after `from`. */
async function statusAndEventWriters(cluster: NodeCluster, from: number): Promise<string[]> {
  const user = `system:serviceaccount:${releaseNs}:${release}-portcullis`;
  const text = (await readFile(join(cluster.dir, 'audit.log'), 'utf8')).slice(from);
  const sources = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const event = JSON.parse(line) as { user: { username: string }; sourceIPs: string[] };
    if (event.user.username === user) for (const ip of event.sourceIPs) sources.add(ip);
  }
  return [...sources].sort();
}
