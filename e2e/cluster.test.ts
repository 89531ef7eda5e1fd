// Proves the harness against the real API server: apply, CRD validation, server-side dry run,
// and admission webhooks on the host reached by `url:` over TLS, including a dead endpoint.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cluster, type CommandResult, eventually, startCluster } from './harness.ts';

const namespace = 'e2e-harness';
const webhookNamespace = 'e2e-webhooks';

function pod(name: string, image: string, ns = namespace): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: { containers: [{ name: 'main', image }] },
  });
}

const widgetCrd = JSON.stringify({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.e2e.portcullis.dev' },
  spec: {
    group: 'e2e.portcullis.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: {
                  minReplicas: { type: 'integer' },
                  maxReplicas: { type: 'integer' },
                },
                'x-kubernetes-validations': [
                  {
                    rule: 'self.minReplicas <= self.maxReplicas',
                    message: 'minReplicas must not exceed maxReplicas',
                    fieldPath: '.maxReplicas',
                  },
                ],
              },
            },
          },
        },
      },
    ],
  },
});

function widget(name: string, minReplicas: number, maxReplicas: number): string {
  return JSON.stringify({
    apiVersion: 'e2e.portcullis.dev/v1',
    kind: 'Widget',
    metadata: { name, namespace },
    spec: { minReplicas, maxReplicas },
  });
}

// Nothing listens on port 1 of the loopback: the API server's call is refused at once.
function registerDeadWebhook(cluster: Cluster, failurePolicy: 'Fail' | 'Ignore'): Promise<void> {
  return cluster.registerWebhook({
    name: 'dead.e2e.portcullis.dev',
    url: 'https://127.0.0.1:1/validate',
    failurePolicy,
    timeoutSeconds: 2,
    namespaceLabels: { 'e2e.portcullis.dev/webhook': 'on' },
  });
}

/** The server-side dry run of a pod if it was admitted, or refused by the dead webhook, as wanted. */
async function dryRunPod(
  cluster: Cluster,
  name: string,
  admitted: boolean,
): Promise<CommandResult | undefined> {
  const result = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
    input: pod(name, 'registry.example/signed:1', webhookNamespace),
  });
  const outcome = admitted
    ? result.code === 0
    : result.code !== 0 && /failed calling webhook "dead\.e2e\.portcullis\.dev"/.test(result.stderr);
  return outcome ? result : undefined;
}

interface AdmissionReviewRequest {
  request?: { uid?: string; object?: { spec?: { containers?: { image?: string }[] } } };
}

// The smallest AdmissionReview v1 server: denies pods with an image containing "unsigned".
function admissionHandler(seen: string[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReviewRequest;
      const images = (review.request?.object?.spec?.containers ?? []).map(
        (container) => container.image ?? '',
      );
      seen.push(...images);
      const unsigned = images.find((image) => image.includes('unsigned'));
      const response =
        unsigned === undefined
          ? { uid: review.request?.uid, allowed: true }
          : {
              uid: review.request?.uid,
              allowed: false,
              status: { code: 403, message: `image ${unsigned} has no valid signature` },
            };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
    });
  };
}

describe('e2e harness against a real kube-apiserver', () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster();
  });

  after(async () => {
    await cluster?.stop();
  });

  test('kubectl apply creates a namespace and a pod, which stays pending without a scheduler', async () => {
    const ns = await cluster.kubectl(['create', 'namespace', namespace]);
    assert.equal(ns.code, 0, ns.stderr);
    const created = await cluster.kubectl(['apply', '-f', '-'], {
      input: pod('plain', 'registry.example/app:1'),
    });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /pod\/plain created/);
    const phase = await cluster.kubectl([
      'get',
      'pod',
      'plain',
      '-n',
      namespace,
      '-o',
      'jsonpath={.status.phase}',
    ]);
    assert.equal(phase.code, 0, phase.stderr);
    assert.equal(phase.stdout, 'Pending');
  });

  test('a CRD with a CEL rule refuses an invalid object with the field path', async () => {
    const crd = await cluster.kubectl(['apply', '-f', '-'], { input: widgetCrd });
    assert.equal(crd.code, 0, crd.stderr);
    const established = await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/widgets.e2e.portcullis.dev',
      '--timeout=30s',
    ]);
    assert.equal(established.code, 0, established.stderr);
    // Discovery of a new CRD lags its Established condition by a moment.
    await eventually('widget accepted', async () => {
      const good = await cluster.kubectl(['apply', '-f', '-'], { input: widget('good', 1, 3) });
      return good.code === 0 ? good : undefined;
    });
    const bad = await cluster.kubectl(['apply', '-f', '-'], { input: widget('bad', 5, 2) });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.maxReplicas: Invalid value/);
    assert.match(bad.stderr, /minReplicas must not exceed maxReplicas/);
  });

  test('kubectl apply --dry-run=server validates without persisting', async () => {
    const dry = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: pod('dry', 'registry.example/app:1'),
    });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /pod\/dry created \(server dry run\)/);
    const get = await cluster.kubectl(['get', 'pod', 'dry', '-n', namespace]);
    assert.notEqual(get.code, 0);
    assert.match(get.stderr, /NotFound/);
  });

  test('helm installs and uninstalls a chart against the cluster', async () => {
    const chart = mkdtempSync(join(tmpdir(), 'portcullis-e2e-chart-'));
    try {
      mkdirSync(join(chart, 'templates'));
      writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: e2e-probe\nversion: 0.1.0\n');
      writeFileSync(
        join(chart, 'templates', 'configmap.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
      );
      writeFileSync(join(chart, 'values.yaml'), 'greeting: hello\n');
      const install = await cluster.helm([
        'install',
        'probe',
        chart,
        '-n',
        namespace,
        '--set',
        'greeting=hi',
      ]);
      assert.equal(install.code, 0, install.stderr);
      const data = await cluster.kubectl([
        'get',
        'configmap',
        'probe',
        '-n',
        namespace,
        '-o',
        'jsonpath={.data.greeting}',
      ]);
      assert.equal(data.stdout, 'hi');
      const uninstall = await cluster.helm(['uninstall', 'probe', '-n', namespace]);
      assert.equal(uninstall.code, 0, uninstall.stderr);
      const gone = await cluster.kubectl(['get', 'configmap', 'probe', '-n', namespace]);
      assert.match(gone.stderr, /NotFound/);
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
  });

  describe('admission webhooks on the host, registered by url', () => {
    let server: Server;
    let url: string;
    const seen: string[] = [];

    before(async () => {
      const cert = await cluster.issueServingCert('e2e-webhook');
      server = createServer({ cert: cert.certPem, key: cert.keyPem }, admissionHandler(seen));
      await new Promise<void>((settle) => server.listen(0, '127.0.0.1', settle));
      url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/validate`;
      const ns = await cluster.kubectl(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: webhookNamespace, labels: { 'e2e.portcullis.dev/webhook': 'on' } },
        }),
      });
      assert.equal(ns.code, 0, ns.stderr);
    });

    after(async () => {
      server?.closeAllConnections();
      await new Promise((settle) => server?.close(settle));
    });

    test('the webhook denies an unsigned image with its message and admits a signed one', async () => {
      await cluster.registerWebhook({
        name: 'image-check.e2e.portcullis.dev',
        url,
        namespaceLabels: { 'e2e.portcullis.dev/webhook': 'on' },
      });
      // The API server picks up a new webhook configuration asynchronously.
      const denied = await eventually('webhook in effect', async () => {
        const result = await cluster.kubectl(['apply', '-f', '-'], {
          input: pod('bad', 'registry.example/unsigned:1', webhookNamespace),
        });
        return result.code !== 0 ? result : undefined;
      });
      assert.match(denied.stderr, /admission webhook "image-check\.e2e\.portcullis\.dev" denied the request/);
      assert.match(denied.stderr, /image registry\.example\/unsigned:1 has no valid signature/);

      const admitted = await cluster.kubectl(['apply', '-f', '-'], {
        input: pod('good', 'registry.example/signed:1', webhookNamespace),
      });
      assert.equal(admitted.code, 0, admitted.stderr);
      assert.ok(seen.includes('registry.example/signed:1'), 'the webhook saw the admitted pod');

      const outside = await cluster.kubectl(['apply', '-f', '-'], {
        input: pod('unchecked', 'registry.example/unsigned:1', namespace),
      });
      assert.equal(outside.code, 0, `namespaces without the label are not sent: ${outside.stderr}`);
      await cluster.deleteWebhooks();
    });

    test('a dead endpoint blocks pods with failurePolicy Fail and lets them through with Ignore', async () => {
      await registerDeadWebhook(cluster, 'Fail');
      const blocked = await eventually('fail-closed webhook in effect', () =>
        dryRunPod(cluster, 'blocked', false),
      );
      assert.match(blocked.stderr, /failed calling webhook "dead\.e2e\.portcullis\.dev"/);
      assert.match(blocked.stderr, /connection refused/);

      await registerDeadWebhook(cluster, 'Ignore');
      await eventually('fail-open webhook in effect', () => dryRunPod(cluster, 'allowed', true));
    });

    test('webhook configurations can be deleted while a fail-closed webhook is dead', async () => {
      await registerDeadWebhook(cluster, 'Fail');
      await eventually('fail-closed webhook in effect', () => dryRunPod(cluster, 'blocked', false));
      await cluster.deleteWebhooks();
      await eventually('pods admitted again', () => dryRunPod(cluster, 'admitted', true));
    });
  });

  test('teardown works with a fail-closed webhook pointing at a dead endpoint', async () => {
    await registerDeadWebhook(cluster, 'Fail');
    await eventually('fail-closed webhook in effect', () => dryRunPod(cluster, 'blocked', false));
    await cluster.stop();
    const port = Number(new URL(cluster.server).port);
    const refused = await new Promise<boolean>((settle) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        settle(false);
      });
      socket.once('error', () => settle(true));
    });
    assert.ok(refused, 'the API server port is closed after stop');
    assert.ok(!existsSync(cluster.dir), 'the cluster folder is removed');
  });
});
