// Fulcio+Rekor, bring-your-own PKI and trusted_root.json verification against trust roots made
// here (openssl CAs, a Rekor-like ECDSA key), and the bad input each path must reject precisely.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../../../src/image/digest.ts';
import {
  compileSigstoreTrust,
  type SigstoreRequirementInput,
  verifySigstoreSignature,
} from '../../../../src/image/signature/sigstore/index.ts';
import { buildSigstorePayload } from '../../../../src/image/signature/sigstore/payload.ts';
import type { Signature } from '../../../../src/image/types.ts';
import { rejectionTests } from './helpers.ts';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_SIGNATURE,
  CA_EXTENSIONS,
  FULCIO_ISSUER,
  fulcioLeafExtensions,
  type Issued,
  issue,
  makeSet,
  newRekorKey,
  type SetEntry,
  signedAttachment,
  WORKFLOW_URI,
} from './pki.ts';

const DIGEST = parseDigest(`sha256:${'5e'.repeat(32)}`);
const IDENTITY = 'registry.example/keyless/app';
const EMAIL = 'dev@example.com';
const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);
const b64 = (s: string) => Buffer.from(s).toString('base64');
const noFiles = () => Promise.reject(new Error('no files in this test'));
const payload = buildSigstorePayload(DIGEST, IDENTITY, null);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
let root: Issued;
let inter: Issued;
let otherRoot: Issued;
const leaves: Record<string, Issued> = {};
const rekor = newRekorKey();
const otherRekor = newRekorKey();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-keyless-'));
  root = await issue(dir, 'root', CA_EXTENSIONS, { days: 3650 });
  otherRoot = await issue(dir, 'other-root', CA_EXTENSIONS, { days: 3650 });
  inter = await issue(
    dir,
    'inter',
    ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign'],
    {
      issuer: root,
      days: 3650,
    },
  );
  const notCa = await issue(dir, 'not-ca', ['basicConstraints=critical,CA:FALSE'], {
    issuer: root,
    days: 3650,
  });
  const leafSpecs: [string, string[], Issued][] = [
    [
      'good',
      fulcioLeafExtensions({
        email: EMAIL,
        uri: WORKFLOW_URI,
        issuerV1: FULCIO_ISSUER,
        issuerV2: FULCIO_ISSUER,
      }),
      inter,
    ],
    ['v1-only', fulcioLeafExtensions({ email: EMAIL, issuerV1: FULCIO_ISSUER }), inter],
    ['v2-only', fulcioLeafExtensions({ email: EMAIL, issuerV2: FULCIO_ISSUER }), inter],
    [
      'inconsistent',
      fulcioLeafExtensions({ email: EMAIL, issuerV1: FULCIO_ISSUER, issuerV2: 'https://evil.example' }),
      inter,
    ],
    ['no-issuer', fulcioLeafExtensions({ email: EMAIL }), inter],
    [
      'server-auth',
      fulcioLeafExtensions({ email: EMAIL, issuerV2: FULCIO_ISSUER, eku: 'serverAuth' }),
      inter,
    ],
    [
      'unknown-critical',
      fulcioLeafExtensions({ email: EMAIL, issuerV2: FULCIO_ISSUER, extra: ['1.2.3.4=critical,DER:0500'] }),
      inter,
    ],
    ['under-not-ca', fulcioLeafExtensions({ email: EMAIL, issuerV2: FULCIO_ISSUER }), notCa],
    ['other-root', fulcioLeafExtensions({ email: EMAIL, issuerV2: FULCIO_ISSUER }), otherRoot],
    [
      'pki',
      [
        'keyUsage=critical,digitalSignature',
        'subjectAltName=email:builder@example.com,DNS:*.build.example.com',
      ],
      inter,
    ],
  ];
  for (const [name, ext, issuer] of leafSpecs)
    leaves[name] = await issue(dir, `leaf-${name}`, ext, { issuer, days: 30 });
});
after(() => rm(dir, { recursive: true, force: true }));

const fulcioInput = (fulcio: Record<string, string> = {}): SigstoreRequirementInput => ({
  fulcio: { caData: b64(root.certPem), oidcIssuer: FULCIO_ISSUER, subjectEmail: EMAIL, ...fulcio },
  rekorPublicKeyData: b64(rekor.publicKeyPem),
});

interface KeylessOptions {
  readonly leaf?: string;
  readonly integratedTime?: number;
  readonly set?: Partial<SetEntry>;
  readonly rekorKey?: KeyObject;
  readonly signingKey?: KeyObject;
  readonly annotations?: Record<string, string>;
  readonly omitChain?: boolean;
}

/** A Fulcio-style cosign signature: leaf certificate, chain and a Rekor SET, each overridable. */
function keylessSignature(o: KeylessOptions = {}): Signature {
  const leaf = leaves[o.leaf ?? 'good']!;
  const signature = sign('sha256', payload, o.signingKey ?? leaf.key).toString('base64');
  const set = makeSet(o.rekorKey ?? rekor.privateKey, {
    signerPem: leaf.certPem,
    signatureBase64: signature,
    payloadSha256: sha256(payload),
    integratedTime: o.integratedTime ?? now(),
    ...o.set,
  });
  return {
    format: 'sigstore-json',
    mimeType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    payload,
    annotations: {
      [ANNOTATION_SIGNATURE]: signature,
      [ANNOTATION_CERTIFICATE]: leaf.certPem,
      ...(o.omitChain ? {} : { [ANNOTATION_CHAIN]: inter.certPem + root.certPem }),
      [ANNOTATION_BUNDLE]: set,
      ...o.annotations,
    },
  };
}

async function verify(input: SigstoreRequirementInput, sig: Signature, at?: Date) {
  const trust = await compileSigstoreTrust(input, noFiles);
  return verifySigstoreSignature(trust, sig, {
    matchesManifestDigest: (d) => d === DIGEST,
    matchesDockerReference: (r) => r === IDENTITY,
    ...(at ? { now: at } : {}),
  });
}

describe('fulcio + rekor', () => {
  test('accepts a valid keyless signature and reports the identity and integrated time', async () => {
    const t = now();
    const accepted = await verify(fulcioInput(), keylessSignature({ integratedTime: t }));
    assert.equal(accepted.integratedTime, t);
    assert.deepEqual(accepted.signer, {
      kind: 'certificate',
      emails: [EMAIL],
      uris: [WORKFLOW_URI],
      issuer: FULCIO_ISSUER,
    });
  });

  for (const leaf of ['v1-only', 'v2-only']) {
    test(`reads the oidc issuer from the ${leaf} extension`, async () => {
      await verify(fulcioInput(), keylessSignature({ leaf }));
    });
  }

  const rejections: [string, () => [SigstoreRequirementInput, Signature], string][] = [
    [
      'inconsistent v1/v2 issuer extensions',
      () => [fulcioInput(), keylessSignature({ leaf: 'inconsistent' })],
      'SIGSTORE_OIDC_ISSUER_MISMATCH',
    ],
    [
      'no issuer extension',
      () => [fulcioInput(), keylessSignature({ leaf: 'no-issuer' })],
      'SIGSTORE_OIDC_ISSUER_MISMATCH',
    ],
    [
      'another oidc issuer',
      () => [fulcioInput({ oidcIssuer: 'https://accounts.example' }), keylessSignature()],
      'SIGSTORE_OIDC_ISSUER_MISMATCH',
    ],
    [
      'another subject email',
      () => [fulcioInput({ subjectEmail: 'eve@example.com' }), keylessSignature()],
      'SIGSTORE_SUBJECT_MISMATCH',
    ],
    [
      'integrated time after the leaf expired',
      () => [fulcioInput(), keylessSignature({ integratedTime: now() + 40 * DAY })],
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
    ],
    [
      'integrated time before the leaf was issued',
      () => [fulcioInput(), keylessSignature({ integratedTime: now() - 2 * DAY })],
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
    ],
    [
      'a leaf without codeSigning',
      () => [fulcioInput(), keylessSignature({ leaf: 'server-auth' })],
      'SIGSTORE_CERTIFICATE_USAGE',
    ],
    [
      'an unknown critical extension',
      () => [fulcioInput(), keylessSignature({ leaf: 'unknown-critical' })],
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
    ],
    [
      'an issuer that is not a CA',
      () => [fulcioInput(), keylessSignature({ leaf: 'under-not-ca' })],
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
    ],
    [
      'a leaf from another root',
      () => [fulcioInput(), keylessSignature({ leaf: 'other-root' })],
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
    ],
    [
      'no chain annotation and no trusted intermediate',
      () => [fulcioInput(), keylessSignature({ omitChain: true })],
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
    ],
    [
      'a SET signed by an unknown rekor key',
      () => [fulcioInput(), keylessSignature({ rekorKey: otherRekor.privateKey })],
      'SIGSTORE_SET_SIGNATURE_INVALID',
    ],
    [
      'a SET for another payload',
      () => [fulcioInput(), keylessSignature({ set: { payloadSha256: sha256(Buffer.from('other')) } })],
      'SIGSTORE_SET_ENTRY_MISMATCH',
    ],
    [
      'a SET for another signature',
      () => [fulcioInput(), keylessSignature({ set: { signatureBase64: b64('another signature') } })],
      'SIGSTORE_SET_ENTRY_MISMATCH',
    ],
    [
      'a SET for another certificate',
      () => [fulcioInput(), keylessSignature({ set: { signerPem: leaves['v1-only']!.certPem } })],
      'SIGSTORE_SET_ENTRY_MISMATCH',
    ],
    [
      'a SET of kind rekord',
      () => [fulcioInput(), keylessSignature({ set: { kind: 'rekord' } })],
      'SIGSTORE_SET_ENTRY_MISMATCH',
    ],
    [
      'a SET of hashedrekord 0.0.2',
      () => [fulcioInput(), keylessSignature({ set: { apiVersion: '0.0.2' } })],
      'SIGSTORE_SET_ENTRY_MISMATCH',
    ],
    [
      'a SET hashing with sha512',
      () => [fulcioInput(), keylessSignature({ set: { hashAlgorithm: 'sha512' } })],
      'SIGSTORE_SET_ENTRY_MISMATCH',
    ],
    [
      'a payload signed by a key other than the certificate’s',
      () => {
        const sig = keylessSignature({
          signingKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
        });
        return [fulcioInput(), sig];
      },
      'SIGSTORE_SIGNATURE_INVALID',
    ],
    [
      'a SET whose integratedTime was edited after signing',
      () => {
        const sig = keylessSignature();
        assert.ok(sig.format === 'sigstore-json');
        const set = JSON.parse(sig.annotations[ANNOTATION_BUNDLE]!);
        set.Payload.integratedTime -= 1;
        return [
          fulcioInput(),
          { ...sig, annotations: { ...sig.annotations, [ANNOTATION_BUNDLE]: JSON.stringify(set) } },
        ];
      },
      'SIGSTORE_SET_SIGNATURE_INVALID',
    ],
    [
      'a SET with a duplicate key',
      () => {
        const sig = keylessSignature();
        assert.ok(sig.format === 'sigstore-json');
        const text = sig.annotations[ANNOTATION_BUNDLE]!.replace(
          '{"SignedEntryTimestamp"',
          '{"Payload":{},"SignedEntryTimestamp"',
        );
        return [fulcioInput(), { ...sig, annotations: { ...sig.annotations, [ANNOTATION_BUNDLE]: text } }];
      },
      'SIGSTORE_SET_MALFORMED',
    ],
    [
      'a certificate annotation with garbage inside the PEM',
      () => [
        fulcioInput(),
        keylessSignature({
          annotations: {
            [ANNOTATION_CERTIFICATE]: '-----BEGIN CERTIFICATE-----\nMIIBgarbage\n-----END CERTIFICATE-----\n',
          },
        }),
      ],
      'SIGSTORE_CERTIFICATE_MALFORMED',
    ],
    [
      'two certificates in the certificate annotation',
      () => [
        fulcioInput(),
        keylessSignature({ annotations: { [ANNOTATION_CERTIFICATE]: leaves.good!.certPem + inter.certPem } }),
      ],
      'SIGSTORE_CERTIFICATE_MALFORMED',
    ],
    [
      'a chain annotation with more than 100 certificates',
      () => [
        fulcioInput(),
        keylessSignature({ annotations: { [ANNOTATION_CHAIN]: inter.certPem.repeat(101) } }),
      ],
      'SIGSTORE_CERTIFICATE_MALFORMED',
    ],
    [
      'a public key instead of a certificate',
      () => [
        fulcioInput(),
        keylessSignature({ annotations: { [ANNOTATION_CERTIFICATE]: rekor.publicKeyPem } }),
      ],
      'SIGSTORE_CERTIFICATE_MALFORMED',
    ],
  ];
  rejectionTests(rejections, verify);
});

describe('keyless identity regular expressions (extension)', () => {
  const cases: [string, Record<string, string>, string | undefined][] = [
    ['workflow URI matching subjectRegExp', { subjectRegExp: 'https://github\\.com/example/.*' }, undefined],
    ['email matching subjectRegExp', { subjectRegExp: '.*@example\\.com' }, undefined],
    ['issuer matching oidcIssuerRegExp', { oidcIssuerRegExp: 'https://token\\.actions\\..*' }, undefined],
    [
      'a pattern matching only part of the subject (patterns are anchored)',
      { subjectRegExp: 'github\\.com/example' },
      'SIGSTORE_SUBJECT_MISMATCH',
    ],
    [
      'a pattern matching only part of the issuer',
      { oidcIssuerRegExp: 'token\\.actions' },
      'SIGSTORE_OIDC_ISSUER_MISMATCH',
    ],
  ];
  for (const [name, patterns, code] of cases) {
    test(`${code ? 'rejects' : 'accepts'} ${name}`, async () => {
      const { subjectEmail, oidcIssuer, ...rest } = fulcioInput().fulcio as Record<string, string>;
      const fulcio = {
        ...rest,
        ...(patterns.subjectRegExp ? {} : { subjectEmail: subjectEmail! }),
        ...(patterns.oidcIssuerRegExp ? {} : { oidcIssuer: oidcIssuer! }),
        ...patterns,
      };
      const run = verify({ ...fulcioInput(), fulcio }, keylessSignature());
      if (code) await assert.rejects(run, { code });
      else await run;
    });
  }
});

describe('trusted_root.json (extension)', () => {
  const der = (pem: string) =>
    Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64');
  const trustedRoot = () =>
    JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [
        {
          baseUrl: 'https://rekor.example',
          hashAlgorithm: 'SHA2_256',
          publicKey: { rawBytes: der(rekor.publicKeyPem), keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
          logId: { keyId: 'AA==' },
        },
      ],
      certificateAuthorities: [
        {
          subject: {},
          uri: 'https://fulcio.example',
          certChain: { certificates: [{ rawBytes: der(inter.certPem) }, { rawBytes: der(root.certPem) }] },
        },
      ],
      ctlogs: [],
      timestampAuthorities: [],
    });

  test('supplies the Fulcio chain (intermediates included) and the Rekor keys', async () => {
    const input = {
      fulcio: { oidcIssuer: FULCIO_ISSUER, subjectEmail: EMAIL },
      trustedRootData: b64(trustedRoot()),
    };
    await verify(input, keylessSignature({ omitChain: true }));
  });

  test('rejects a SET from a Rekor key the trusted root does not list', async () => {
    const input = {
      fulcio: { oidcIssuer: FULCIO_ISSUER, subjectEmail: EMAIL },
      trustedRootData: b64(trustedRoot()),
    };
    await assert.rejects(verify(input, keylessSignature({ rekorKey: otherRekor.privateKey })), {
      code: 'SIGSTORE_SET_SIGNATURE_INVALID',
    });
  });
});

describe('bring-your-own PKI', () => {
  const pkiInput = (pki: Record<string, string> = {}): SigstoreRequirementInput => ({
    pki: {
      caRootsData: b64(root.certPem),
      caIntermediatesData: b64(inter.certPem),
      subjectEmail: 'builder@example.com',
      subjectHostname: 'ci.build.example.com',
      ...pki,
    },
  });
  const pkiSignature = () =>
    signedAttachment(leaves.pki!.key, payload, { [ANNOTATION_CERTIFICATE]: leaves.pki!.certPem });

  test('accepts a leaf with the email and a wildcard DNS name covering the host', async () => {
    const accepted = await verify(pkiInput(), pkiSignature());
    assert.equal(accepted.signer.kind, 'certificate');
  });

  const rejections: [string, () => SigstoreRequirementInput, string, Date?][] = [
    ['another email', () => pkiInput({ subjectEmail: 'eve@example.com' }), 'SIGSTORE_SUBJECT_MISMATCH'],
    [
      'a host two labels under the wildcard',
      () => pkiInput({ subjectHostname: 'a.ci.build.example.com' }),
      'SIGSTORE_SUBJECT_MISMATCH',
    ],
    [
      'no trusted intermediate',
      () => ({ pki: { caRootsData: b64(root.certPem), subjectEmail: 'builder@example.com' } }),
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
    ],
    [
      'a leaf expired at the current time',
      () => pkiInput(),
      'SIGSTORE_CERTIFICATE_UNTRUSTED',
      new Date(Date.now() + 40 * DAY * 1000),
    ],
  ];
  for (const [name, input, code, at] of rejections) {
    test(`rejects ${name} with ${code}`, async () => {
      await assert.rejects(verify(input(), pkiSignature(), at), { code });
    });
  }
});

describe('trust material', () => {
  const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'spki' }).toString();
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey;
  const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const cases: [string, SigstoreRequirementInput][] = [
    ['a secp256k1 key (wrong curve)', { keyData: b64(pem(k1)) }],
    ['a 1024-bit RSA key', { keyData: b64(pem(rsaSmall)) }],
    [
      'an RSA Rekor key (Rekor keys must be ECDSA)',
      { keyData: b64(pem(p256)), rekorPublicKeyData: b64(pem(rsa)) },
    ],
    ['keyData that is not base64', { keyData: 'not base64!' }],
    ['keyData that is not a PEM key', { keyData: b64('hello') }],
    ['an unreadable keyPath', { keyPath: '/nonexistent/key.pub' }],
    ['an empty keyDatas', { keyDatas: [] }],
    ['both keyPath and keyData', { keyPath: '/a', keyData: b64(pem(p256)) }],
    ['no trust at all', {}],
    [
      'fulcio without Rekor keys',
      { fulcio: { caData: 'AA==', oidcIssuer: FULCIO_ISSUER, subjectEmail: EMAIL } },
    ],
    [
      'pki with Rekor keys',
      { pki: { caRootsData: 'AA==', subjectEmail: EMAIL }, rekorPublicKeyData: b64(pem(p256)) },
    ],
    ['pki without subject', { pki: { caRootsData: 'AA==' } }],
    [
      'an invalid subject regular expression',
      { ...fulcioInputStatic(), fulcio: { caData: 'AA==', oidcIssuer: FULCIO_ISSUER, subjectRegExp: '(' } },
    ],
    [
      'caData holding a public key instead of certificates',
      {
        ...fulcioInputStatic(),
        fulcio: { caData: b64(pem(p256)), oidcIssuer: FULCIO_ISSUER, subjectEmail: EMAIL },
      },
    ],
  ];
  function fulcioInputStatic(): SigstoreRequirementInput {
    return { rekorPublicKeyData: b64(pem(p256)) };
  }
  for (const [name, input] of cases) {
    test(`rejects ${name} with SIGSTORE_TRUST_INVALID`, async () => {
      await assert.rejects(compileSigstoreTrust(input, noFiles), { code: 'SIGSTORE_TRUST_INVALID' });
    });
  }
});

describe('key-signed payload checks', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const input = { keyData: b64(publicKey.export({ format: 'pem', type: 'spki' }).toString()) };
  const withPayload = (text: string) => signedAttachment(privateKey, Buffer.from(text));
  const critical = (inner: string) => `{"critical":${inner},"optional":null}`;
  const good = `{"identity":{"docker-reference":"${IDENTITY}"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"cosign container image signature"}`;
  const cases: [string, Signature, string][] = [
    [
      'a duplicate key in the payload',
      withPayload(`{"critical":${good},"critical":${good},"optional":null}`),
      'SIGSTORE_PAYLOAD_INVALID',
    ],
    [
      'the simple-signing type',
      withPayload(critical(good.replace('cosign container image signature', 'atomic container signature'))),
      'SIGSTORE_PAYLOAD_INVALID',
    ],
    [
      'an unknown critical key',
      withPayload(critical(good.replace('{"identity"', '{"extra":1,"identity"'))),
      'SIGSTORE_PAYLOAD_INVALID',
    ],
    [
      'an invalid digest',
      withPayload(critical(good.replace(DIGEST, 'sha256:../..'))),
      'SIGSTORE_PAYLOAD_INVALID',
    ],
    ['optional as a string', withPayload(`{"critical":${good},"optional":"x"}`), 'SIGSTORE_PAYLOAD_INVALID'],
    [
      'a fractional timestamp',
      withPayload(`{"critical":${good},"optional":{"timestamp":0.5}}`),
      'SIGSTORE_PAYLOAD_INVALID',
    ],
    ['trailing data after the payload', withPayload(`${critical(good)} {}`), 'SIGSTORE_PAYLOAD_INVALID'],
    [
      'a payload for another digest',
      withPayload(critical(good.replace(DIGEST, `sha256:${'00'.repeat(32)}`))),
      'SIGSTORE_DIGEST_MISMATCH',
    ],
    [
      'a payload for another repository',
      withPayload(critical(good.replace(IDENTITY, 'registry.example/other'))),
      'SIGSTORE_IDENTITY_MISMATCH',
    ],
    [
      'an attestation mime type',
      { ...withPayload(critical(good)), mimeType: 'application/vnd.dsse.envelope.v1+json' } as Signature,
      'SIGSTORE_NOT_A_SIGNATURE',
    ],
    [
      'a simple-signing signature',
      { format: 'simple-signing', blob: new Uint8Array([1]) },
      'SIGSTORE_NOT_A_SIGNATURE',
    ],
    [
      'a signature annotation that is not base64',
      { ...withPayload(critical(good)), annotations: { [ANNOTATION_SIGNATURE]: '***' } } as Signature,
      'SIGSTORE_SIGNATURE_ENCODING',
    ],
    [
      'a signature annotation far longer than any signature',
      {
        ...withPayload(critical(good)),
        annotations: { [ANNOTATION_SIGNATURE]: 'A'.repeat(20_000) },
      } as Signature,
      'SIGSTORE_SIGNATURE_ENCODING',
    ],
    [
      'a key+Rekor requirement without a SET',
      withPayload(critical(good)),
      'SIGSTORE_MISSING_BUNDLE_ANNOTATION',
    ],
  ];
  for (const [name, sig, code] of cases) {
    test(`rejects ${name} with ${code}`, async () => {
      const trustInput =
        code === 'SIGSTORE_MISSING_BUNDLE_ANNOTATION'
          ? { ...input, rekorPublicKeyData: b64(rekor.publicKeyPem) }
          : input;
      await assert.rejects(verify(trustInput, sig), { code });
    });
  }

  test('accepts the well-formed payload (the table above differs from it in one way each)', async () => {
    await verify(input, withPayload(critical(good)));
  });
});
