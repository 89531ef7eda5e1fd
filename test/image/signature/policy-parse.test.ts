import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { JsonError, parsePolicy, policyFilePaths } from '../../../src/image/signature/index.ts';
import { fakeTransport, fixture, readJson } from './helpers.ts';

interface ParseCase {
  readonly id: number;
  readonly level: string;
  readonly policyJSON: string;
  readonly valid: boolean;
  readonly notes?: string;
}

const { cases } = await readJson<{ cases: ParseCase[] }>('policy-parse-cases.json');

async function documentOf(c: ParseCase): Promise<string> {
  if (c.policyJSON.startsWith('FILE:'))
    return readFile(fixture(c.policyJSON.slice('FILE:fixtures/'.length)), 'utf8');
  return c.policyJSON;
}

describe('policy-parse-cases.json (conformance)', () => {
  it('has every case', () => assert.equal(cases.length, 271));
  for (const c of cases) {
    it(`case ${c.id} (${c.level}) is ${c.valid ? 'valid' : 'invalid'}: ${c.notes ?? ''}`, async () => {
      const doc = await documentOf(c);
      if (c.valid) {
        assert.doesNotThrow(() => parsePolicy(doc));
      } else {
        assert.throws(() => parsePolicy(doc), JsonError);
      }
    });
  }
});

describe('policy parsing: model', () => {
  it('case 15: the upstream fixture parses into the expected structure', async () => {
    const policy = parsePolicy(await readFile(fixture('policy.json')));
    assert.deepEqual(policy.default, [{ type: 'reject' }]);
    const docker = policy.transports.get('docker');
    assert.ok(docker);
    assert.deepEqual(docker.get('example.com/playground'), [{ type: 'insecureAcceptAnything' }]);
    assert.deepEqual(docker.get('example.com/production'), [
      {
        type: 'signedBy',
        keyType: 'GPGKeys',
        keys: { kind: 'path', path: '/keys/employee-gpg-keyring' },
        signedIdentity: { type: 'matchRepoDigestOrExact' },
      },
    ]);
    assert.deepEqual(policy.transports.get('dir')?.get(''), [{ type: 'insecureAcceptAnything' }]);
  });

  it('defaults signedIdentity to matchRepoDigestOrExact (case 274)', () => {
    const p = parsePolicy('{"default":[{"type":"sigstoreSigned","keyData":"YWJj"}]}');
    const req = p.default[0];
    assert.equal(req.type, 'sigstoreSigned');
    assert.deepEqual(req.type === 'sigstoreSigned' && req.signedIdentity, { type: 'matchRepoDigestOrExact' });
    assert.deepEqual(req.type === 'sigstoreSigned' && req.trust, {
      kind: 'publicKeys',
      keys: { kind: 'data', data: new Uint8Array([0x61, 0x62, 0x63]) },
    });
  });

  it('keeps keyPaths: [] for signedBy as a present, empty source', () => {
    const p = parsePolicy('{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":[]}]}');
    assert.deepEqual(p.default[0].type === 'signedBy' && p.default[0].keys, { kind: 'paths', paths: [] });
  });

  it('stores fulcio and rekor sources', () => {
    const p = parsePolicy(
      '{"default":[{"type":"sigstoreSigned","fulcio":{"caData":"YWJj","oidcIssuer":"https://i","subjectEmail":"a@b"},"rekorPublicKeyPaths":["/r1","/r2"]}]}',
    );
    const req = p.default[0];
    assert.ok(req.type === 'sigstoreSigned');
    assert.equal(req.trust.kind, 'fulcio');
    assert.deepEqual(req.rekorPublicKeys, { kind: 'paths', paths: ['/r1', '/r2'] });
  });
});

describe('policy parsing: key source presence (upstream code reading)', () => {
  const table: ReadonlyArray<[string, unknown, boolean]> = [
    [
      'signedBy keyPath "" with keyData: two sources present',
      { type: 'signedBy', keyType: 'GPGKeys', keyPath: '', keyData: 'YWJj' },
      false,
    ],
    ['signedBy keyData "" is an empty keyring', { type: 'signedBy', keyType: 'GPGKeys', keyData: '' }, true],
    [
      'sigstoreSigned keyPath "" with keyData: the empty path is no source',
      { type: 'sigstoreSigned', keyPath: '', keyData: 'YWJj' },
      true,
    ],
    [
      'sigstoreSigned keyData "" counts as a source',
      { type: 'sigstoreSigned', keyData: '', keyPath: '/k' },
      false,
    ],
    [
      'fulcio caPath "" with caData',
      {
        type: 'sigstoreSigned',
        fulcio: { caPath: '', caData: 'YWJj', oidcIssuer: 'i', subjectEmail: 'e' },
        rekorPublicKeyData: 'YWJj',
      },
      true,
    ],
    [
      'rekorPublicKeyPath "" with rekorPublicKeyData',
      { type: 'sigstoreSigned', keyPath: '/k', rekorPublicKeyPath: '', rekorPublicKeyData: '' },
      true,
    ],
  ];
  for (const [name, req, valid] of table) {
    it(`${name}: ${valid ? 'valid' : 'invalid'}`, () => {
      const doc = JSON.stringify({ default: [req] });
      if (valid) assert.doesNotThrow(() => parsePolicy(doc));
      else assert.throws(() => parsePolicy(doc), JsonError);
    });
  }
});

describe('policy parsing: errors carry locations', () => {
  const table: ReadonlyArray<{
    name: string;
    doc: string;
    code: string;
    pointer: string;
    line: number;
    column: number;
  }> = [
    {
      name: 'duplicate key',
      doc: '{"default":[{"type":"reject"}],\n "default":[]}',
      code: 'JSON_DUPLICATE_KEY',
      pointer: '/default',
      line: 2,
      column: 2,
    },
    {
      name: 'unknown key in a requirement',
      doc: '{"default":[{"type":"reject",\n  "extra":1}]}',
      code: 'JSON_UNKNOWN_KEY',
      pointer: '/default/0/extra',
      line: 2,
      column: 11,
    },
    {
      name: 'missing key',
      doc: '{"default":[{"type":"signedBaseLayer"}]}',
      code: 'JSON_MISSING_KEY',
      pointer: '/default/0',
      line: 1,
      column: 13,
    },
    {
      name: 'trailing data',
      doc: '{"default":[{"type":"reject"}]}\n  x',
      code: 'JSON_TRAILING_DATA',
      pointer: '',
      line: 2,
      column: 3,
    },
    {
      name: 'wrong type',
      doc: '{"default":{}}',
      code: 'JSON_WRONG_TYPE',
      pointer: '/default',
      line: 1,
      column: 12,
    },
    {
      name: 'invalid scope for a known transport',
      doc: '{"default":[{"type":"reject"}],"transports":{"dir":{"relative":[{"type":"reject"}]}}}',
      code: 'JSON_INVALID_VALUE',
      pointer: '/transports/dir/relative',
      line: 1,
      column: 64,
    },
    {
      name: 'escaped pointer tokens',
      doc: '{"default":[{"type":"reject"}],"transports":{"docker":{"a/b~c":[]}}}',
      code: 'JSON_INVALID_VALUE',
      pointer: '/transports/docker/a~1b~0c',
      line: 1,
      column: 64,
    },
  ];
  for (const t of table) {
    it(`${t.name}: ${t.code} at ${t.pointer || '(document)'} ${t.line}:${t.column}`, () => {
      try {
        parsePolicy(t.doc);
        assert.fail('expected an error');
      } catch (err) {
        assert.ok(err instanceof JsonError, String(err));
        assert.equal(err.code, t.code);
        assert.deepEqual(err.location, { pointer: t.pointer, line: t.line, column: t.column });
        assert.match(err.message, /^\S+ at \d+:\d+: /);
      }
    });
  }
});

describe('policy parsing: scope validation', () => {
  it('uses a registered transport validator instead of the table', () => {
    const doc = '{"default":[{"type":"reject"}],"transports":{"dir":{"relative":[{"type":"reject"}]}}}';
    assert.throws(() => parsePolicy(doc), JsonError);
    const lenient = { get: (name: string) => (name === 'dir' ? fakeTransport('dir') : undefined) };
    assert.doesNotThrow(() => parsePolicy(doc, { transports: lenient }));
  });

  it('reports a registered transport rejecting a scope', () => {
    const strict = {
      get: (name: string) =>
        fakeTransport(name, () => {
          throw new Error('nope');
        }),
    };
    const doc = '{"default":[{"type":"reject"}],"transports":{"docker":{"x":[{"type":"reject"}]}}}';
    assert.throws(() => parsePolicy(doc, { transports: strict }), /nope/);
  });

  const table: ReadonlyArray<[string, string, boolean]> = [
    ['oci', '/a/b', true],
    ['oci', '/a/b/', false],
    ['oci-archive', 'a/b', false],
    ['sif', '/', false],
    ['docker-archive', '/x', false],
    ['tarball', 'x', false],
    ['docker-daemon', 'busybox', true],
    ['atomic', 'host/ns/stream:tag', true],
    ['atomic', 'host/ns/stream/x', false],
    ['no-such-transport', 'anything at all', true],
    ['containers-storage', '[overlay@/var/lib/containers/storage]docker.io/library/busybox', true],
    [
      'containers-storage',
      `[/var/lib/containers/storage]busybox@sha256:${'a'.repeat(64)}@${'b'.repeat(64)}`,
      true,
    ],
    ['containers-storage', '[overlay@relative]busybox', false],
    ['containers-storage', 'docker.io/library/busybox', false],
    ['containers-storage', '[/root]busybox@notanid', false],
  ];
  for (const [transport, scope, ok] of table) {
    it(`${transport} scope ${JSON.stringify(scope)} is ${ok ? 'accepted' : 'rejected'}`, () => {
      const doc = JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { [transport]: { [scope]: [{ type: 'reject' }] } },
      });
      if (ok) assert.doesNotThrow(() => parsePolicy(doc));
      else assert.throws(() => parsePolicy(doc), JsonError);
    });
  }
});

describe('policyFilePaths', () => {
  it('lists every key, CA and Rekor file once, sorted', () => {
    const p = parsePolicy(
      JSON.stringify({
        default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: ['/k/b', '/k/a'] }],
        transports: {
          docker: {
            x: [
              {
                type: 'sigstoreSigned',
                fulcio: { caPath: '/ca', oidcIssuer: 'i', subjectEmail: 'e' },
                rekorPublicKeyPath: '/rekor',
              },
            ],
            y: [
              {
                type: 'sigstoreSigned',
                pki: { caRootsPath: '/roots', caIntermediatesData: 'YWJj', subjectEmail: 'e' },
              },
            ],
            z: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k/a' }, { type: 'reject' }],
          },
        },
      }),
    );
    assert.deepEqual(policyFilePaths(p), ['/ca', '/k/a', '/k/b', '/rekor', '/roots']);
  });
});
