// The Portcullis extensions of sigstoreSigned: strict parsing, what the sigstore adapter is given,
// and the lint warning that such a policy does not load in Podman.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonError, lintPolicy, parsePolicy, policyFilePaths } from '../../../src/image/signature/index.ts';
import { sigstoreRequirementInput } from '../../../src/image/signature/sigstore-verifier.ts';

const fulcio = (extra: object) => ({ caData: 'YWJj', ...extra });
const keyless = (f: object, extra: object = {}) => ({
  type: 'sigstoreSigned',
  fulcio: f,
  rekorPublicKeyData: 'YWJj',
  ...extra,
});

const parseOne = (req: object) => {
  const [first] = parsePolicy(JSON.stringify({ default: [req] })).default;
  assert.ok(first.type === 'sigstoreSigned');
  return first;
};

describe('sigstoreSigned extensions: parsing', () => {
  const table: ReadonlyArray<[string, object, boolean]> = [
    [
      'subjectRegExp instead of subjectEmail',
      keyless(fulcio({ oidcIssuer: 'i', subjectRegExp: '.*@x' })),
      true,
    ],
    [
      'oidcIssuerRegExp instead of oidcIssuer',
      keyless(fulcio({ oidcIssuerRegExp: 'https://.*', subjectEmail: 'e' })),
      true,
    ],
    [
      'subjectEmail with subjectRegExp',
      keyless(fulcio({ oidcIssuer: 'i', subjectEmail: 'e', subjectRegExp: 'e' })),
      false,
    ],
    [
      'oidcIssuer with oidcIssuerRegExp',
      keyless(fulcio({ oidcIssuer: 'i', oidcIssuerRegExp: 'i', subjectEmail: 'e' })),
      false,
    ],
    ['neither subjectEmail nor subjectRegExp', keyless(fulcio({ oidcIssuer: 'i' })), false],
    ['a pattern that does not compile', keyless(fulcio({ oidcIssuer: 'i', subjectRegExp: '(' })), false],
    ['a pattern that is not a string', keyless(fulcio({ oidcIssuer: 'i', subjectRegExp: 1 })), false],
    [
      'fulcio without caPath/caData when trustedRootData is given',
      keyless({ oidcIssuer: 'i', subjectEmail: 'e' }, { trustedRootData: 'e30=' }),
      true,
    ],
    [
      'fulcio without caPath/caData nor a trusted root',
      keyless({ oidcIssuer: 'i', subjectEmail: 'e' }),
      false,
    ],
    [
      'fulcio without rekor keys when a trusted root is given',
      {
        type: 'sigstoreSigned',
        fulcio: fulcio({ oidcIssuer: 'i', subjectEmail: 'e' }),
        trustedRootPath: '/root.json',
      },
      true,
    ],
    [
      'trustedRootPath with trustedRootData',
      { type: 'sigstoreSigned', keyData: 'YWJj', trustedRootPath: '/r', trustedRootData: 'e30=' },
      false,
    ],
    [
      'trustedRootData that is not base64',
      { type: 'sigstoreSigned', keyData: 'YWJj', trustedRootData: '%%' },
      false,
    ],
    [
      'a trusted root with pki',
      { type: 'sigstoreSigned', pki: { caRootsData: 'YWJj', subjectEmail: 'e' }, trustedRootData: 'e30=' },
      false,
    ],
    [
      'an unknown extension-looking field',
      { type: 'sigstoreSigned', keyData: 'YWJj', acceptAnyIndex: true },
      false,
    ],
    ['acceptIndexSignatures', { type: 'sigstoreSigned', keyData: 'YWJj', acceptIndexSignatures: true }, true],
    [
      'acceptIndexSignatures not a boolean',
      { type: 'sigstoreSigned', keyData: 'YWJj', acceptIndexSignatures: 'yes' },
      false,
    ],
    [
      'signedBy acceptIndexSignatures',
      { type: 'signedBy', keyType: 'GPGKeys', keyData: 'YWJj', acceptIndexSignatures: false },
      true,
    ],
    [
      'signedBy acceptIndexSignatures null',
      { type: 'signedBy', keyType: 'GPGKeys', keyData: 'YWJj', acceptIndexSignatures: null },
      false,
    ],
    [
      'acceptDigestOnlySignatures',
      { type: 'sigstoreSigned', keyData: 'YWJj', acceptDigestOnlySignatures: true },
      true,
    ],
    [
      'acceptDigestOnlySignatures not a boolean',
      { type: 'sigstoreSigned', keyData: 'YWJj', acceptDigestOnlySignatures: 'true' },
      false,
    ],
    [
      'acceptDigestOnlySignatures on signedBy (simple signing always names a reference)',
      { type: 'signedBy', keyType: 'GPGKeys', keyData: 'YWJj', acceptDigestOnlySignatures: true },
      false,
    ],
  ];
  for (const [name, req, valid] of table) {
    it(`${name}: ${valid ? 'valid' : 'invalid'}`, () => {
      const doc = JSON.stringify({ default: [req] });
      if (valid) assert.doesNotThrow(() => parsePolicy(doc));
      else assert.throws(() => parsePolicy(doc), JsonError);
    });
  }

  it('policyFilePaths includes trustedRootPath', () => {
    const p = parsePolicy(
      JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: '/k', trustedRootPath: '/root.json' }] }),
    );
    assert.deepEqual(policyFilePaths(p), ['/k', '/root.json']);
  });
});

describe('sigstoreSigned extensions: the adapter input', () => {
  it('patterns replace the exact fields they cover', () => {
    const req = parseOne(keyless(fulcio({ oidcIssuer: 'https://i', subjectRegExp: '.*@example\\.com' })));
    assert.deepEqual(sigstoreRequirementInput(req).fulcio, {
      caData: new Uint8Array(Buffer.from('abc')),
      oidcIssuer: 'https://i',
      subjectRegExp: '.*@example\\.com',
    });
  });

  it('trustedRootPath is passed through; upstream fields are unchanged', () => {
    const input = sigstoreRequirementInput(
      parseOne({ type: 'sigstoreSigned', keyPath: '/k', trustedRootPath: '/r.json' }),
    );
    assert.deepEqual(input, { keyPath: '/k', trustedRootPath: '/r.json' });
  });

  it('an upstream requirement gets no extension fields', () => {
    const input = sigstoreRequirementInput(parseOne(keyless(fulcio({ oidcIssuer: 'i', subjectEmail: 'e' }))));
    assert.deepEqual(Object.keys(input).sort(), ['fulcio', 'rekorPublicKeyData']);
    assert.deepEqual(Object.keys(input.fulcio ?? {}).sort(), ['caData', 'oidcIssuer', 'subjectEmail']);
  });
});

describe('sigstoreSigned extensions: lint', () => {
  it('warns NOT_PORTABLE naming the extension fields, at the requirement', () => {
    const policy = parsePolicy(
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            'registry.example/app': [
              keyless(fulcio({ oidcIssuerRegExp: 'i', subjectRegExp: 'e' }), { trustedRootData: 'e30=' }),
            ],
          },
        },
      }),
    );
    const warnings = lintPolicy(policy).filter((w) => w.code === 'NOT_PORTABLE');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.pointer, '/transports/docker/registry.example~1app/0');
    assert.match(
      warnings[0]?.message ?? '',
      /fulcio\.subjectRegExp, fulcio\.oidcIssuerRegExp, trustedRootData/,
    );
  });

  for (const req of [
    { type: 'sigstoreSigned', keyPath: '/k', acceptIndexSignatures: true },
    { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', acceptIndexSignatures: true },
  ]) {
    it(`${req.type} with acceptIndexSignatures warns NOT_PORTABLE`, () => {
      const warnings = lintPolicy(parsePolicy(JSON.stringify({ default: [req] }))).filter(
        (w) => w.code === 'NOT_PORTABLE',
      );
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.pointer, '/default/0');
      assert.match(warnings[0]?.message ?? '', new RegExp(`^${req.type} uses .*acceptIndexSignatures`));
    });
  }

  it('acceptDigestOnlySignatures warns NOT_PORTABLE and IDENTITY_NOT_CHECKED (weaker), only when true', () => {
    const lint = (acceptDigestOnlySignatures: boolean) =>
      lintPolicy(
        parsePolicy(
          JSON.stringify({
            default: [{ type: 'sigstoreSigned', keyPath: '/k', acceptDigestOnlySignatures }],
          }),
        ),
      );
    const warnings = lint(true);
    assert.deepEqual(
      warnings.map((w) => [w.code, w.pointer]),
      [
        ['IDENTITY_NOT_CHECKED', '/default/0'],
        ['NOT_PORTABLE', '/default/0'],
      ],
    );
    assert.match(
      warnings[0]?.message ?? '',
      /weaker than signedIdentity: a signature that binds only the digest/,
    );
    assert.match(warnings[1]?.message ?? '', /acceptDigestOnlySignatures/);
    assert.deepEqual(
      lint(false).map((w) => w.code),
      ['NOT_PORTABLE'],
    );
  });

  it('an upstream sigstoreSigned requirement is portable', () => {
    const policy = parsePolicy(JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: '/k' }] }));
    assert.deepEqual(
      lintPolicy(policy).filter((w) => w.code === 'NOT_PORTABLE'),
      [],
    );
  });
});
