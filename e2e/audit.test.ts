// `portcullis audit` against the real API server: pods created before any webhook existed, on a
// password-protected loopback registry with GPG-signed and unsigned images, judged by a policy
// file, by the cluster's ClusterImagePolicy, and by a policy not applied yet (shadow); the reasons
// are the webhook's own, word for word, and pull secrets are read as the webhook reads them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cluster, type CommandResult, eventually, run, startCluster } from './harness.ts';
import {
  ok,
  type Portcullis,
  podJson,
  repoRoot,
  type SignedRegistry,
  startPortcullis,
  startSignedRegistry,
} from './product/fixtures.ts';
import { type Owned, pullSecret, runDeployment, runPod } from './running.ts';

const NS = 'shop';
const USER = 'puller';
const PASSWORD = 'e2e-audit-password';
const WEBHOOK = 'audit.e2e.portcullis.dev';

interface AuditFinding {
  namespace: string;
  owner: { kind: string; name: string; uid: string };
  image: string;
  result: string;
  message: string;
  policies: string;
  pods: number;
}

describe('portcullis audit', () => {
  let cluster: Cluster;
  let registry: SignedRegistry;
  let h: string;
  let web: Owned;
  let worker: Owned;
  let stray: Owned;
  let policyFile: string;
  let portcullis: Portcullis | undefined;

  const audit = (...args: string[]): Promise<CommandResult> =>
    run(
      process.execPath,
      [
        join(repoRoot, 'bin', 'portcullis.js'),
        'audit',
        `--kubeconfig=${cluster.kubeconfig}`,
        `--registries.d=${registry.registriesD}`,
        `--registries-conf=${registry.registriesConf}`,
        ...args,
      ],
      { timeoutMs: 120_000 },
    );
  const results = (r: CommandResult): AuditFinding[] =>
    (JSON.parse(r.stdout) as { results: AuditFinding[] }).results;
  const clusterPolicy = (name: string, requirement: object) =>
    JSON.stringify({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'ClusterImagePolicy',
      metadata: { name },
      spec: { default: [{ type: 'reject' }], transports: { docker: { [`${h}/shop`]: [requirement] } } },
    });
  const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keySecretRef: { name: 'signer', key: 'key.gpg' } };

  before(async () => {
    [cluster, registry] = await Promise.all([
      startCluster(),
      startSignedRegistry({ users: { [USER]: PASSWORD } }),
    ]);
    h = registry.host;
    await Promise.all([registry.push('shop/web:v1', 'gpg'), registry.push('shop/worker:v1', 'none')]);
    ok(await cluster.kubectl(['apply', '-f', join(repoRoot, 'charts', 'portcullis', 'crds')]), 'CRDs');
    ok(
      await cluster.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']),
      'CRDs',
    );
    for (const ns of ['portcullis-system', NS]) ok(await cluster.kubectl(['create', 'namespace', ns]), ns);
    const gpgKey = (await readFile(registry.gpgKeyPath)).toString('base64');
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: [
          pullSecret(NS, 'regcred', h, USER, PASSWORD),
          {
            apiVersion: 'v1',
            kind: 'ServiceAccount',
            metadata: { name: 'builder', namespace: NS },
            imagePullSecrets: [{ name: 'regcred' }],
          },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'signer', namespace: 'portcullis-system' },
            data: { 'key.gpg': gpgKey },
          },
        ]
          .map((o) => JSON.stringify(o))
          .join('\n'),
      }),
      'secrets',
    );
    // Running before any policy or webhook exists.
    web = await runDeployment(cluster, NS, 'web', [`${h}/shop/web:v1`], { serviceAccount: 'builder' }, 2);
    worker = await runDeployment(cluster, NS, 'worker', [`${h}/shop/worker:v1`, `${h}/shop/web:v1`], {
      serviceAccount: 'builder',
    });
    // A signed image, but no credentials for the registry: it cannot even be looked up.
    stray = await runPod(cluster, NS, 'stray', [`${h}/shop/web:v1`]);
    policyFile = await registry.writeFile(
      'policy.json',
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: { [`${h}/shop`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: registry.gpgKeyPath }] },
        },
      }),
    );
  });

  after(async () => {
    await portcullis?.stop();
    await cluster?.stop();
    await registry?.stop();
  });

  test('with a policy file: the unsigned image of a Deployment and the pod without credentials are refused, exit 1', async () => {
    const r = await audit(`--policy=${policyFile}`, '--json', '--all');
    assert.equal(r.code, 1, r.stderr);
    const found = results(r);
    const of = (owner: Owned, image: string) =>
      found.find((x) => x.owner.uid === owner.uid && x.image === `${h}/shop/${image}`);
    // Results go to the Deployment (through its ReplicaSet), one per image, with its pod count.
    assert.deepEqual(
      {
        kind: of(web, 'web:v1')?.owner.kind,
        result: of(web, 'web:v1')?.result,
        pods: of(web, 'web:v1')?.pods,
      },
      { kind: 'Deployment', result: 'pass', pods: 2 },
    );
    assert.equal(of(worker, 'web:v1')?.result, 'pass');
    assert.equal(of(worker, 'worker:v1')?.result, 'fail');
    assert.match(of(worker, 'worker:v1')?.message ?? '', /A signature was required, but no signature exists/);
    assert.equal(of(stray, 'web:v1')?.owner.kind, 'Pod');
    assert.equal(of(stray, 'web:v1')?.result, 'error');
    assert.equal(found.length, 4);
  });

  test('the table lists only what would be refused', async () => {
    const r = await audit(`--policy=${policyFile}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^NAMESPACE +WORKLOAD +IMAGE +RESULT +REASON$/m);
    assert.match(r.stdout, new RegExp(`^${NS} +Deployment/worker +${h}/shop/worker:v1 +fail +`, 'm'));
    assert.match(r.stdout, new RegExp(`^${NS} +Pod/stray +${h}/shop/web:v1 +error +`, 'm'));
    assert.doesNotMatch(r.stdout, /Deployment\/web /);
    assert.match(
      r.stdout,
      /2 of 3 workloads would be refused: 1 images fail, 1 could not be verified, 2 pass/,
    );
  });

  test("with the cluster's ClusterImagePolicy: the same refusals, in the webhook's words", async () => {
    ok(
      await cluster.kubectl(['apply', '-f', '-'], { input: clusterPolicy('shop-signed', signedBy) }),
      'policy',
    );
    const r = await audit('--json');
    assert.equal(r.code, 1, r.stderr);
    const refused = results(r);
    assert.deepEqual(refused.map((x) => `${x.owner.kind}/${x.owner.name} ${x.result}`).sort(), [
      'Deployment/worker fail',
      'Pod/stray error',
    ]);
    const failing = refused.find((x) => x.result === 'fail')!;
    assert.equal(failing.policies, 'ClusterImagePolicy/shop-signed');

    // The webhook, asked about the same image for a new pod, gives the same reason.
    portcullis = await startPortcullis(
      cluster,
      registry.work,
      [
        '--watch-policies',
        `--kubeconfig=${cluster.kubeconfig}`,
        `--registries.d=${registry.registriesD}`,
        `--registries-conf=${registry.registriesConf}`,
      ],
      { POD_NAMESPACE: 'portcullis-system', POD_NAME: 'portcullis-audit-e2e' },
    );
    await cluster.registerWebhook({ name: WEBHOOK, url: `${portcullis.url}/validate`, timeoutSeconds: 8 });
    const denied = await eventually('the webhook denies', async () => {
      const probe = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
        input: podJson('probe', NS, [`${h}/shop/worker:v1`], 'builder'),
      });
      return probe.stderr.includes(`admission webhook "${WEBHOOK}"`) ? probe : undefined;
    });
    assert.ok(
      denied.stderr.includes(`is not trusted: ${failing.message}`),
      `webhook: ${denied.stderr}\naudit: ${failing.message}`,
    );
    await cluster.deleteWebhooks();
    await portcullis.stop();
    portcullis = undefined;
  });

  test('a shadow policy is judged as if applied, replacing the one of its name; nothing is written', async () => {
    ok(
      await cluster.kubectl(['apply', '-f', '-'], {
        input: clusterPolicy('shop-signed', { type: 'insecureAcceptAnything' }),
      }),
      'a permissive version',
    );
    // insecureAcceptAnything decides without looking at the image: even the pod without credentials passes.
    const now = await audit('--json', `--namespace=${NS}`);
    assert.equal(now.code, 0, now.stderr);
    assert.deepEqual(results(now), []);

    const shadow = await registry.writeFile('shadow.yaml', clusterPolicy('shop-signed', signedBy));
    const r = await audit('--json', `--shadow=${shadow}`, `--namespace=${NS}`);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(
      results(r)
        .map((x) => `${x.owner.name} ${x.result}`)
        .sort(),
      ['stray error', 'worker fail'],
    );
    const live = JSON.parse(
      ok(await cluster.kubectl(['get', 'clusterimagepolicy', 'shop-signed', '-o', 'json']), 'get'),
    ) as {
      spec: { transports: { docker: Record<string, { type: string }[]> } };
    };
    assert.equal(live.spec.transports.docker[`${h}/shop`]?.[0]?.type, 'insecureAcceptAnything');
  });

  test('an invalid shadow policy is an error of the audit, exit 2', async () => {
    const shadow = await registry.writeFile(
      'broken.yaml',
      clusterPolicy('shop-broken', {
        type: 'signedBy',
        keyType: 'GPGKeys',
        keySecretRef: { name: 'absent', key: 'k' },
      }),
    );
    const r = await audit(`--shadow=${shadow}`);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /--shadow ClusterImagePolicy\/shop-broken: .*absent/);
  });
});
