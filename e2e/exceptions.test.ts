// Break-glass exceptions against the real kube-apiserver: the CRD's CEL rules refuse at apply
// time an exception without a reason, owner or expiry, one longer than 7 days, and any change of
// its expiry; the chart's RBAC lets only a subject bound to its author role create one; the
// watcher writes Active, then Expired, into status.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ExceptionWatcher } from '../src/kube/exceptions.ts';
import { ClientKubeApi, loadKubeConfig } from '../src/kube/index.ts';
import { DEFAULT_INFORMER_OPTIONS } from '../src/kube/informer.ts';
import { EXCEPTION_CRD_FILE } from '../test/policy/crd/crd-files.ts';
import { type Cluster, eventually, startCluster } from './harness.ts';

const NS = 'team-a';
const chart = new URL('../charts/portcullis', import.meta.url).pathname;
let cluster: Cluster;

const exception = (name: string, spec: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'ImageTrustException',
    metadata: { name, namespace: NS },
    spec: {
      images: [{ scope: 'registry.example/team/app' }],
      reason: 'CVE-2026-1234 hotfix while the signing service is down',
      owner: 'alice@example.com',
      expiresAfter: '72h',
      ...spec,
    },
  });

async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  cluster = await startCluster();
  await mustKubectl(['apply', '-f', EXCEPTION_CRD_FILE]);
  await mustKubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/imagetrustexceptions.portcullis.dev',
  ]);
  await mustKubectl(['create', 'namespace', NS]);
});
after(() => cluster?.stop());

describe('ImageTrustException CRD (CEL at apply time)', () => {
  test('accepts an exception with images, reason, owner and an expiry within 7 days', async () => {
    await mustKubectl(['apply', '-f', '-'], exception('valid', { expiresAfter: '168h' }));
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'an expiry beyond 7 days',
      { expiresAfter: '169h' },
      /expiresAfter must be more than 0s and at most 168h/,
    ],
    ['a zero expiry', { expiresAfter: '0s' }, /expiresAfter must be more than 0s/],
    ['an expiry in days', { expiresAfter: '7d' }, /spec\.expiresAfter/],
    ['no expiry', { expiresAfter: undefined }, /spec\.expiresAfter: Required value/],
    ['no reason', { reason: undefined }, /spec\.reason: Required value/],
    ['an empty owner', { owner: '' }, /spec\.owner/],
    ['no images', { images: [] }, /spec\.images/],
    [
      'a malformed digest',
      { images: [{ scope: 'registry.example/app', digest: 'latest' }] },
      /spec\.images\[0\]\.digest/,
    ],
  ];
  for (const [what, spec, message] of refused) {
    test(`refuses ${what}`, async () => {
      const r = await cluster.kubectl(['apply', '-f', '-'], {
        input: exception(`refused-${what.replaceAll(/\W+/g, '-')}`, spec),
      });
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, message);
    });
  }

  test('refuses any change of the expiry, and allows other edits', async () => {
    await mustKubectl(['apply', '-f', '-'], exception('fixed', { expiresAfter: '24h' }));
    for (const after of ['48h', '12h']) {
      const r = await cluster.kubectl(['apply', '-f', '-'], {
        input: exception('fixed', { expiresAfter: after }),
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /expiresAfter cannot be changed: create a new exception/);
    }
    await mustKubectl(
      ['apply', '-f', '-'],
      exception('fixed', { expiresAfter: '24h', reason: 'updated reason' }),
    );
  });
});

describe("the chart's RBAC for exceptions", () => {
  test('only a subject bound to the author role may create one; the webhook may only read them', async () => {
    const rendered = await cluster.helm([
      'template',
      'portcullis',
      chart,
      '--namespace',
      'portcullis-system',
      '-s',
      'templates/rbac.yaml',
      '-s',
      'templates/exception-rbac.yaml',
      '-s',
      'templates/serviceaccount.yaml',
    ]);
    assert.equal(rendered.code, 0, rendered.stderr);
    await mustKubectl(['create', 'namespace', 'portcullis-system']);
    await mustKubectl(['apply', '-f', '-'], rendered.stdout);
    await mustKubectl(['create', 'serviceaccount', 'deployer', '-n', NS]);
    const canCreate = async (subject: string) =>
      (
        await cluster.kubectl([
          'auth',
          'can-i',
          'create',
          'imagetrustexceptions.portcullis.dev',
          '-n',
          NS,
          `--as=${subject}`,
        ])
      ).stdout.trim();
    const deployer = `system:serviceaccount:${NS}:deployer`;
    const webhook = 'system:serviceaccount:portcullis-system:portcullis';
    assert.equal(await canCreate(deployer), 'no');
    assert.equal(await canCreate(webhook), 'no');
    assert.equal(
      (
        await cluster.kubectl([
          'auth',
          'can-i',
          'watch',
          'imagetrustexceptions.portcullis.dev',
          '-A',
          `--as=${webhook}`,
        ])
      ).stdout.trim(),
      'yes',
    );
    await mustKubectl([
      'create',
      'rolebinding',
      'break-glass',
      '-n',
      NS,
      '--clusterrole=portcullis-exception-author',
      `--serviceaccount=${NS}:deployer`,
    ]);
    await eventually(
      'the binding takes effect',
      async () => ((await canCreate(deployer)) === 'yes' ? true : undefined),
      10_000,
      100,
    );
    // As that ServiceAccount, for real: the API server admits the create.
    const kubeconfig = await cluster.serviceAccountKubeconfig(
      NS,
      'deployer',
      join(cluster.dir, 'deployer.kubeconfig'),
    );
    const r = await cluster.kubectl(['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
      input: exception('by-deployer', {}),
    });
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('the exception watcher against the API server', () => {
  test('writes Active with the expiry into status, then Expired when it passes', async () => {
    const path = join(cluster.dir, 'watcher.kubeconfig');
    writeFileSync(path, await mustKubectl(['config', 'view', '--raw', '--kubeconfig', cluster.kubeconfig]));
    const watcher = new ExceptionWatcher({
      api: new ClientKubeApi(loadKubeConfig(path)),
      leader: undefined,
      informer: DEFAULT_INFORMER_OPTIONS,
      now: Date.now,
      onError: () => {},
      eventIntervalMs: 60_000,
    });
    await watcher.start();
    try {
      await mustKubectl(['apply', '-f', '-'], exception('short', { expiresAfter: '3s' }));
      const field = async (jsonpath: string) =>
        (
          await mustKubectl(['get', 'imagetrustexception', 'short', '-n', NS, '-o', `jsonpath=${jsonpath}`])
        ).trim();
      const state = () => field('{.status.state} {.status.expiresAt}');
      const active = await eventually(
        'status Active',
        async () => ((await state()).startsWith('Active ') ? state() : undefined),
        20_000,
        100,
      );
      assert.match(active, /^Active \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      await eventually(
        'status Expired',
        async () => ((await state()).startsWith('Expired ') ? true : undefined),
        20_000,
        100,
      );
      const message = await field('{.status.message}');
      assert.match(message, /admits nothing/);
    } finally {
      await watcher.stop();
    }
  });
});
