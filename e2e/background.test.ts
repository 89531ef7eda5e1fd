// `serve --verify-running` against the real API server: workloads that ran before the webhook
// existed are reported; a signature deleted from the registry is noticed at the next scheduled
// scan; rotating the key Secret a policy names turns a workload's result to fail within seconds;
// a pod admitted in warn mode shows up as a failing result. Reports are wgpolicyk8s.io
// PolicyReports, with an Event on the owner when its result changes and metrics by result.
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpsRequest } from '../test/helpers/https.ts';
import { gnupgHome } from '../test/image/signature/gnupg.ts';
import { type Cluster, eventually, startCluster } from './harness.ts';
import {
  ok,
  type Portcullis,
  podJson,
  repoRoot,
  type SignedRegistry,
  startHangingServer,
  startPortcullis,
  startSignedRegistry,
} from './product/fixtures.ts';
import { type Owned, runDeployment } from './running.ts';

const PROD = 'prod';
const STAGING = 'staging';
const WEBHOOK = 'background.e2e.portcullis.dev';
const INTERVAL_S = 5;

interface Result {
  policy: string;
  result: string;
  message: string;
  resources: { kind: string; name: string; uid: string }[];
  properties: Record<string, string>;
}

describe('serve --verify-running', () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let portcullis: Portcullis;
  let h: string;
  let legacy: Owned;
  let api: Owned;
  let billing: Owned;

  const apply = (objects: readonly object[]) =>
    cluster.kubectl(['apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
  const keySecret = (key: Buffer) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'signer', namespace: 'portcullis-system' },
    data: { 'key.gpg': key.toString('base64') },
  });
  const signedPolicy = (name: string, mode: string, namespace: string) => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: {
      mode,
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          [h]: [{ type: 'signedBy', keyType: 'GPGKeys', keySecretRef: { name: 'signer', key: 'key.gpg' } }],
        },
      },
    },
  });

  /** The results of the namespace's PolicyReports. */
  const results = async (namespace: string): Promise<Result[]> => {
    const out = ok(await cluster.kubectl(['get', 'policyreports', '-n', namespace, '-o', 'json']), 'reports');
    return (JSON.parse(out) as { items: { results?: Result[] }[] }).items.flatMap((r) => r.results ?? []);
  };
  const resultOf = async (namespace: string, owner: Owned, image: string) =>
    (await results(namespace)).find((r) => r.resources[0]?.uid === owner.uid && r.properties.image === image);
  const waitFor = (
    what: string,
    namespace: string,
    owner: Owned,
    image: string,
    result: string,
    ms = 30_000,
  ) =>
    eventually(
      what,
      async () => {
        const r = await resultOf(namespace, owner, image);
        return r?.result === result ? r : undefined;
      },
      ms,
    );

  // One identity for the processes of the tests below: each takes the Lease over at once.
  const serve = (interval: string, identity = 'portcullis-background-0') =>
    startPortcullis(
      cluster,
      registry.work,
      [
        '--watch-policies',
        '--verify-running',
        `--verify-interval=${interval}`,
        `--kubeconfig=${cluster.kubeconfig}`,
        `--registries.d=${registry.registriesD}`,
        `--registries-conf=${registry.registriesConf}`,
      ],
      { POD_NAMESPACE: 'portcullis-system', POD_NAME: identity },
    );
  const metric = async (pattern: RegExp): Promise<number | undefined> => {
    const body = (await httpsRequest(`${portcullis.url}/metrics`, { ca: cluster.caPem })).body;
    const m = new RegExp(`^${pattern.source} (\\d+)$`, 'm').exec(body);
    return m === null ? undefined : Number(m[1]);
  };

  before(async () => {
    [cluster, registry] = await Promise.all([startCluster(), startSignedRegistry()]);
    h = registry.host;
    await Promise.all([
      registry.push('prod/legacy:v1', 'none'),
      registry.push('prod/api:v1', 'gpg'),
      registry.push('prod/billing:v1', 'gpg'),
      registry.push('staging/tool:v1', 'none'),
    ]);
    ok(await cluster.kubectl(['apply', '-f', join(repoRoot, 'charts', 'portcullis', 'crds')]), 'CRDs');
    ok(
      await cluster.kubectl([
        'apply',
        '-f',
        join(repoRoot, 'charts', 'portcullis', 'report-crds', 'policyreports.wgpolicyk8s.io.yaml'),
      ]),
      'report CRD',
    );
    ok(
      await cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']),
      'CRDs',
    );
    for (const ns of ['portcullis-system', PROD, STAGING])
      ok(await cluster.kubectl(['create', 'namespace', ns]), ns);
    ok(await cluster.kubectl(['label', 'namespace', STAGING, 'portcullis=on']), 'label');
    ok(await apply([keySecret(await readFile(registry.gpgKeyPath))]), 'key Secret');
    // Running before Portcullis is installed.
    legacy = await runDeployment(cluster, PROD, 'legacy', [`${h}/prod/legacy:v1`]);
    api = await runDeployment(cluster, PROD, 'api', [`${h}/prod/api:v1`], {}, 3);
    billing = await runDeployment(cluster, PROD, 'billing', [`${h}/prod/billing:v1`]);
    ok(
      await apply([
        signedPolicy('prod-signed', 'enforce', PROD),
        signedPolicy('staging-signed', 'warn', STAGING),
      ]),
      'policies',
    );
    portcullis = await serve(`${INTERVAL_S}s`);
  });

  after(async () => {
    await portcullis?.stop();
    await cluster?.stop();
    await registry?.stop();
  });

  test('workloads that ran before the webhook existed are reported, per image per owner, with an Event', async () => {
    const failing = await waitFor('legacy reported', PROD, legacy, `${h}/prod/legacy:v1`, 'fail');
    assert.equal(failing.resources[0]?.kind, 'Deployment');
    assert.equal(failing.policy, 'ClusterImagePolicy/prod-signed');
    assert.match(failing.message, /A signature was required, but no signature exists/);
    assert.equal(failing.properties.mode, 'enforce');
    const passing = await waitFor('api reported', PROD, api, `${h}/prod/api:v1`, 'pass');
    assert.equal(passing.properties.pods, '3');
    assert.equal((await results(PROD)).length, 3, 'one result per image per Deployment, not per pod');
    const events = await eventually('an Event on the Deployment', async () => {
      const out = ok(
        await cluster.kubectl([
          'get',
          'events',
          '-n',
          PROD,
          '--field-selector',
          `involvedObject.uid=${legacy.uid}`,
          '-o',
          'json',
        ]),
        'events',
      );
      const items = (JSON.parse(out) as { items: { reason: string; involvedObject: { kind: string } }[] })
        .items;
      return items.length > 0 ? items : undefined;
    });
    assert.deepEqual(
      events.map((e) => `${e.involvedObject.kind} ${e.reason}`),
      ['Deployment ImageNotTrusted'],
    );
    const metrics = await httpsRequest(`${portcullis.url}/metrics`, { ca: cluster.caPem });
    assert.match(metrics.body, /^portcullis_running_images\{result="fail"\} 1$/m);
    assert.match(metrics.body, /^portcullis_running_images\{result="pass"\} 2$/m);
  });

  test('a replica that does not hold the Lease keeps answering its probes and stops on SIGTERM', async () => {
    const follower = await serve('1h', 'portcullis-background-follower');
    try {
      // Its verifier has nothing to do; the probes of the next seconds are answered at once.
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        const health = await httpsRequest(`${follower.url}/healthz`, { ca: cluster.caPem, timeoutMs: 2000 });
        assert.equal(health.status, 200);
        assert.ok(Date.now() - started < 2000, `probe answered after ${Date.now() - started} ms`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    } finally {
      await follower.stop();
    }
    assert.match(follower.log(), /SIGTERM: finishing in-flight reviews/);
  });

  test('a signature deleted from the registry is noticed at the next scheduled scan', async () => {
    await waitFor('api passes', PROD, api, `${h}/prod/api:v1`, 'pass');
    const lookaside = join(registry.work, 'lookaside', 'prod');
    const removed = (await readdir(lookaside)).filter((d) => d.startsWith('api@'));
    assert.equal(removed.length, 1);
    await rm(join(lookaside, removed[0]!), { recursive: true });
    const started = Date.now();
    const failing = await waitFor('api fails', PROD, api, `${h}/prod/api:v1`, 'fail', 4 * INTERVAL_S * 1000);
    assert.match(failing.message, /A signature was required, but no signature exists/);
    assert.ok(Date.now() - started < 3 * INTERVAL_S * 1000, `noticed after ${Date.now() - started} ms`);
  });

  test('a restarted verifier writes nothing when nothing changed', async () => {
    const versions = async () =>
      (
        JSON.parse(
          ok(await cluster.kubectl(['get', 'policyreports', '-n', PROD, '-o', 'json']), 'reports'),
        ) as {
          items: { metadata: { name: string; resourceVersion: string } }[];
        }
      ).items.map((r) => `${r.metadata.name}@${r.metadata.resourceVersion}`);
    const before = await versions();
    await portcullis.stop();
    // The hourly schedule from now on: what follows is triggered by changes alone.
    portcullis = await serve('1h');
    await eventually('the first scan of the new process', async () => {
      const scans = await metric(/portcullis_background_scans_total\{trigger="(?:start|leader)"\}/);
      return scans !== undefined && scans > 0 ? scans : undefined;
    });
    assert.equal(await metric(/portcullis_report_writes_total\{operation="apply"\}/), 0);
    assert.deepEqual(await versions(), before);
  });

  test("rotating the policy's key Secret turns a workload's result to fail within seconds", async () => {
    await waitFor('billing passes', PROD, billing, `${h}/prod/billing:v1`, 'pass');
    const other = await gnupgHome();
    try {
      const fingerprint = await other.generate('Other Signer <other@e2e.example>', 'ed25519');
      ok(await apply([keySecret(await other.exportPublic(fingerprint))]), 'rotate the key');
    } finally {
      await other.remove();
    }
    const started = Date.now();
    const failing = await waitFor('billing fails', PROD, billing, `${h}/prod/billing:v1`, 'fail', 20_000);
    const seconds = (Date.now() - started) / 1000;
    assert.match(failing.message, /signature/i);
    assert.ok(seconds < 10, `took ${seconds} s`);
    assert.ok(((await metric(/portcullis_background_scans_total\{trigger="policy"\}/)) ?? 0) > 0);
  });

  test('a pod admitted in warn mode shows up as a failing result', async () => {
    await cluster.registerWebhook({
      name: WEBHOOK,
      url: `${portcullis.url}/validate`,
      timeoutSeconds: 8,
      namespaceLabels: { portcullis: 'on' },
    });
    await eventually('the webhook bites', async () => {
      const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
        input: podJson('tool', STAGING, [`${h}/staging/tool:v1`]),
      });
      return r.stderr.includes('Warning: portcullis:') ? r : undefined;
    });
    const created = await cluster.kubectl(['apply', '-f', '-'], {
      input: podJson('tool', STAGING, [`${h}/staging/tool:v1`]),
    });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /is not trusted/);
    const pod = JSON.parse(
      ok(await cluster.kubectl(['get', 'pod', 'tool', '-n', STAGING, '-o', 'json']), 'pod'),
    ) as { metadata: { uid: string } };
    const failing = await waitFor(
      'the warned pod is reported',
      STAGING,
      { kind: 'Pod', name: 'tool', uid: pod.metadata.uid },
      `${h}/staging/tool:v1`,
      'fail',
    );
    assert.equal(failing.properties.mode, 'warn');
    assert.equal(failing.resources[0]?.kind, 'Pod');
  });

  test('a registry that hangs is an error result, and admissions meanwhile are not slowed', async () => {
    const hang = await startHangingServer();
    try {
      await registry.addInsecure(hang.host);
      ok(await cluster.kubectl(['create', 'namespace', 'slow']), 'namespace');
      ok(
        await apply([
          {
            ...signedPolicy('slow-signed', 'enforce', 'slow'),
            spec: {
              ...signedPolicy('slow-signed', 'enforce', 'slow').spec,
              transports: {
                docker: {
                  [hang.host]: [
                    {
                      type: 'signedBy',
                      keyType: 'GPGKeys',
                      keySecretRef: { name: 'signer', key: 'key.gpg' },
                    },
                  ],
                },
              },
            },
          },
        ]),
        'policy',
      );
      const image = `${hang.host}/slow/stuck:v1`;
      const stuck = await runDeployment(cluster, 'slow', 'stuck', [image]);
      // While the background verification waits on the registry, admissions answer as before.
      const probe = podJson('probe', STAGING, [`${h}/staging/tool:v1`]);
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: probe });
        assert.equal(r.code, 0, r.stderr);
        assert.ok(Date.now() - started < 3000, `admission took ${Date.now() - started} ms`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const failing = await waitFor('the stuck image is reported', 'slow', stuck, image, 'error', 60_000);
      assert.match(failing.message, /resolving/);
    } finally {
      await hang.stop();
    }
  });
});
