// One Notation envelope against one trust policy statement: integrity, the target descriptor,
// authenticity, identities, expiry, certificate validity, revocation, and what each verification
// level enforces or only logs. Envelopes are made here (envelopes.ts) for the cases notation-go
// never produces; interop.test.ts covers notation-go's own.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Digest } from '../../../../src/image/digest.ts';
import {
  compileNotationTrust,
  MAX_ENVELOPE_BYTES,
  type NotationTrustInput,
  verifyNotationSignature,
} from '../../../../src/image/signature/notation/index.ts';
import { type Cbor, cbor, coseEnvelope, derChain, type EnvelopeOptions, jwsEnvelope } from './envelopes.ts';
import { type Cert, CODE_SIGNING, IDENTITY, issue, makePki, type NotationPki } from './pki.ts';

const JWS = 'application/jose+json';
const COSE = 'application/cose';
const target = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${'ab'.repeat(32)}` as Digest,
  size: 1234,
};
const DAY = 86_400_000;

let dir: string;
let pki: NotationPki;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-notation-'));
  pki = await makePki(dir);
});
after(() => rm(dir, { recursive: true, force: true }));

function opts(cert: Cert, over: Partial<EnvelopeOptions> = {}): EnvelopeOptions {
  return {
    alg: cert === pki.rsaLeaf ? 'PS384' : 'ES384',
    key: cert.keyPem,
    chain: derChain(cert.pem + pki.intermediate.pem + pki.root.pem),
    target,
    ...over,
  };
}

const formats = [
  ['jws', JWS, jwsEnvelope],
  ['cose', COSE, coseEnvelope],
] as const;

for (const [name, mediaType, make] of formats) {
  describe(`${name} envelopes`, () => {
    test('a signature by a trusted leaf (ECDSA P-384) is accepted', async () => {
      const ok = verifyNotationSignature(trustSync(), mediaType, make(opts(pki.leaf)), target);
      assert.equal(ok.format, name);
      assert.match(ok.signer, /O=Portcullis Test/);
      assert.deepEqual(ok.warnings, []);
    });

    test('a signature by a trusted leaf (RSA-3072, PS384) is accepted', async () => {
      verifyNotationSignature(trustSync(), mediaType, make(opts(pki.rsaLeaf)), target);
    });

    const rejected: [
      string,
      () => Promise<{ env: Buffer; trust?: Partial<NotationTrustInput>; now?: Date }>,
      string,
    ][] = [
      [
        'a signature over another manifest',
        async () => ({
          env: make(opts(pki.leaf, { target: { ...target, digest: `sha256:${'cd'.repeat(32)}` } })),
        }),
        'NOTATION_DIGEST_MISMATCH',
      ],
      [
        'a descriptor of another size',
        async () => ({ env: make(opts(pki.leaf, { target: { ...target, size: 1 } })) }),
        'NOTATION_DIGEST_MISMATCH',
      ],
      [
        'an unknown critical header',
        async () => ({
          env: make(
            opts(pki.leaf, {
              extra: { 'com.example.mustUnderstand': 'x' },
              crit: ['com.example.mustUnderstand'],
            }),
          ),
        }),
        'NOTATION_CRITICAL_HEADER',
      ],
      [
        'a critical header that is absent',
        async () => ({ env: make(opts(pki.leaf, { crit: ['io.cncf.notary.expiry'] })) }),
        'NOTATION_CRITICAL_HEADER',
      ],
      [
        'a signing scheme not marked critical',
        async () => ({ env: make(opts(pki.leaf, { critExactly: ['io.cncf.notary.signingTime'] })) }),
        'NOTATION_CRITICAL_HEADER',
      ],
      [
        'an expiry not marked critical',
        async () => ({
          env: make(
            opts(pki.leaf, {
              expiry: new Date(Date.now() + DAY),
              critExactly: ['io.cncf.notary.signingScheme'],
            }),
          ),
        }),
        'NOTATION_CRITICAL_HEADER',
      ],
      [
        'a required verification plugin',
        async () => ({
          env: make(
            opts(pki.leaf, {
              extra: { 'io.cncf.notary.verificationPlugin': 'com.example.plugin' },
              crit: ['io.cncf.notary.verificationPlugin'],
            }),
          ),
        }),
        'NOTATION_PLUGIN_REQUIRED',
      ],
      [
        'an algorithm the key does not dictate',
        async () => ({ env: make(opts(pki.leaf, { alg: 'ES256' })) }),
        'NOTATION_ALGORITHM',
      ],
      [
        'another payload content type',
        async () => ({ env: make(opts(pki.leaf, { contentType: 'application/json' })) }),
        'NOTATION_PAYLOAD_INVALID',
      ],
      [
        'a chain to an untrusted root',
        async () => ({
          env: make(opts(pki.stranger, { chain: derChain(pki.stranger.pem + pki.strangerRoot.pem) })),
        }),
        'NOTATION_UNTRUSTED',
      ],
      [
        'a subject that matches no trusted identity',
        async () => ({ env: make(opts(pki.otherSubject)) }),
        'NOTATION_IDENTITY_MISMATCH',
      ],
      [
        'an expired signing certificate',
        async () => ({ env: make(opts(pki.shortLeaf)), now: new Date(Date.now() + 2 * DAY) }),
        'NOTATION_CERTIFICATE_EXPIRED',
      ],
      [
        'a signature past its expiry',
        async () => ({
          env: make(opts(pki.leaf, { expiry: new Date(Date.now() + 1000) })),
          now: new Date(Date.now() + DAY),
        }),
        'NOTATION_EXPIRED',
      ],
      [
        'a certificate naming OCSP and CRL endpoints (never contacted)',
        async () => ({ env: make(opts(pki.revocable)) }),
        'NOTATION_REVOCATION_UNKNOWN',
      ],
      [
        'a chain out of order',
        async () => ({
          env: make(opts(pki.leaf, { chain: derChain(pki.leaf.pem + pki.root.pem + pki.intermediate.pem) })),
        }),
        'NOTATION_CHAIN_INVALID',
      ],
      [
        'a chain that loops back to the leaf',
        async () => ({
          env: make(
            opts(pki.leaf, {
              chain: derChain(pki.leaf.pem + pki.intermediate.pem + pki.leaf.pem + pki.root.pem),
            }),
          ),
        }),
        'NOTATION_CHAIN_INVALID',
      ],
      [
        'a chain longer than 10 certificates',
        async () => ({
          env: make(
            opts(pki.leaf, {
              chain: derChain(pki.leaf.pem + pki.intermediate.pem.repeat(10) + pki.root.pem),
            }),
          ),
        }),
        'NOTATION_CHAIN_INVALID',
      ],
      [
        'a signing authority signature verified against the ca store',
        async () => ({ env: make(opts(pki.leaf, { scheme: 'notary.x509.signingAuthority' })) }),
        'NOTATION_UNTRUSTED',
      ],
      [
        'no timestamp while a tsa store is configured',
        async () => ({ env: make(opts(pki.leaf)), trust: { tsa: [Buffer.from(pki.tsaRoot.pem)] } }),
        'NOTATION_TIMESTAMP_INVALID',
      ],
    ];
    for (const [what, setup, code] of rejected) {
      test(`rejects ${what} (${code})`, async () => {
        const { env, trust, now } = await setup();
        assert.throws(() => verifyNotationSignature(trustSync(trust), mediaType, env, target, now), { code });
      });
    }

    test('rejects a flipped signature byte', async () => {
      const env = make(opts(pki.leaf));
      // The signature is the last field in both encodings; flip a byte inside it.
      const i = name === 'jws' ? env.lastIndexOf('"signature":"') + 20 : env.length - 10;
      env[i] = env[i] === 0x41 ? 0x42 : 0x41;
      assert.throws(
        () => verifyNotationSignature(trustSync(), mediaType, env, target),
        (err: { code: string }) =>
          ['NOTATION_SIGNATURE_INVALID', 'NOTATION_ENVELOPE_MALFORMED'].includes(err.code),
      );
    });

    test('rejects an envelope larger than the bound before parsing it', async () => {
      const env = Buffer.alloc(MAX_ENVELOPE_BYTES + 1, 0x20);
      assert.throws(() => verifyNotationSignature(trustSync(), mediaType, env, target), {
        code: 'NOTATION_TOO_LARGE',
      });
    });

    test('permissive logs an expired certificate and a passed expiry instead of rejecting', async () => {
      const env = make(opts(pki.shortLeaf, { expiry: new Date(Date.now() + 1000) }));
      const ok = verifyNotationSignature(
        trustSync({ level: 'permissive' }),
        mediaType,
        env,
        target,
        new Date(Date.now() + 2 * DAY),
      );
      assert.equal(ok.warnings.length, 2);
      assert.match(ok.warnings[0]!, /^expiry: /);
      assert.match(ok.warnings[1]!, /^authenticTimestamp: /);
    });

    test('permissive logs an unknown revocation status; override revocation: skip does not check it', async () => {
      const env = make(opts(pki.revocable));
      assert.match(
        verifyNotationSignature(trustSync({ level: 'permissive' }), mediaType, env, target).warnings[0]!,
        /^revocation: /,
      );
      assert.deepEqual(
        verifyNotationSignature(trustSync({ override: { revocation: 'skip' } }), mediaType, env, target)
          .warnings,
        [],
      );
    });

    test('audit logs an untrusted signer but still rejects a signature over another manifest', async () => {
      const stranger = opts(pki.stranger, { chain: derChain(pki.stranger.pem + pki.strangerRoot.pem) });
      const ok = verifyNotationSignature(trustSync({ level: 'audit' }), mediaType, make(stranger), target);
      assert.match(ok.warnings[0]!, /^authenticity: /);
      const other = make({ ...stranger, target: { ...target, digest: `sha256:${'cd'.repeat(32)}` } });
      assert.throws(() => verifyNotationSignature(trustSync({ level: 'audit' }), mediaType, other, target), {
        code: 'NOTATION_DIGEST_MISMATCH',
      });
    });

    test('a signing authority signature is accepted against the signingAuthority store', async () => {
      const env = make(opts(pki.leaf, { scheme: 'notary.x509.signingAuthority' }));
      const ok = verifyNotationSignature(
        trustSync({ ca: [], signingAuthority: [Buffer.from(pki.root.pem)] }),
        mediaType,
        env,
        target,
      );
      assert.equal(ok.signingScheme, 'notary.x509.signingAuthority');
    });
  });
}

// Trust compiled once per input shape; files are read in before().
let compiled: Map<string, ReturnType<typeof compileNotationTrust>> | undefined;
function trustSync(over: Partial<NotationTrustInput> = {}) {
  compiled ??= new Map();
  const key = JSON.stringify(over, (_k, v) => (Buffer.isBuffer(v) ? v.toString('base64').slice(-40) : v));
  let t = compiled.get(key);
  if (t === undefined) {
    t = compileNotationTrust({
      ca: [Buffer.from(pki.root.pem)],
      trustedIdentities: [IDENTITY],
      level: 'strict',
      ...over,
    });
    compiled.set(key, t);
  }
  return t;
}

describe('cose decoding bounds', () => {
  const verifyCose = (bytes: Buffer) => verifyNotationSignature(trustSync(), COSE, bytes, target);
  test('rejects nesting deeper than the bound', () => {
    let v: Cbor = 1;
    for (let i = 0; i < 40; i++) v = [v];
    assert.throws(() => verifyCose(cbor({ tag: 18, value: v })), { code: 'NOTATION_ENVELOPE_MALFORMED' });
  });
  test('rejects indefinite lengths', () => {
    assert.throws(() => verifyCose(Buffer.from([0xd2, 0x9f, 0xff])), { code: 'NOTATION_ENVELOPE_MALFORMED' });
  });
  test('rejects duplicate map keys', () => {
    const dup = Buffer.concat([
      Buffer.from([0xd2, 0x84, 0x40, 0xa2]),
      cbor(1),
      cbor(1),
      cbor(1),
      cbor(2),
      Buffer.from([0x40, 0x40]),
    ]);
    assert.throws(() => verifyCose(dup), { code: 'NOTATION_ENVELOPE_MALFORMED' });
  });
  test('rejects a length beyond the input and trailing bytes', () => {
    assert.throws(() => verifyCose(Buffer.from([0xd2, 0x84, 0x5a, 0xff, 0xff, 0xff, 0xff])), {
      code: 'NOTATION_ENVELOPE_MALFORMED',
    });
    const env = coseEnvelope(opts(pki.leaf));
    assert.throws(() => verifyCose(Buffer.concat([env, Buffer.of(0)])), {
      code: 'NOTATION_ENVELOPE_MALFORMED',
    });
  });
  test('rejects more items than the bound', () => {
    const many = cbor({
      tag: 18,
      value: [new Uint8Array(), new Map(), Array.from({ length: 5000 }, () => 0), new Uint8Array()],
    });
    assert.throws(() => verifyCose(many), { code: 'NOTATION_ENVELOPE_MALFORMED' });
  });
});

describe('trust policy statements', () => {
  const cases: [string, Partial<NotationTrustInput>][] = [
    ['overlapping identities', { trustedIdentities: [IDENTITY, `${IDENTITY}, OU=builds`] }],
    ['"*" beside another identity', { trustedIdentities: ['*', IDENTITY] }],
    ['an identity without ST', { trustedIdentities: ['x509.subject: C=US, O=Portcullis Test'] }],
    ['a multi-valued RDN', { trustedIdentities: ['x509.subject: C=US+ST=WA, O=Portcullis Test'] }],
    ['an unknown identity prefix', { trustedIdentities: ['x509.san: example.com'] }],
    ['an unknown level', { level: 'lenient' as 'strict' }],
    ['overriding integrity', { override: { integrity: 'log' } as never }],
    ['skipping authenticity', { override: { authenticity: 'skip' } }],
    ['no ca or signingAuthority certificates', { ca: [] }],
    ['a file that is no certificate', { ca: [Buffer.from('not a certificate')] }],
  ];
  for (const [what, over] of cases) {
    test(`rejects ${what}`, () => assert.throws(() => trustSync(over), { code: 'NOTATION_TRUST_INVALID' }));
  }

  test('identity attributes match exactly, S is ST, escapes are honoured', async () => {
    const escaped = await issue(dir, 'escaped', CODE_SIGNING, {
      issuer: pki.intermediate,
      subject: '/C=US/ST=WA/O=Acme\\, Inc./CN=x',
    });
    const env = jwsEnvelope(opts(escaped, { alg: 'ES384' }));
    const trust = trustSync({ trustedIdentities: ['x509.subject: C=US, S=WA, O=Acme\\, Inc.'] });
    verifyNotationSignature(trust, JWS, env, target);
    assert.throws(
      () =>
        verifyNotationSignature(
          trustSync({ trustedIdentities: ['x509.subject: C=US, ST=WA, O=Acme'] }),
          JWS,
          env,
          target,
        ),
      {
        code: 'NOTATION_IDENTITY_MISMATCH',
      },
    );
  });
});
