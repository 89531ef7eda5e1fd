import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { policyCommand } from '../../src/cli/policy.ts';
import { type ImageTransport, type Signature, TransportRegistry } from '../../src/image/index.ts';
import { captureIo, runCli } from '../helpers/cli.ts';
import { conformancePath } from '../helpers/conformance.ts';
import { fixture, pathLikeReference } from '../image/signature/helpers.ts';

// The dir: transport lives on another branch; this stand-in reads the upstream dir-img-*
// fixtures (manifest.json, signature-N) so the command's wiring can be tested end to end.
const fixtureDir: ImageTransport = {
  name: 'dir',
  validatePolicyConfigurationScope: () => {},
  parseReference(path: string) {
    const base = pathLikeReference(fixtureDir, path);
    return {
      ...base,
      dockerReference: () => undefined,
      async newImageSource() {
        return {
          reference: base,
          hasThreadSafeGetBlob: false,
          getManifest: async () => ({ manifest: await readFile(join(path, 'manifest.json')), mimeType: '' }),
          getBlob: () => Promise.reject(new Error('unused')),
          async getSignatures() {
            if (path.endsWith('/unreadable')) throw new Error('reading signatures: connection refused');
            const sigs: Signature[] = [];
            for (let i = 1; ; i++) {
              const blob = await readFile(join(path, `signature-${i}`)).catch(() => undefined);
              if (blob === undefined) return sigs;
              sigs.push({ format: 'simple-signing', blob });
            }
          },
          close: async () => {},
        };
      },
    };
  },
};

async function run(argv: string[]) {
  const { io, result } = captureIo();
  return result(await policyCommand({ transports: new TransportRegistry([fixtureDir]) }).run(argv, io));
}

describe('portcullis policy lint', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-lint-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const write = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };

  it('the upstream fixture policy is valid: exit 0', async () => {
    const r = await runCli(['policy', 'lint', fileURLToPath(fixture('policy.json'))]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('an invalid policy: exit 1 with file:line:column, pointer and what was expected', async () => {
    const p = await write(
      'bad.json',
      '{\n  "default": [{"type": "reject"}],\n  "transports": {"docker": {"x": [{"type": "signedBy", "keyType": "GPGKeys"}]}}\n}',
    );
    const r = await runCli(['policy', 'lint', p]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /bad\.json:3:\d+: error: \/transports\/docker\/x\/0 at 3:\d+: exactly one of keyPath, keyPaths and keyData must be specified, none present \[JSON_INVALID_VALUE\]/,
    );
  });

  it('--json reports the error location', async () => {
    const p = await write('dup.json', '{"default":[{"type":"reject"}],"default":[{"type":"reject"}]}');
    const r = await runCli(['policy', 'lint', '--json', p]);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout).error, {
      code: 'JSON_DUPLICATE_KEY',
      pointer: '/default',
      line: 1,
      column: 32,
      message: JSON.parse(r.stdout).error.message,
    });
  });

  const warnings: ReadonlyArray<[string, unknown, string]> = [
    [
      'default insecureAcceptAnything',
      { default: [{ type: 'insecureAcceptAnything' }] },
      'DEFAULT_ACCEPTS_ANYTHING',
    ],
    [
      'a scope weaker than its enclosing scope',
      {
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            'example.com': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k' }],
            'example.com/team/app': [{ type: 'insecureAcceptAnything' }],
          },
        },
      },
      'SCOPE_WEAKENS_ENCLOSING',
    ],
    [
      'a short-name docker scope',
      { default: [{ type: 'reject' }], transports: { docker: { busybox: [{ type: 'reject' }] } } },
      'SCOPE_NEVER_MATCHES',
    ],
    [
      'an unknown transport',
      { default: [{ type: 'reject' }], transports: { dockr: { '': [{ type: 'reject' }] } } },
      'UNKNOWN_TRANSPORT',
    ],
    [
      'an unimplemented keyType',
      { default: [{ type: 'signedBy', keyType: 'X509Certificates', keyPath: '/k' }] },
      'REQUIREMENT_ALWAYS_REJECTS',
    ],
    [
      'a transport-wide insecureAcceptAnything over a strict default',
      { default: [{ type: 'reject' }], transports: { docker: { '': [{ type: 'insecureAcceptAnything' }] } } },
      'TRANSPORT_ACCEPTS_ANYTHING',
    ],
  ];
  for (const [name, policy, code] of warnings) {
    it(`warns about ${name} (${code}) and still exits 0`, async () => {
      const p = await write(`${code}.json`, JSON.stringify(policy));
      const r = await runCli(['policy', 'lint', '--json', p]);
      assert.equal(r.code, 0);
      assert.deepEqual(
        JSON.parse(r.stdout).warnings.map((w: { code: string }) => w.code),
        [code],
      );
      assert.match(r.stderr, new RegExp(`warning: .*\\[${code}\\]`));
    });
  }

  it('an unreadable file: exit 2', async () => {
    assert.equal((await runCli(['policy', 'lint', join(dir, 'missing.json')])).code, 2);
  });
});

describe('portcullis policy eval', () => {
  let dir: string;
  let signedBy: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-eval-'));
    signedBy = join(dir, 'signed-by.json');
    await writeFile(
      signedBy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          dir: {
            '': [
              {
                type: 'signedBy',
                keyType: 'GPGKeys',
                keyPath: conformancePath('containers-image/signature/fixtures/public-key.gpg'),
                signedIdentity: { type: 'exactReference', dockerReference: 'testing/manifest:latest' },
              },
            ],
          },
        },
      }),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const image = (name: string) => `dir:${fileURLToPath(fixture(name))}`;

  it('allowed: exit 0 and an explanation', async () => {
    const r = await run(['eval', '--policy', signedBy, image('dir-img-valid')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^allowed: dir:/);
    assert.match(
      r.stdout,
      /signature 0 \(simple-signing\): accepted \(key 08CD26E446E2E95249B7A405E932F44B23E8DD43/,
    );
  });

  it('denied: exit 1 and the upstream reason', async () => {
    const r = await run(['eval', '--policy', signedBy, image('dir-img-unsigned')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /reason: A signature was required, but no signature exists/);
  });

  it('--json prints the explanation object', async () => {
    const r = await run(['eval', '--json', '--policy', signedBy, image('dir-img-modified-manifest')]);
    assert.equal(r.code, 1);
    const e = JSON.parse(r.stdout);
    assert.deepEqual(e.matched, { transport: 'dir', scope: '' });
    assert.equal(e.requirements[0].signatures[0].code, 'SIGNATURE_DIGEST_MISMATCH');
  });

  it('--require-signed denies an insecureAcceptAnything policy', async () => {
    const p = join(dir, 'open.json');
    await writeFile(p, '{"default":[{"type":"insecureAcceptAnything"}]}');
    assert.equal((await run(['eval', '--policy', p, image('dir-img-unsigned')])).code, 0);
    const r = await run(['eval', '--require-signed', '--policy', p, image('dir-img-unsigned')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /No signature verification policy found for image dir:/);
  });

  const errors: ReadonlyArray<[string, string[]]> = [
    ['an unknown transport', ['eval', '--policy', 'POLICY', 'nosuch:thing']],
    ['a missing policy file', ['eval', '--policy', '/nonexistent/policy.json', 'dir:/x']],
    ['an image name without a transport', ['eval', '--policy', 'POLICY', 'busybox']],
  ];
  for (const [name, argv] of errors) {
    it(`${name}: exit 2`, async () => {
      const r = await run(argv.map((a) => (a === 'POLICY' ? signedBy : a)));
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stderr, /^portcullis policy eval: /);
    });
  }

  it('an image whose signatures cannot be read: exit 2, denied, never allowed', async () => {
    const r = await run(['eval', '--json', '--policy', signedBy, 'dir:/nonexistent/unreadable']);
    assert.equal(r.code, 2);
    const e = JSON.parse(r.stdout);
    assert.equal(e.allowed, false);
    assert.equal(e.code, 'EVALUATION_FAILED');
  });

  it('an invalid policy: exit 2 with its location', async () => {
    const p = join(dir, 'invalid.json');
    await writeFile(p, '{"default":[]}');
    const r = await run(['eval', '--policy', p, image('dir-img-valid')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\/default at 1:12/);
  });

  it('is registered in the CLI', async () => {
    const r = await runCli(['policy', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /portcullis policy eval/);
  });
});

describe('portcullis policy export', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-export-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('round-trips policy.json through a ClusterImagePolicy via the policy command', async () => {
    const policy = {
      default: [{ type: 'reject' }],
      transports: { docker: { 'quay.io/team': [{ type: 'insecureAcceptAnything' }] } },
    };
    const json = join(dir, 'policy.json');
    await writeFile(json, JSON.stringify(policy));
    const crd = join(dir, 'cip.yaml');
    const toCrd = await runCli(['policy', 'export', '--name', 'team', '-o', crd, json]);
    assert.equal(toCrd.code, 0, toCrd.stderr);
    assert.match(await readFile(crd, 'utf8'), /kind: "?ClusterImagePolicy"?\n[\s\S]*name: team/);
    const back = await runCli(['policy', 'export', crd]);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(JSON.parse(back.stdout), policy);
  });

  it('an unknown subcommand names export among the choices: exit 2', async () => {
    const r = await runCli(['policy', 'convert']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /lint, eval or export/);
  });
});
