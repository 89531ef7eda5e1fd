// The policy CRDs and the controller against the real kube-apiserver: schemas and CEL rules
// refuse invalid policies with field paths, every policy-parse conformance case gets the same
// answer from the API server + CRD path as from the parser, and the controller writes status,
// Events and a Lease, follows changes within seconds, and reads pull secrets.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runPolicyExport } from '../src/cli/policy-export.ts';
import { parsePolicy } from '../src/image/signature/index.ts';
import { ClientKubeApi, loadKubeConfig, parseYamlDocuments } from '../src/kube/client.ts';
import { DEFAULT_INFORMER_OPTIONS } from '../src/kube/informer.ts';
import { LeaderElector } from '../src/kube/leader.ts';
import { PolicyController } from '../src/kube/policy-controller.ts';
import { KubePullSecrets } from '../src/kube/pull-secrets.ts';
import { specToPolicyJson } from '../src/policy/crd/convert.ts';
import { compileWithKeys } from '../test/kube/compile.ts';
import { fixture } from '../test/kube/fake-cluster.ts';
import { CRD_FILES } from '../test/policy/crd/crd-files.ts';
import { cases, caseText, expressSpec, KEY_BYTES } from '../test/policy/crd/express.ts';
import { type Cluster, eventually, startCluster } from './harness.ts';

const CONTROLLER_NS = 'portcullis-system';
let cluster: Cluster;

async function kubectl(args: string[], input?: string) {
  return cluster.kubectl(args, input === undefined ? {} : { input });
}

async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A recorded object stripped of what the API server owns, ready to apply again. */
function recorded(name: string): string {
  const o = fixture<{ metadata: Record<string, unknown> }>(name);
  const { name: n, namespace, labels } = o.metadata;
  return JSON.stringify({ ...o, metadata: { name: n, namespace, labels } });
}

const policy = (
  kind: 'ClusterImagePolicy' | 'ImagePolicy',
  name: string,
  spec: unknown,
  namespace?: string,
) =>
  JSON.stringify({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    spec,
  });

/** Runs `portcullis policy export ARGS` on `input`; returns stdout. */
async function exportPolicy(args: string[], input: string): Promise<string> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await runPolicyExport(args, {
    stdout,
    stderr: new PassThrough(),
    stdin: Readable.from([input]),
    env: {},
  });
  assert.equal(code, 0);
  return out;
}

before(async () => {
  cluster = await startCluster();
  await mustKubectl(['apply', '-f', CRD_FILES.ClusterImagePolicy, '-f', CRD_FILES.ImagePolicy]);
  await mustKubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/clusterimagepolicies.portcullis.dev',
    'crd/imagepolicies.portcullis.dev',
  ]);
  await mustKubectl(['create', 'namespace', CONTROLLER_NS]);
  for (const f of [
    'namespace-team-a',
    'secret-cosign',
    'configmap-team-keys',
    'secret-regcred',
    'secret-legacy',
    'serviceaccount-builder',
  ]) {
    await mustKubectl(['apply', '-f', '-'], recorded(f));
  }
});

let restarted: ChildProcess | undefined;

after(async () => {
  restarted?.kill('SIGTERM');
  await cluster?.stop();
});

/**
 * Kills this cluster's kube-apiserver, runs `whileDown`, and starts it again with the same
 * arguments (same port, certificates and etcd); resolves when it is ready again.
 */
async function restartApiServer(whileDown: () => Promise<void>): Promise<void> {
  const mine = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((pid) => {
      try {
        return {
          pid: Number(pid),
          args: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
        };
      } catch {
        return undefined;
      }
    })
    .find(
      (p) => p?.args[0] === cluster.binaries.kubeApiserver && p.args.some((a) => a.includes(cluster.dir)),
    );
  assert.ok(mine !== undefined, 'kube-apiserver of this cluster not found');
  // SIGKILL: a crash, and no graceful drain of the open watches to wait for.
  process.kill(mine.pid, 'SIGKILL');
  await eventually(
    'kube-apiserver stopped',
    async () => (existsSync(`/proc/${mine.pid}`) ? undefined : true),
    30_000,
    100,
  );
  await whileDown();
  const log = openSync(join(cluster.dir, 'kube-apiserver-restarted.log'), 'a');
  restarted = spawn(mine.args[0]!, mine.args.slice(1), { stdio: ['ignore', log, log] });
  await eventually(
    'kube-apiserver ready again',
    async () => ((await kubectl(['get', '--raw', '/readyz'])).code === 0 ? true : undefined),
    90_000,
    500,
  );
}

describe('the policy CRDs on kube-apiserver', () => {
  test('short names, categories and printer columns are served', async () => {
    const out = await mustKubectl(['api-resources', '--api-group=portcullis.dev', '-o', 'wide']);
    assert.match(out, /clusterimagepolicies\s+cip\s+portcullis\.dev\/v1alpha1\s+false\s+ClusterImagePolicy/);
    assert.match(out, /imagepolicies\s+ipol\s+portcullis\.dev\/v1alpha1\s+true\s+ImagePolicy/);
    await mustKubectl(['apply', '-f', '-'], recorded('cip-everywhere'));
    const table = await mustKubectl(['get', 'cip', 'everywhere']);
    assert.match(table.split('\n')[0] ?? '', /NAME\s+MODE\s+READY\s+REASON\s+AGE/);
    assert.match(table, /everywhere\s+warn/);
  });

  test('the recorded valid policies are accepted, mode defaulted to enforce', async () => {
    await mustKubectl(['apply', '-f', '-'], recorded('cip-signed-quay'));
    await mustKubectl(['apply', '-f', '-'], recorded('ip-team-a'));
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('ClusterImagePolicy', 'no-mode', { default: [{ type: 'reject' }] }),
    );
    assert.equal(await mustKubectl(['get', 'cip', 'no-mode', '-o', 'jsonpath={.spec.mode}']), 'enforce');
  });

  const refused: { name: string; spec: unknown; field: RegExp; kind?: 'ImagePolicy' }[] = [
    {
      name: 'two key sources',
      spec: { default: [{ type: 'sigstoreSigned', keyData: 'YWJj', keySecretRef: { name: 'a', key: 'b' } }] },
      field: /spec\.default\[0\]: Invalid value: .*exactly one of keyData, keyDatas/,
    },
    {
      name: 'signedBy without keyType',
      spec: { default: [{ type: 'signedBy', keyData: 'YWJj' }] },
      field: /spec\.default\[0\]\.keyType: .*keyType is required/,
    },
    {
      name: 'fulcio without Rekor key',
      spec: {
        default: [{ type: 'sigstoreSigned', fulcio: { caData: 'YWJj', oidcIssuer: 'i', subjectEmail: 'e' } }],
      },
      field: /spec\.default\[0\]\.fulcio: .*fulcio requires a rekorPublicKey/,
    },
    {
      name: 'fulcio with both subjectEmail and the subjectRegExp extension',
      spec: {
        default: [
          {
            type: 'sigstoreSigned',
            fulcio: { caData: 'YWJj', oidcIssuer: 'i', subjectEmail: 'e', subjectRegExp: 'e' },
            rekorPublicKeyData: 'YWJj',
          },
        ],
      },
      field: /spec\.default\[0\]\.fulcio: .*exactly one of subjectEmail, subjectRegExp/,
    },
    {
      name: 'fulcio without a CA nor a trusted root',
      spec: {
        default: [
          {
            type: 'sigstoreSigned',
            fulcio: { oidcIssuer: 'i', subjectEmail: 'e' },
            rekorPublicKeyData: 'YWJj',
          },
        ],
      },
      field:
        /spec\.default\[0\]\.fulcio: .*fulcio needs one of caData, caSecretRef, caConfigMapRef, or a trustedRoot/,
    },
    {
      name: 'key data that is not base64',
      spec: { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData: 'not base64!' }] },
      field: /spec\.default\[0\]\.keyData: .*should match/,
    },
    { name: 'an empty requirement list', spec: { default: [] }, field: /spec\.default: .*at least 1 items/ },
    {
      name: 'an exactReference without dockerReference',
      spec: {
        default: [
          {
            type: 'signedBy',
            keyType: 'GPGKeys',
            keyData: 'YWJj',
            signedIdentity: { type: 'exactReference' },
          },
        ],
      },
      field: /spec\.default\[0\]\.signedIdentity\.dockerReference: .*dockerReference is required/,
    },
    {
      name: 'keys on a reject requirement',
      spec: { default: [{ type: 'reject', keyData: 'YWJj' }] },
      field: /spec\.default\[0\]: .*keys are only for signedBy, sigstoreSigned and sigstoreAttested/,
    },
    {
      name: 'a non-canonical dir scope',
      spec: { default: [{ type: 'reject' }], transports: { dir: { '/a/../b': [{ type: 'reject' }] } } },
      field: /spec\.transports: .*dir scopes must be absolute/,
    },
    {
      name: 'a file path (not part of the CRD)',
      spec: { default: [{ type: 'sigstoreSigned', keyPath: '/k' }] },
      field: /unknown field "spec\.default\[0\]\.keyPath"/,
    },
    {
      name: 'notationSigned without a ca or signingAuthority bundle',
      spec: {
        default: [
          {
            type: 'notationSigned',
            trustStore: { tsaData: 'YWJj' },
            trustedIdentities: ['*'],
            signatureVerification: { level: 'strict' },
          },
        ],
      },
      field: /spec\.default\[0\]: .*notationSigned needs a ca or signingAuthority certificate bundle/,
    },
    {
      name: 'a notationSigned override that skips authenticity',
      spec: {
        default: [
          {
            type: 'notationSigned',
            trustStore: { caData: 'YWJj' },
            trustedIdentities: ['*'],
            signatureVerification: { level: 'strict', override: { authenticity: 'skip' } },
          },
        ],
      },
      field: /spec\.default\[0\]\.signatureVerification\.override\.authenticity: Unsupported value: "skip"/,
    },
    {
      name: 'acceptDigestOnlySignatures on signedBy',
      spec: {
        default: [
          { type: 'signedBy', keyType: 'GPGKeys', keyData: 'YWJj', acceptDigestOnlySignatures: true },
        ],
      },
      field: /spec\.default\[0\]: .*acceptDigestOnlySignatures is only for sigstoreSigned/,
    },
    {
      name: 'an unknown mode',
      spec: { mode: 'permissive', default: [{ type: 'reject' }] },
      field: /spec\.mode: Unsupported value: "permissive"/,
    },
    {
      name: 'a namespaceSelector on an ImagePolicy',
      kind: 'ImagePolicy',
      spec: { namespaceSelector: {}, default: [{ type: 'reject' }] },
      field: /unknown field "spec\.namespaceSelector"/,
    },
  ];
  for (const c of refused) {
    test(`refuses ${c.name}, naming the field`, async () => {
      const kind = c.kind ?? 'ClusterImagePolicy';
      const r = await kubectl(
        ['create', '-f', '-'],
        policy(kind, 'refused', c.spec, kind === 'ImagePolicy' ? 'team-a' : undefined),
      );
      assert.notEqual(r.code, 0, 'the API server accepted it');
      assert.match(r.stderr, c.field);
    });
  }

  test('key data whose base64 holds + and / is accepted (real keys do)', async () => {
    const keyData = Buffer.from([0xfb, 0xff, 0xbf, 0x01]).toString('base64');
    assert.match(keyData, /[+/]/);
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('ClusterImagePolicy', 'key-with-plus-and-slash', {
        default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData }],
      }),
    );
  });

  test('key data wrapped over lines, as base64 prints it, is accepted as the parser accepts it', async () => {
    const keyData = Buffer.from('a key long enough to wrap, '.repeat(4))
      .toString('base64')
      .replace(/.{76}/g, '$&\n');
    assert.match(keyData, /\n/);
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('ClusterImagePolicy', 'key-wrapped', {
        default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData }],
      }),
    );
  });

  test('acceptDigestOnlySignatures is accepted on sigstoreSigned', async () => {
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('ClusterImagePolicy', 'digest-only', {
        default: [{ type: 'sigstoreSigned', keyData: 'YWJj', acceptDigestOnlySignatures: true }],
      }),
    );
  });

  test('the sigstoreSigned extensions are accepted: RegExp identities and a trusted root', async () => {
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('ClusterImagePolicy', 'keyless-extensions', {
        default: [
          {
            type: 'sigstoreSigned',
            fulcio: {
              oidcIssuerRegExp: 'https://token\\.actions\\..*',
              subjectRegExp: 'https://github\\.com/example/.*',
            },
            trustedRootData: Buffer.from('{}').toString('base64'),
          },
        ],
      }),
    );
  });

  test('notationSigned is accepted with a trust store, identities and verification settings', async () => {
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('ClusterImagePolicy', 'notation', {
        default: [
          {
            type: 'notationSigned',
            trustStore: {
              caSecretRef: { name: 'notation', key: 'ca.pem' },
              tsaData: Buffer.from('tsa').toString('base64'),
            },
            trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme'],
            signatureVerification: {
              level: 'permissive',
              override: { revocation: 'skip' },
              verifyTimestamp: 'afterCertExpiry',
            },
          },
        ],
      }),
    );
  });

  test('policy export: a policy.json becomes a CRD the API server accepts, and exports back', async () => {
    const policyJson = JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'quay.io/team': [
            { type: 'sigstoreSigned', keyData: 'YWJj', signedIdentity: { type: 'matchRepository' } },
          ],
        },
      },
    });
    const crd = await exportPolicy(['--name', 'exported', '-'], policyJson);
    await mustKubectl(['apply', '-f', '-'], crd);
    const served = await mustKubectl(['get', 'cip', 'exported', '-o', 'yaml']);
    assert.deepEqual(JSON.parse(await exportPolicy(['-'], served)), JSON.parse(policyJson));
  });

  test('every policy-parse case: API server + CRD path answer as the parser does', async () => {
    const disagreements: string[] = [];
    const check = async (c: (typeof cases)[number]) => {
      const text = caseText(c);
      // Texts JSON objects cannot carry (not JSON, duplicate keys) go to the API server as they are.
      let doc: unknown;
      try {
        JSON.parse(text);
        [doc] = parseYamlDocuments(text);
      } catch {
        doc = undefined;
      }
      const body =
        doc === undefined
          ? `{"apiVersion":"portcullis.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"case-${c.id}"},"spec":${text}}`
          : policy('ClusterImagePolicy', `case-${c.id}`, expressSpec(doc));
      // Raw bytes with strict field validation: kubectl's own decoding would drop duplicate keys
      // before the API server could see them (what a kubectl manifest with duplicates gets).
      const r = await kubectl(
        [
          'create',
          '--raw',
          '/apis/portcullis.dev/v1alpha1/clusterimagepolicies?dryRun=All&fieldValidation=Strict',
          '-f',
          '-',
        ],
        body,
      );
      let accepted = false;
      if (r.code === 0) {
        const served = JSON.parse(r.stdout) as { spec: unknown };
        try {
          parsePolicy(specToPolicyJson(served.spec, { resolve: () => ({ kind: 'data', bytes: KEY_BYTES }) }));
          accepted = true;
        } catch {
          accepted = false;
        }
        if (!accepted && c.valid)
          disagreements.push(`case ${c.id}: the API server accepted it but the CRD path refused it`);
      } else if (c.valid) {
        disagreements.push(`case ${c.id}: the API server refused a valid policy: ${r.stderr.trim()}`);
      }
      if (accepted !== c.valid && !c.valid)
        disagreements.push(`case ${c.id}: invalid but accepted (${c.notes ?? ''})`);
    };
    const queue = [...cases];
    await Promise.all(
      [1, 2, 3, 4].map(async () => {
        for (let c = queue.shift(); c !== undefined; c = queue.shift()) await check(c);
      }),
    );
    assert.deepEqual(disagreements, []);
  });
});

describe('the controller against kube-apiserver', () => {
  let controller: PolicyController<Awaited<ReturnType<typeof compileWithKeys>>>;
  let leader: LeaderElector;
  let pullSecrets: KubePullSecrets;
  const errors: string[] = [];

  before(async () => {
    const api = new ClientKubeApi(loadKubeConfig(cluster.kubeconfig));
    const informer = { ...DEFAULT_INFORMER_OPTIONS, onError: (err: unknown) => errors.push(String(err)) };
    leader = new LeaderElector(api, {
      namespace: CONTROLLER_NS,
      name: 'portcullis-controller',
      identity: 'e2e-replica',
      leaseDurationSeconds: 15,
      retryPeriodMs: 1000,
      now: () => new Date(),
      onError: (err) => errors.push(String(err)),
    });
    assert.equal(await leader.tryAcquireOrRenew(), true, errors.join('; '));
    controller = new PolicyController({
      api,
      compile: compileWithKeys,
      controllerNamespace: CONTROLLER_NS,
      leader,
      informer,
      refLoadTimeoutMs: 5000,
      now: () => new Date(),
      onError: (err, context) => errors.push(`${context}: ${String(err)}`),
    });
    pullSecrets = new KubePullSecrets(api, informer);
    await Promise.all([controller.start(), pullSecrets.start()]);
  });

  after(async () => {
    leader?.stop();
    await Promise.all([controller?.stop(), pullSecrets?.stop()]);
  });

  const readyOf = async (args: string[]) =>
    mustKubectl([
      'get',
      ...args,
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Invalid")].reason}/{.status.observedGeneration}',
    ]);

  test('is ready after the first sync and applies the policies a namespace selects', async () => {
    assert.equal(controller.ready(), true);
    const keys = controller.policiesFor('team-a').map((p) => `${p.key}:${p.state}`);
    assert.ok(keys.includes('ClusterImagePolicy/signed-quay:ready'), keys.join(', '));
    assert.ok(keys.includes('ImagePolicy/team-a/team-a:ready'), keys.join(', '));
    assert.ok(!controller.policiesFor('default').some((p) => p.key === 'ClusterImagePolicy/signed-quay'));
  });

  test('writes Ready status, the READY column and a Compiled event', async () => {
    await eventually('status Ready', async () =>
      (await readyOf(['cip', 'signed-quay'])) === 'True/Compiled/1' ? true : undefined,
    );
    assert.match(await mustKubectl(['get', 'cip', 'signed-quay']), /signed-quay\s+enforce\s+True\s+Compiled/);
    await eventually('a Compiled event', async () => {
      const out = await mustKubectl([
        'get',
        'events',
        '-n',
        'default',
        '--field-selector',
        'involvedObject.name=signed-quay',
        '-o',
        'jsonpath={.items[*].reason}',
      ]);
      return out.includes('Compiled') ? true : undefined;
    });
    const holder = await mustKubectl([
      'get',
      'lease',
      '-n',
      CONTROLLER_NS,
      'portcullis-controller',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ]);
    assert.equal(holder, 'e2e-replica');
  });

  test('a policy update takes effect within two seconds', async () => {
    const before = controller.policiesFor('default').find((p) => p.key === 'ClusterImagePolicy/no-mode');
    assert.ok(before?.state === 'ready');
    const started = performance.now();
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('ClusterImagePolicy', 'no-mode', {
        mode: 'warn',
        default: [{ type: 'insecureAcceptAnything' }],
      }),
    );
    const applied = performance.now();
    await eventually(
      'the new version in force',
      async () => {
        const p = controller.policiesFor('default').find((x) => x.key === 'ClusterImagePolicy/no-mode');
        return p?.state === 'ready' && p.hash !== before.hash && p.mode === 'warn' ? true : undefined;
      },
      2000,
      10,
    );
    const now = performance.now();
    process.stdout.write(
      `# policy update in force ${(now - started).toFixed(0)} ms after kubectl apply started (kubectl itself took ${(applied - started).toFixed(0)} ms)\n`,
    );
  });

  test('a missing Secret is reported, then the policy recovers when the Secret appears', async () => {
    await mustKubectl(
      ['apply', '-f', '-'],
      policy(
        'ImagePolicy',
        'late-key',
        { default: [{ type: 'sigstoreSigned', keySecretRef: { name: 'late', key: 'cosign.pub' } }] },
        'team-a',
      ),
    );
    await eventually('ReferenceNotFound', async () =>
      (await readyOf(['ipol', '-n', 'team-a', 'late-key'])) === 'False/ReferenceNotFound/1'
        ? true
        : undefined,
    );
    assert.equal(
      controller.policiesFor('team-a').find((p) => p.key === 'ImagePolicy/team-a/late-key')?.state,
      'failed',
    );
    const secret = JSON.parse(recorded('secret-cosign')) as { metadata: Record<string, unknown> };
    await mustKubectl(
      ['apply', '-f', '-'],
      JSON.stringify({ ...secret, metadata: { name: 'late', namespace: 'team-a' } }),
    );
    await eventually('Ready', async () =>
      (await readyOf(['ipol', '-n', 'team-a', 'late-key'])) === 'True/Compiled/1' ? true : undefined,
    );
  });

  test('a key that does not parse keeps the last good version', async () => {
    const good = controller.policiesFor('team-a').find((p) => p.key === 'ImagePolicy/team-a/team-a');
    assert.ok(good?.state === 'ready');
    await mustKubectl([
      'create',
      'configmap',
      'team-keys',
      '-n',
      'team-a',
      '--from-literal=cosign.pub=not a key',
      '--dry-run=client',
      '-o',
      'json',
    ]).then((cm) => mustKubectl(['apply', '-f', '-'], cm));
    await eventually('PolicyInvalid', async () =>
      (await readyOf(['ipol', '-n', 'team-a', 'team-a'])) === 'False/PolicyInvalid/1' ? true : undefined,
    );
    const kept = controller.policiesFor('team-a').find((p) => p.key === 'ImagePolicy/team-a/team-a');
    assert.ok(kept?.state === 'ready' && kept.hash === good.hash);
    assert.equal(
      await mustKubectl([
        'get',
        'ipol',
        '-n',
        'team-a',
        'team-a',
        '-o',
        'jsonpath={.status.activeGeneration}',
      ]),
      '1',
    );
  });

  test('status edited to nonsense through the status subresource is put right', async () => {
    await mustKubectl([
      'patch',
      'cip',
      'signed-quay',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          policyHash: 'forged',
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'Hacked',
              message: 'x',
              lastTransitionTime: '2020-01-01T00:00:00Z',
            },
          ],
        },
      }),
    ]);
    await eventually('status restored', async () =>
      (await readyOf(['cip', 'signed-quay'])) === 'True/Compiled/1' ? true : undefined,
    );
    const hash = await mustKubectl(['get', 'cip', 'signed-quay', '-o', 'jsonpath={.status.policyHash}']);
    assert.notEqual(hash, 'forged');
  });

  test('kube-apiserver restarts: the last policies keep serving, the informers reconnect and catch up', async () => {
    const keysBefore = controller.policiesFor('team-a').map((p) => `${p.key}:${p.state}`);
    await restartApiServer(async () => {
      assert.deepEqual(
        controller.policiesFor('team-a').map((p) => `${p.key}:${p.state}`),
        keysBefore,
        'the cache is kept while the API server is away',
      );
    });
    await mustKubectl(['delete', 'ipol', '-n', 'team-a', 'late-key']);
    await eventually(
      'the deletion seen after reconnecting',
      async () =>
        controller.policiesFor('team-a').some((p) => p.key === 'ImagePolicy/team-a/late-key')
          ? undefined
          : true,
      60_000,
    );
    assert.equal(controller.ready(), true);
    await mustKubectl([
      'patch',
      'cip',
      'signed-quay',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"policyHash":"forged-again"}}',
    ]);
    await eventually(
      'status written again after the restart',
      async () =>
        (await mustKubectl(['get', 'cip', 'signed-quay', '-o', 'jsonpath={.status.policyHash}'])) !==
        'forged-again'
          ? true
          : undefined,
      60_000,
    );
  });

  test('the pull secrets of a pod and its ServiceAccount come from the cluster', async () => {
    const got = await pullSecrets.secretsFor({
      namespace: 'team-a',
      serviceAccountName: 'builder',
      imagePullSecrets: ['regcred'],
    });
    assert.equal(got.dockerConfigJson.length, 2);
    assert.ok(got.dockerConfigJson[0]?.includes('registry.example:5000'));
    assert.ok(got.dockerConfigJson[1]?.startsWith('{"auths":{"old.example"'));
  });
});
