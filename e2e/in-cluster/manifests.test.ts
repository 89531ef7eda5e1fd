// `kubectl apply -f manifests/portcullis.yaml` on a node without cert-manager, edited as a user of
// the plain manifests edits it: the image (the one built here), the two registry ConfigMaps (the
// node's registry speaks plain HTTP, its cosign signatures are attachments), and certificate
// lifetimes of seconds so that rotation happens during the test. The replicas become Ready on the
// certificate their Lease holder makes, the caBundle is filled, an unsigned pod is denied and a
// signed one runs; CA and serving certificate rotate while admissions flow, none failing, and
// every replica serves the Secret's certificate.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments, stringify } from 'yaml';
import { eventually } from '../harness.ts';
import type { NodeCluster } from '../node.ts';
import { watchCertificates } from '../pki.ts';
import { type BuiltImage, nodeCluster, portcullisImage } from './cluster.ts';
import {
  admissionsDuring,
  appNamespace,
  chart,
  clusterImagePolicy,
  cosignSigned,
  type Images,
  ok,
  podJson,
  repoRoot,
  testImages,
  testValues,
  waitRunning,
} from './fixtures.ts';

const ns = 'portcullis';
const label = 'manifests';
const appNs = 'apps-manifests';
const RATE = 20;
// A serving certificate renewed every 20 s, a CA every 60 s (renewal at two thirds of the life).
const LIFETIMES: Record<string, string> = {
  '--tls-ca-validity': '90s',
  '--tls-cert-validity': '30s',
  '--tls-bundle-delay': '5s',
};

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: { template: { spec: { containers: { name: string; image: string; args: string[] }[] } } };
}

describe('kubectl apply -f manifests/portcullis.yaml on a node', () => {
  let cluster: NodeCluster;
  let image: BuiltImage;
  let images: Images;
  let manifests: Manifest[];

  const secretData = async (): Promise<Record<string, string>> => {
    const out = ok(
      await cluster.kubectl(['get', 'secret', 'portcullis-certs', '-n', ns, '-o', 'jsonpath={.data}']),
      'certificate Secret',
    );
    const data = (out === '' ? {} : JSON.parse(out)) as Record<string, string>;
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  };
  const caBundle = async () =>
    (
      await cluster.kubectl([
        'get',
        'validatingwebhookconfiguration',
        'portcullis',
        '-o',
        'jsonpath={.webhooks[0].clientConfig.caBundle}',
      ])
    ).stdout;
  const replicas = async (): Promise<string[]> =>
    ok(
      await cluster.kubectl([
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        'app.kubernetes.io/name=portcullis',
        '--field-selector=status.phase=Running',
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ]),
      'replicas',
    )
      .split(' ')
      .filter((name) => name !== '');
  /** The SHA-256 fingerprint of the certificate a replica serves, asked from inside its container. */
  const served = async (pod: string): Promise<string> =>
    ok(
      await cluster.kubectl([
        'exec',
        pod,
        '-n',
        ns,
        '--',
        'node',
        '-e',
        "const s = require('tls').connect({ host: '127.0.0.1', port: 8443, rejectUnauthorized: false }, () => { process.stdout.write(s.getPeerCertificate().fingerprint256); s.end(); });",
      ]),
      `served certificate of ${pod}`,
    );

  before(async () => {
    cluster = await nodeCluster();
    [image, images] = await Promise.all([portcullisImage(cluster), testImages(cluster)]);
    await appNamespace(cluster, appNs, label);
    // The registry settings the chart's test values carry, as the ConfigMaps' contents.
    const values = testValues(cluster, image, images, label) as {
      registriesConf: string;
      registriesD: Record<string, string>;
    };
    const text = await readFile(join(repoRoot, 'manifests', 'portcullis.yaml'), 'utf8');
    manifests = parseAllDocuments(text)
      .map((d) => d.toJS() as Manifest | null)
      .filter((d): d is Manifest => d !== null);
    let edited = 0;
    for (const m of manifests) {
      if (m.kind === 'Deployment' && m.metadata.name === 'portcullis') {
        const container = m.spec?.template.spec.containers.find((c) => c.name === 'webhook');
        assert.ok(container, 'the webhook container');
        container.image = image.reference;
        container.args = container.args.map((arg) => {
          const [flag] = arg.split('=', 1);
          const lifetime = LIFETIMES[flag ?? ''];
          return lifetime === undefined ? arg : `${flag}=${lifetime}`;
        });
        edited++;
      } else if (m.kind === 'ConfigMap' && m.metadata.name === 'portcullis') {
        m.data = { ...m.data, 'registries.conf': values.registriesConf };
        edited++;
      } else if (m.kind === 'ConfigMap' && m.metadata.name === 'portcullis-registries-d') {
        m.data = values.registriesD;
        edited++;
      }
    }
    assert.equal(edited, 3, 'the Deployment and the two registry ConfigMaps');
    ok(await cluster.kubectl(['apply', '-f', join(chart, 'crds')]), 'CRDs');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: clusterImagePolicy('e2e-manifests', label, {
          [`${cluster.registry}/cosign`]: cosignSigned(images),
        }),
      }),
      'ClusterImagePolicy',
    );
  });

  after(async () => {
    // The webhook configuration first, so that nothing of what follows is judged by a webhook going away.
    await cluster?.kubectl([
      'delete',
      'validatingwebhookconfiguration,mutatingwebhookconfiguration',
      'portcullis',
    ]);
    // Everything but the CRDs, which the other files' releases share.
    const clusterScoped = (manifests ?? []).filter((m) => /^Cluster(Role|RoleBinding)$/.test(m.kind));
    for (const m of clusterScoped) await cluster?.kubectl(['delete', m.kind.toLowerCase(), m.metadata.name]);
    await cluster?.kubectl(['delete', 'clusterimagepolicy', 'e2e-manifests', '--wait=false']);
    await cluster?.kubectl(['delete', 'namespace', appNs, ns, '--wait=false']);
    await images?.stop();
    await cluster?.stop();
  });

  test('the replicas become Ready on the certificate their Lease holder makes; the caBundle is its CA', async () => {
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: manifests.map((m) => stringify(m)).join('---\n'),
      }),
      'kubectl apply',
    );
    ok(
      await cluster.kubectl(['rollout', 'status', 'deployment/portcullis', '-n', ns, '--timeout=300s'], {
        timeoutMs: 310_000,
      }),
      'rollout status',
    );
    const holder = ok(
      await cluster.kubectl([
        'get',
        'lease',
        'portcullis-controller',
        '-n',
        ns,
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]),
      'Lease',
    );
    assert.ok((await replicas()).includes(holder), `the Lease holder ${holder} is a replica`);
    const data = await secretData();
    assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    assert.match(
      new X509Certificate(data['tls.crt'] ?? '').subjectAltName ?? '',
      /DNS:portcullis\.portcullis\.svc\b/,
    );
    await eventually('the caBundle is ca.crt', async () => {
      const current = Buffer.from((await secretData())['ca.crt'] ?? '').toString('base64');
      return (await caBundle()) === current ? true : undefined;
    });
  });

  test('an unsigned pod is denied with its reason; a cosign-signed one is admitted and runs', async () => {
    const unsigned = await images.push('cosign/unsigned:v1');
    const denied = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('unsigned', appNs, unsigned),
    });
    assert.notEqual(denied.code, 0, denied.stdout);
    assert.match(denied.stderr, /admission webhook "validate\.portcullis\.dev" denied the request/);
    assert.match(denied.stderr, /no signature/i);
    const signed = await images.pushCosignSigned('cosign/signed:v1');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], { input: podJson('signed', appNs, signed) }),
      'signed pod',
    );
    await waitRunning(cluster, appNs, 'signed');
  });

  test('CA and serving certificate rotate under 20 admissions a second with none failed; every replica serves the Secret', async () => {
    const signed = await images.pushCosignSigned('cosign/load:v1');
    const watch = watchCertificates(secretData);
    const counts = await admissionsDuring(cluster, appNs, signed, RATE, () => sleep(100_000), {
      leadMs: 0,
      trailMs: 0,
    }).finally(() => watch.stop());
    const { cas, leafs } = await watch.stop();
    process.stderr.write(
      `e2e: manifests, certificate rotation: ${counts.sent} admissions sent at ${RATE}/s, ${counts.admitted} admitted, ` +
        `${counts.failed} failed, ${counts.timedOut} timed out; ${cas.size} CAs and ${leafs.size} serving certificates seen` +
        `${counts.errors.length > 0 ? `\n  ${counts.errors.join('\n  ')}` : ''}\n`,
    );
    assert.deepEqual(
      { denied: counts.denied, failed: counts.failed, timedOut: counts.timedOut },
      { denied: 0, failed: 0, timedOut: 0 },
      counts.errors.join('\n'),
    );
    assert.ok(counts.admitted > 0);
    assert.ok(cas.size >= 2, `${cas.size} CAs: at least one CA rotation`);
    assert.ok(leafs.size >= 3, `${leafs.size} serving certificates`);
    // The replicas that do not hold the Lease load the certificate from the Secret too.
    for (const pod of await replicas()) {
      await eventually(`${pod} serves the Secret's certificate`, async () => {
        const current = new X509Certificate((await secretData())['tls.crt'] ?? '').fingerprint256;
        return (await served(pod)) === current ? true : undefined;
      });
    }
  });
});
