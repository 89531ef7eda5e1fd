import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type PolicySettings,
  policyJsonToSpec,
  policySettings,
  type RefResolver,
  specToPolicyJson,
} from '../../../src/policy/crd/convert.ts';
import { CrdError } from '../../../src/policy/crd/errors.ts';
import type { KeyRef, RefKind } from '../../../src/policy/crd/types.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

/** Resolves refs from a table `Kind/name/key -> text`; missing entries are REF_NOT_FOUND. */
function tableResolver(table: Record<string, string>): RefResolver & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    resolve(kind: RefKind, ref: KeyRef, field: string) {
      const id = `${kind}/${ref.name}/${ref.key}`;
      seen.push(id);
      const v = table[id];
      if (v === undefined) throw new CrdError('REF_NOT_FOUND', `${field}: ${id} not found`, { field });
      return { kind: 'data', bytes: bytes(v) };
    },
  };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('specToPolicyJson', () => {
  const cases: { name: string; spec: unknown; want: unknown }[] = [
    {
      name: 'keeps default and transports, drops mode and namespaceSelector',
      spec: {
        mode: 'warn',
        namespaceSelector: { matchLabels: { a: 'b' } },
        default: [{ type: 'reject' }],
        transports: { docker: { 'quay.io': [{ type: 'insecureAcceptAnything' }] } },
      },
      want: {
        default: [{ type: 'reject' }],
        transports: { docker: { 'quay.io': [{ type: 'insecureAcceptAnything' }] } },
      },
    },
    {
      name: 'a keySecretRef becomes keyData',
      spec: { default: [{ type: 'sigstoreSigned', keySecretRef: { name: 'cosign', key: 'cosign.pub' } }] },
      want: { default: [{ type: 'sigstoreSigned', keyData: b64('PUB') }] },
    },
    {
      name: 'a keyConfigMapRef becomes keyData for signedBy',
      spec: {
        default: [{ type: 'signedBy', keyType: 'GPGKeys', keyConfigMapRef: { name: 'gpg', key: 'ring' } }],
      },
      want: { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData: b64('RING') }] },
    },
    {
      name: 'refs inside fulcio and pki, and the Rekor key ref, become Data fields',
      spec: {
        default: [
          {
            type: 'sigstoreSigned',
            fulcio: { caConfigMapRef: { name: 'fulcio', key: 'ca.pem' }, oidcIssuer: 'i', subjectEmail: 'e' },
            rekorPublicKeySecretRef: { name: 'rekor', key: 'pub' },
          },
        ],
        transports: {
          docker: {
            'r.example': [
              {
                type: 'sigstoreSigned',
                pki: { caRootsSecretRef: { name: 'pki', key: 'roots' }, subjectEmail: 'x' },
              },
            ],
          },
        },
      },
      want: {
        default: [
          {
            type: 'sigstoreSigned',
            fulcio: { caData: b64('CA'), oidcIssuer: 'i', subjectEmail: 'e' },
            rekorPublicKeyData: b64('REKOR'),
          },
        ],
        transports: {
          docker: {
            'r.example': [{ type: 'sigstoreSigned', pki: { caRootsData: b64('ROOTS'), subjectEmail: 'x' } }],
          },
        },
      },
    },
    {
      name: 'the trustedRootSecretRef extension becomes trustedRootData; RegExp fields pass through',
      spec: {
        default: [
          {
            type: 'sigstoreSigned',
            fulcio: { oidcIssuerRegExp: 'https://.*', subjectRegExp: '.*@example\\.com' },
            trustedRootSecretRef: { name: 'root', key: 'trusted_root.json' },
          },
        ],
      },
      want: {
        default: [
          {
            type: 'sigstoreSigned',
            fulcio: { oidcIssuerRegExp: 'https://.*', subjectRegExp: '.*@example\\.com' },
            trustedRootData: b64('ROOT'),
          },
        ],
      },
    },
    {
      name: 'notationSigned trust store refs (Secret, ConfigMap) become Data fields; the rest passes through',
      spec: {
        default: [
          {
            type: 'notationSigned',
            trustStore: {
              caSecretRef: { name: 'notation', key: 'ca.pem' },
              tsaConfigMapRef: { name: 'tsa', key: 'root.pem' },
            },
            trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme'],
            signatureVerification: { level: 'strict', override: { revocation: 'skip' } },
          },
        ],
      },
      want: {
        default: [
          {
            type: 'notationSigned',
            trustStore: { caData: b64('NOTATION CA'), tsaData: b64('TSA') },
            trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme'],
            signatureVerification: { level: 'strict', override: { revocation: 'skip' } },
          },
        ],
      },
    },
    {
      name: 'values of the wrong type pass through for the parser to refuse',
      spec: { default: [1, { type: 'reject' }], transports: { docker: 5 } },
      want: { default: [1, { type: 'reject' }], transports: { docker: 5 } },
    },
  ];
  const resolver = tableResolver({
    'Secret/cosign/cosign.pub': 'PUB',
    'ConfigMap/gpg/ring': 'RING',
    'ConfigMap/fulcio/ca.pem': 'CA',
    'Secret/rekor/pub': 'REKOR',
    'Secret/pki/roots': 'ROOTS',
    'Secret/root/trusted_root.json': 'ROOT',
    'Secret/notation/ca.pem': 'NOTATION CA',
    'ConfigMap/tsa/root.pem': 'TSA',
  });
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(JSON.parse(specToPolicyJson(c.spec, resolver)), c.want);
    });
  }

  const failures: { name: string; spec: unknown; code: string; field: string }[] = [
    { name: 'spec not an object', spec: [], code: 'CRD_INVALID', field: 'spec' },
    {
      name: 'unknown spec field',
      spec: { default: [{ type: 'reject' }], extra: 1 },
      code: 'CRD_INVALID',
      field: 'spec.extra',
    },
    { name: 'missing default', spec: { transports: {} }, code: 'CRD_INVALID', field: 'spec.default' },
    {
      name: 'file paths are not part of a CRD',
      spec: { default: [{ type: 'sigstoreSigned', keyPath: '/k' }] },
      code: 'CRD_INVALID',
      field: 'spec.default[0].keyPath',
    },
    {
      name: 'a ref and inline data for the same key',
      spec: {
        default: [
          { type: 'sigstoreSigned', keyData: 'YWJj', keySecretRef: { name: 'cosign', key: 'cosign.pub' } },
        ],
      },
      code: 'CRD_INVALID',
      field: 'spec.default[0].keySecretRef',
    },
    {
      name: 'a Secret ref and a ConfigMap ref for the same key',
      spec: {
        default: [
          {
            type: 'sigstoreSigned',
            keySecretRef: { name: 'cosign', key: 'cosign.pub' },
            keyConfigMapRef: { name: 'gpg', key: 'ring' },
          },
        ],
      },
      code: 'CRD_INVALID',
      field: 'spec.default[0].keyConfigMapRef',
    },
    {
      name: 'a ref without key',
      spec: { default: [{ type: 'sigstoreSigned', keySecretRef: { name: 'cosign' } }] },
      code: 'CRD_INVALID',
      field: 'spec.default[0].keySecretRef.key',
    },
    {
      name: 'a ref with an extra field',
      spec: { default: [{ type: 'sigstoreSigned', keySecretRef: { name: 'a', key: 'b', namespace: 'c' } }] },
      code: 'CRD_INVALID',
      field: 'spec.default[0].keySecretRef.namespace',
    },
    {
      name: 'a ref to a missing Secret, with the scope in the path',
      spec: {
        default: [{ type: 'reject' }],
        transports: {
          docker: { 'q.io': [{ type: 'sigstoreSigned', keySecretRef: { name: 'nope', key: 'k' } }] },
        },
      },
      code: 'REF_NOT_FOUND',
      field: 'spec.transports["docker"]["q.io"][0].keySecretRef',
    },
  ];
  for (const c of failures) {
    it(`refuses: ${c.name}`, () => {
      assert.throws(
        () => specToPolicyJson(c.spec, resolver),
        (err: unknown) => err instanceof CrdError && err.code === c.code && err.field === c.field,
      );
    });
  }
});

describe('policySettings', () => {
  const ok: {
    name: string;
    kind: 'ClusterImagePolicy' | 'ImagePolicy';
    spec: unknown;
    want: PolicySettings;
  }[] = [
    {
      name: 'mode defaults to enforce',
      kind: 'ImagePolicy',
      spec: { default: [] },
      want: { mode: 'enforce', namespaceSelector: undefined },
    },
    {
      name: 'cluster policy with selector and audit',
      kind: 'ClusterImagePolicy',
      spec: { mode: 'audit', namespaceSelector: { matchLabels: { t: 'x' } } },
      want: { mode: 'audit', namespaceSelector: { matchLabels: { t: 'x' } } },
    },
  ];
  for (const c of ok) it(c.name, () => assert.deepEqual(policySettings(c.kind, c.spec), c.want));

  it('refuses an unknown mode', () => {
    assert.throws(() => policySettings('ImagePolicy', { mode: 'permissive' }), { code: 'CRD_INVALID' });
  });
  it('refuses a namespaceSelector on an ImagePolicy', () => {
    assert.throws(() => policySettings('ImagePolicy', { namespaceSelector: {} }), { code: 'CRD_INVALID' });
  });
});

describe('policyJsonToSpec', () => {
  const files: Record<string, string> = {
    '/k/a.pub': 'A',
    '/k/b.pub': 'B',
    '/k/ring.gpg': 'RING',
    '/k/ca.pem': 'CA',
  };
  const read = (path: string) => {
    const v = files[path];
    if (v === undefined) throw new CrdError('EXPORT_FAILED', `${path}: no such file`);
    return bytes(v);
  };

  it('inlines key files as Data fields, keyPaths as keyDatas', () => {
    const doc = {
      default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k/ring.gpg' }],
      transports: {
        docker: {
          'q.io': [
            { type: 'sigstoreSigned', keyPaths: ['/k/a.pub', '/k/b.pub'], rekorPublicKeyPath: '/k/a.pub' },
          ],
          'f.io': [
            {
              type: 'sigstoreSigned',
              fulcio: { caPath: '/k/ca.pem', oidcIssuer: 'i', subjectEmail: 'e' },
              rekorPublicKeyData: 'YWJj',
            },
          ],
        },
      },
    };
    assert.deepEqual(policyJsonToSpec(doc, read), {
      default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData: b64('RING') }],
      transports: {
        docker: {
          'q.io': [{ type: 'sigstoreSigned', keyDatas: [b64('A'), b64('B')], rekorPublicKeyData: b64('A') }],
          'f.io': [
            {
              type: 'sigstoreSigned',
              fulcio: { caData: b64('CA'), oidcIssuer: 'i', subjectEmail: 'e' },
              rekorPublicKeyData: 'YWJj',
            },
          ],
        },
      },
    });
  });

  it('round-trips through specToPolicyJson', () => {
    const doc = {
      default: [{ type: 'sigstoreSigned', keyPath: '/k/a.pub' }],
      transports: { docker: { '': [{ type: 'reject' }] } },
    };
    const spec = policyJsonToSpec(doc, read);
    assert.deepEqual(JSON.parse(specToPolicyJson(spec, tableResolver({}))), {
      default: [{ type: 'sigstoreSigned', keyData: b64('A') }],
      transports: { docker: { '': [{ type: 'reject' }] } },
    });
  });

  it('refuses signedBy keyPaths with several keyrings', () => {
    assert.throws(
      () =>
        policyJsonToSpec(
          { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: ['/k/a.pub', '/k/b.pub'] }] },
          read,
        ),
      { code: 'EXPORT_FAILED' },
    );
  });
});
