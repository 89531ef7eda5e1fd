import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runPolicyExport } from '../../src/cli/policy-export.ts';
import { parseYamlDocuments } from '../../src/kube/client.ts';
import { conformancePath } from '../helpers/conformance.ts';

/** Plain data: client-node returns metadata as a V1ObjectMeta instance. */
const yamlDocs = (text: string): unknown[] => JSON.parse(JSON.stringify(parseYamlDocuments(text)));

const dir = mkdtempSync(join(tmpdir(), 'policy-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PUB = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';
writeFileSync(join(dir, 'cosign.pub'), PUB);
const b64 = (s: string) => Buffer.from(s).toString('base64');

async function run(argv: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const code = await runPolicyExport(argv, { stdout, stderr, stdin: Readable.from([stdin]), env: {} });
  return { code, stdout: out, stderr: err };
}

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const policyJson = {
  default: [{ type: 'reject' }],
  transports: {
    docker: {
      'quay.io/team': [
        {
          type: 'sigstoreSigned',
          keyPath: join(dir, 'cosign.pub'),
          signedIdentity: { type: 'matchRepository' },
        },
      ],
      '': [{ type: 'insecureAcceptAnything' }],
    },
  },
};

describe('policy export', () => {
  it('policy.json -> ClusterImagePolicy, key files inlined', async () => {
    const r = await run([file('p.json', JSON.stringify(policyJson))]);
    assert.equal(r.code, 0);
    assert.deepEqual(yamlDocs(r.stdout), [
      {
        apiVersion: 'portcullis.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'default' },
        spec: {
          default: [{ type: 'reject' }],
          transports: {
            docker: {
              'quay.io/team': [
                { type: 'sigstoreSigned', keyData: b64(PUB), signedIdentity: { type: 'matchRepository' } },
              ],
              '': [{ type: 'insecureAcceptAnything' }],
            },
          },
        },
      },
    ]);
  });

  it('policy.json -> ImagePolicy with name, namespace and mode', async () => {
    const r = await run([
      '--kind',
      'ImagePolicy',
      '--name',
      'p',
      '--namespace',
      'team-a',
      '--mode',
      'warn',
      file('p2.json', '{"default":[{"type":"reject"}]}'),
    ]);
    const [obj] = yamlDocs(r.stdout) as { kind: string; metadata: unknown; spec: unknown }[];
    assert.equal(obj?.kind, 'ImagePolicy');
    assert.deepEqual(obj?.metadata, { name: 'p', namespace: 'team-a' });
    assert.deepEqual(obj?.spec, { mode: 'warn', default: [{ type: 'reject' }] });
  });

  it('round-trips policy.json -> CRD -> policy.json (keys as data)', async () => {
    const crd = await run([file('p3.json', JSON.stringify(policyJson))]);
    const back = await run(['-'], crd.stdout);
    assert.equal(back.code, 0);
    assert.deepEqual(JSON.parse(back.stdout), {
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'quay.io/team': [
            { type: 'sigstoreSigned', signedIdentity: { type: 'matchRepository' }, keyData: b64(PUB) },
          ],
          '': [{ type: 'insecureAcceptAnything' }],
        },
      },
    });
    assert.equal(back.stderr, '');
  });

  it('round-trips acceptDigestOnlySignatures on sigstoreSigned', async () => {
    const policy = {
      default: [
        { type: 'sigstoreSigned', keyPath: join(dir, 'cosign.pub'), acceptDigestOnlySignatures: true },
      ],
    };
    const crd = await run([file('p-digest-only.json', JSON.stringify(policy))]);
    assert.equal(crd.code, 0, crd.stderr);
    const [obj] = yamlDocs(crd.stdout) as { spec: { default: { acceptDigestOnlySignatures?: boolean }[] } }[];
    assert.equal(obj?.spec.default[0]?.acceptDigestOnlySignatures, true);
    const back = await run(['-'], crd.stdout);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as typeof policy).default[0]?.acceptDigestOnlySignatures, true);
  });

  it('round-trips acceptIndexSignatures on signedBy and sigstoreSigned', async () => {
    writeFileSync(join(dir, 'pubring.gpg'), 'not really a keyring');
    const policy = {
      default: [
        { type: 'sigstoreSigned', keyPath: join(dir, 'cosign.pub'), acceptIndexSignatures: true },
        {
          type: 'signedBy',
          keyType: 'GPGKeys',
          keyPath: join(dir, 'pubring.gpg'),
          acceptIndexSignatures: false,
        },
      ],
    };
    const crd = await run([file('p-index.json', JSON.stringify(policy))]);
    assert.equal(crd.code, 0);
    const [obj] = yamlDocs(crd.stdout) as { spec: { default: { acceptIndexSignatures?: boolean }[] } }[];
    assert.deepEqual(
      obj?.spec.default.map((r) => r.acceptIndexSignatures),
      [true, false],
    );
    const back = await run(['-'], crd.stdout);
    assert.equal(back.code, 0);
    assert.deepEqual(
      (JSON.parse(back.stdout) as typeof policy).default.map((r) => r.acceptIndexSignatures),
      [true, false],
    );
  });

  const crdWithRef = `apiVersion: portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  mode: warn
  namespaceSelector: {matchLabels: {trust: "on"}}
  default: [{type: reject}]
  transports:
    docker:
      quay.io/team: [{type: sigstoreSigned, keySecretRef: {name: cosign, key: cosign.pub}}]
`;

  it('CRD -> policy.json writes references as paths under --ref-dir and warns about mode and selector', async () => {
    const r = await run(['--ref-dir', '/etc/containers/keys', '-'], crdWithRef);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), {
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'quay.io/team': [{ type: 'sigstoreSigned', keyPath: '/etc/containers/keys/cosign/cosign.pub' }],
        },
      },
    });
    assert.match(r.stderr, /mode warn/);
    assert.match(r.stderr, /selects namespaces/);
  });

  const failures: { name: string; argv: string[]; stdin?: string; code: 'USAGE' | 'FAILED' }[] = [
    { name: 'a reference without --ref-dir', argv: ['-'], stdin: crdWithRef, code: 'FAILED' },
    {
      name: 'several policies without --name',
      argv: ['-'],
      stdin: `${crdWithRef}---\n${crdWithRef.replace('name: signed', 'name: other')}`,
      code: 'USAGE',
    },
    {
      name: 'a policy.json the strict parser refuses (duplicate key)',
      argv: ['-'],
      stdin: '{"default":[{"type":"reject"}],"default":[]}',
      code: 'FAILED',
    },
    {
      name: 'a key file that does not exist',
      argv: ['-'],
      stdin: '{"default":[{"type":"sigstoreSigned","keyPath":"/nonexistent/k.pub"}]}',
      code: 'FAILED',
    },
    {
      name: 'an ImagePolicy without namespace',
      argv: ['--kind', 'ImagePolicy', '-'],
      stdin: '{"default":[{"type":"reject"}]}',
      code: 'USAGE',
    },
    {
      name: 'an unknown mode',
      argv: ['--mode', 'permissive', '-'],
      stdin: '{"default":[{"type":"reject"}]}',
      code: 'USAGE',
    },
    { name: 'no input', argv: [], code: 'USAGE' },
  ];
  for (const c of failures) {
    it(`refuses ${c.name}`, async () => {
      await assert.rejects(run(c.argv, c.stdin), { code: c.code });
    });
  }
});

describe('policy export: skopeo enforces the exported policy.json', () => {
  const image = join(dir, 'img');
  before(() => {
    // A small real image in dir: form, from skopeo's own test data.
    const archive = join(dir, 'two.tar');
    writeFileSync(
      archive,
      execFileSync('xz', ['-dc', conformancePath('skopeo/systemtest/testdata/docker-two-images.tar.xz')]),
    );
    execFileSync('skopeo', ['copy', '--insecure-policy', `docker-archive:${archive}:@0`, `dir:${image}`], {
      stdio: 'ignore',
    });
  });

  const crd = (spec: string) =>
    `apiVersion: portcullis.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: node}\nspec:\n${spec}`;
  const cases: { name: string; spec: string; ok: boolean; stderr?: RegExp }[] = [
    { name: 'accept anything: copied', spec: '  default: [{type: insecureAcceptAnything}]\n', ok: true },
    {
      name: 'reject: refused by policy',
      spec: '  default: [{type: reject}]\n',
      ok: false,
      stderr: /rejected by policy/,
    },
    {
      name: 'a key reference written as a path: parsed, and the unsigned image refused',
      spec: '  default: [{type: sigstoreSigned, keySecretRef: {name: cosign, key: cosign.pub}}]\n',
      ok: false,
      stderr: /no signature exists/,
    },
  ];
  for (const [i, c] of cases.entries()) {
    it(c.name, async () => {
      const exported = await run(['--ref-dir', join(dir, 'keys'), '-'], crd(c.spec));
      const policy = file(`node-${i}.json`, exported.stdout);
      const r = spawnSync(
        'skopeo',
        ['copy', '--policy', policy, `dir:${image}`, `dir:${join(dir, `out-${i}`)}`],
        { encoding: 'utf8' },
      );
      assert.equal(r.status === 0, c.ok, r.stderr);
      if (c.stderr !== undefined) assert.match(r.stderr, c.stderr);
    });
  }
});
