// Mirroring end to end through a real kube-apiserver: `portcullis sync` mirrors a GPG-signed and a
// cosign-signed image with their signatures from one loopback registry to another; the webhook
// (on the host, registered by url:) runs a policy.json with remapIdentity and admits pods that use
// the mirror, and denies a tampered mirror copy. A registries.conf mirror serves pods that keep the
// origin names while the origin is down. The chart's mirror CronJob renders and applies, and its
// ServiceAccount can write the sync report to its ConfigMap and nothing else.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CACHE_LIMITS } from '../src/cache/index.ts';
import type { SyncReport } from '../src/cli/sync-report.ts';
import { closeAllAgents } from '../src/image/transports/docker/index.ts';
import { productionComponents, type RunningServer, startServer } from '../src/server.ts';
import { runCli } from '../test/helpers/cli.ts';
import { type DockerTestEnv, dockerTestEnv, LOOPBACK_PLAIN_HTTP } from '../test/helpers/docker-env.ts';
import { type MirrorFixture, startMirrorFixture } from '../test/helpers/mirror-fixture.ts';
import { type Cluster, eventually, startCluster } from './harness.ts';

const chart = fileURLToPath(new URL('../charts/portcullis', import.meta.url));
const namespace = 'mirror-e2e';

function pod(name: string, image: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { containers: [{ name: 'main', image }] },
  });
}

describe('mirroring with signatures, admitted through kube-apiserver', () => {
  let cluster: Cluster;
  let f: MirrorFixture;
  let server: RunningServer | undefined;
  const servers: RunningServer[] = [];
  const envs: DockerTestEnv[] = [];
  let mirrorPrefix: string;

  /**
   * Starts the webhook with `policy` (and a registries.conf, the loopback registries marked
   * insecure after it) and registers it; replaces any earlier one.
   */
  async function serveWebhook(policy: object, registriesConf = ''): Promise<void> {
    const env = await dockerTestEnv();
    envs.push(env);
    const policyPath = join(f.work, `webhook-policy-${servers.length}.json`);
    await writeFile(policyPath, JSON.stringify(policy));
    const confPath = join(f.work, `registries-${servers.length}.conf`);
    await writeFile(confPath, `${registriesConf}${LOOPBACK_PLAIN_HTTP}`);
    const cert = await cluster.issueServingCert(`mirror-webhook-${servers.length}`, ['127.0.0.1']);
    server = await startServer(
      {
        policyPath,
        host: '127.0.0.1',
        port: 0,
        tlsCertPath: cert.certPath,
        tlsKeyPath: cert.keyPath,
        deadlineMs: 4000,
        mode: 'enforce',
        unknownKinds: 'allow',
        bodyLimit: 1024 * 1024,
        logLevel: 'silent',
        platforms: { kind: 'platforms', platforms: [{ os: 'linux', architecture: 'amd64' }] },
        watchIntervalMs: 60_000,
        shutdownDelayMs: 0,
        cache: { ...DEFAULT_CACHE_LIMITS, digestTtlMs: 0 },
      },
      productionComponents(
        {
          registriesDirPath: f.registriesD,
          registriesConfPath: confPath,
          authFilePath: env.ctx.authFilePath,
        },
        env.transport,
      ),
    );
    servers.push(server);
    await cluster.registerWebhook({
      name: 'mirror.e2e.portcullis.dev',
      url: `${server.url}/validate`,
      timeoutSeconds: 5,
      namespaceLabels: { 'portcullis.dev/e2e': 'mirror' },
    });
  }

  /** Creates a pod through the API server; the webhook's answer decides. */
  async function createPod(name: string, image: string) {
    return cluster.kubectl(['apply', '-f', '-'], { input: pod(name, image) });
  }

  before(async () => {
    [cluster, f] = await Promise.all([startCluster(), startMirrorFixture()]);
    mirrorPrefix = `${f.mirror.host}/e2e`;
    await f.pushGpgSigned('team/gpg:v1');
    await f.pushCosignSigned('team/cosign:v1', { attachment: true, bundle: true });
    await f.pushUnsigned('team/unsigned:v1');
    assert.equal((await cluster.kubectl(['create', 'namespace', namespace])).code, 0);
    assert.equal(
      (await cluster.kubectl(['label', 'namespace', namespace, 'portcullis.dev/e2e=mirror'])).code,
      0,
    );
    const yaml = join(f.work, 'e2e.yaml');
    await writeFile(
      yaml,
      `${f.origin.host}:\n  tls-verify: false\n  images:\n    team/gpg: ["v1"]\n    team/cosign: ["v1"]\n    team/unsigned: ["v1"]\n`,
    );
    const synced = await runCli(f.syncArgs(['--insecure-policy'], yaml, mirrorPrefix), f.env);
    assert.equal(synced.code, 0, synced.stderr);
  });

  after(async () => {
    for (const s of servers) await s.close();
    for (const env of envs) await env.cleanup();
    await cluster?.stop();
    await f?.stop();
    await closeAllAgents();
  });

  test('pods using the mirror are admitted under remapIdentity; unsigned ones are denied', async () => {
    await serveWebhook(f.remapPolicy(mirrorPrefix, { gpg: ['gpg', 'unsigned'], cosign: ['cosign'] }));
    // The API server takes a moment to call a newly registered webhook.
    await eventually('webhook denies an unsigned mirror image', async () => {
      const r = await createPod('unsigned', `${mirrorPrefix}/unsigned:v1`);
      return r.code !== 0 && /denied the request/.test(r.stderr) ? r : undefined;
    });
    const gpg = await createPod('gpg', `${mirrorPrefix}/gpg:v1`);
    assert.equal(gpg.code, 0, gpg.stderr);
    const cosign = await createPod('cosign', `${mirrorPrefix}/cosign:v1`);
    assert.equal(cosign.code, 0, cosign.stderr);
  });

  test('a tampered mirror copy is denied', async () => {
    const repo = 'e2e/gpg';
    const res = await fetch(`${f.mirror.url}/v2/${repo}/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const changed = Buffer.from(
      JSON.stringify({ ...(JSON.parse(await res.text()) as object), annotations: { tampered: 'yes' } }),
    );
    const put = await fetch(`${f.mirror.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: changed,
    });
    await put.arrayBuffer();
    assert.equal(put.status, 201);
    const denied = await createPod('tampered', `${mirrorPrefix}/gpg:v1`);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /denied the request: .*gpg:v1.* is not trusted/);
  });

  test('with a registries.conf mirror, pods keep the origin names and are admitted while the origin is down', async () => {
    await f.origin.stop();
    await serveWebhook(
      {
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${f.origin.host}/team/cosign`]: [{ type: 'sigstoreSigned', keyPath: f.originCosignPub }],
          },
        },
      },
      `[[registry]]\nprefix = "${f.origin.host}/team"\nlocation = "${f.origin.host}/team"\n\n[[registry.mirror]]\nlocation = "${mirrorPrefix}"\ninsecure = true\n`,
    );
    const admitted = await eventually('pod with the origin name admitted through the mirror', async () => {
      const r = await createPod('via-conf', `${f.origin.host}/team/cosign:v1`);
      return r.code === 0 ? r : undefined;
    });
    assert.match(admitted.stdout, /pod\/via-conf created/);
  });

  test('the chart mirror CronJob applies; its ServiceAccount writes the report ConfigMap and nothing else', async () => {
    const values = join(f.work, 'mirror-values.yaml');
    await writeFile(
      values,
      [
        'mirror:',
        '  enabled: true',
        `  destination: ${mirrorPrefix}`,
        '  images: |',
        `    ${f.origin.host}:`,
        '      images:',
        '        team/gpg: ["v1"]',
        '  authSecret: mirror-auth',
        '  parallelImages: 2',
        '',
      ].join('\n'),
    );
    const render = (template: string) =>
      cluster.helm(['template', 'rel', chart, '--namespace', namespace, '-f', values, '-s', template]);
    const rendered = await render('templates/mirror-cronjob.yaml');
    assert.equal(rendered.code, 0, rendered.stderr);
    // The job's pods must never match the webhook Service's selector.
    const service = await cluster.kubectl(['create', '--dry-run=client', '-o', 'json', '-f', '-'], {
      input: (await render('templates/service.yaml')).stdout,
    });
    const selector = (JSON.parse(service.stdout) as { spec: { selector: Record<string, string> } }).spec
      .selector;
    const jobLabels = await cluster.kubectl(['create', '--dry-run=client', '-o', 'json', '-f', '-'], {
      input: rendered.stdout.split('\n---').find((d) => d.includes('kind: CronJob')) ?? '',
    });
    const podLabels = (
      JSON.parse(jobLabels.stdout) as {
        spec: { jobTemplate: { spec: { template: { metadata: { labels: Record<string, string> } } } } };
      }
    ).spec.jobTemplate.spec.template.metadata.labels;
    assert.ok(Object.keys(selector).length > 0);
    assert.ok(
      Object.entries(selector).some(([k, v]) => podLabels[k] !== v),
      `pod labels ${JSON.stringify(podLabels)} match the Service selector ${JSON.stringify(selector)}`,
    );
    const applied = await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: rendered.stdout });
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /cronjob\.batch\/rel-portcullis-mirror created/);
    const args = await cluster.kubectl([
      'get',
      'cronjob',
      'rel-portcullis-mirror',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.jobTemplate.spec.template.spec.containers[0].args}',
    ]);
    assert.match(args.stdout, /--report-configmap=rel-portcullis-mirror-report/);
    const sa = `system:serviceaccount:${namespace}:rel-portcullis-mirror`;
    const can = async (verb: string, what: string) =>
      (await cluster.kubectl(['auth', 'can-i', verb, what, '-n', namespace, '--as', sa])).stdout.trim();
    assert.equal(await can('patch', 'configmap/rel-portcullis-mirror-report'), 'yes');
    assert.equal(await can('patch', 'configmap/other'), 'no');
    assert.equal(await can('create', 'configmaps'), 'no');
    assert.equal(await can('get', 'secrets'), 'no');

    // Run the job's sync on the host with the ServiceAccount's own token: the report lands.
    const kubeconfig = await cluster.serviceAccountKubeconfig(
      namespace,
      'rel-portcullis-mirror',
      join(f.work, 'mirror-sa.kubeconfig'),
    );
    const yaml = join(f.work, 'cron.yaml');
    await writeFile(yaml, `${f.mirror.host}:\n  tls-verify: false\n  images:\n    e2e/cosign: ["v1"]\n`);
    const previous = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kubeconfig;
    try {
      const cron = (report: string) =>
        runCli(
          f.syncArgs(['--insecure-policy', '--report-configmap', report], yaml, `${f.mirror.host}/cron`),
          f.env,
        );
      const synced = await cron('rel-portcullis-mirror-report');
      assert.equal(synced.code, 0, synced.stderr);
      assert.match(
        synced.stderr,
        new RegExp(`Report written to configmap ${namespace}/rel-portcullis-mirror-report`),
      );
      const refused = await cron('other');
      assert.equal(refused.code, 1, 'a report that cannot be written fails the run');
      assert.match(refused.stderr, /writing report configmap mirror-e2e\/other: HTTP 403/);
    } finally {
      if (previous === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = previous;
    }
    const reportConfigMap = JSON.parse(
      (
        await cluster.kubectl([
          'get',
          'configmap',
          'rel-portcullis-mirror-report',
          '-n',
          namespace,
          '-o',
          'json',
        ])
      ).stdout,
    ) as { metadata: { labels: Record<string, string> }; data: Record<string, string> };
    const report = JSON.parse(reportConfigMap.data['report.json'] ?? '') as SyncReport;
    assert.equal(report.summary.copied, 1);
    assert.deepEqual(report.images[0]?.signatures, { copied: 1, created: 0, referrers: 1, attestations: 0 });
    // The chart keeps this ConfigMap on uninstall; Helm adopts it on a reinstall only while its
    // ownership label is the chart's.
    const labels = reportConfigMap.metadata.labels;
    assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm');
    assert.equal(labels['portcullis.dev/report'], 'sync');
  });
});
