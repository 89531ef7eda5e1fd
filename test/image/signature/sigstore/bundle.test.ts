// Sigstore bundles verified offline with a trusted root the test makes: DSSE in-toto statements
// signed by a key (v0.3, no log) and by a Fulcio-style certificate with a Rekor entry (v0.1).
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Digest, parseDigest } from '../../../../src/image/digest.ts';
import { MAX_BUNDLE_BYTES, verifySigstoreBundle } from '../../../../src/image/signature/sigstore/bundle.ts';
import { canonicalJson, type JsonObject } from '../../../../src/image/signature/sigstore/json.ts';
import { buildSigstorePayload } from '../../../../src/image/signature/sigstore/payload.ts';
import {
  compileSigstoreTrust,
  type SigstoreRequirementInput,
} from '../../../../src/image/signature/sigstore/trust.ts';
import { rejectionTests } from './helpers.ts';
import {
  attestationBundle,
  CA_EXTENSIONS,
  dsse,
  FULCIO_ISSUER,
  fulcioLeafExtensions,
  type Issued,
  issue,
  keyBundle,
  newRekorKey,
  statement,
} from './pki.ts';

const DIGEST = parseDigest(`sha256:${'7a'.repeat(32)}`);
const IDENTITY = 'registry.example/bundles/app';
const EMAIL = 'release@example.com';
const b64 = (b: string | Uint8Array) => Buffer.from(b).toString('base64');
const der = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
const noFiles = () => Promise.reject(new Error('no files in this test'));

let dir: string;
let root: Issued;
let inter: Issued;
let leaf: Issued;
const rekor = newRekorKey();
const otherRekor = newRekorKey();
const rekorSpki = () => der(rekor.publicKeyPem);
const logId = () => createHash('sha256').update(rekorSpki()).digest();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-bundle-'));
  root = await issue(dir, 'root', CA_EXTENSIONS, { days: 3650 });
  inter = await issue(
    dir,
    'inter',
    ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign'],
    {
      issuer: root,
      days: 3650,
    },
  );
  leaf = await issue(
    dir,
    'leaf',
    fulcioLeafExtensions({ email: EMAIL, issuerV1: FULCIO_ISSUER, issuerV2: FULCIO_ISSUER }),
    {
      issuer: inter,
      days: 30,
    },
  );
});
after(() => rm(dir, { recursive: true, force: true }));

/** A v0.1 bundle: DSSE by the leaf certificate, with a dsse 0.0.1 Rekor entry and its SET. */
function fulcioBundle(options: { rekorKey?: KeyObject; digest?: Digest } = {}): Buffer {
  const payload = statement(options.digest ?? DIGEST, IDENTITY);
  const { envelope, sig } = dsse(leaf.key, payload);
  const body = {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: {
        algorithm: 'sha256',
        value: createHash('sha256').update(JSON.stringify(envelope)).digest('hex'),
      },
      payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
      signatures: [{ signature: b64(sig), verifier: b64(leaf.certPem) }],
    },
  };
  const integratedTime = Math.floor(Date.now() / 1000);
  const canonicalizedBody = b64(JSON.stringify(body));
  const setPayload: JsonObject = {
    body: canonicalizedBody,
    integratedTime,
    logIndex: 7,
    logID: logId().toString('hex'),
  };
  const set = sign('sha256', Buffer.from(canonicalJson(setPayload)), options.rekorKey ?? rekor.privateKey);
  return Buffer.from(
    JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: {
        x509CertificateChain: { certificates: [{ rawBytes: b64(der(leaf.certPem)) }] },
        tlogEntries: [
          {
            logIndex: '7',
            logId: { keyId: b64(logId()) },
            kindVersion: { kind: 'dsse', version: '0.0.1' },
            integratedTime: String(integratedTime),
            inclusionPromise: { signedEntryTimestamp: b64(set) },
            canonicalizedBody,
          },
        ],
      },
      dsseEnvelope: envelope,
    }),
  );
}

function trustedRoot(): string {
  const validFor = { start: '2020-01-01T00:00:00Z' };
  return JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.example',
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: b64(rekorSpki()), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor },
        logId: { keyId: b64(logId()) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'portcullis test', commonName: 'inter' },
        uri: 'https://fulcio.example',
        certChain: {
          certificates: [{ rawBytes: b64(der(inter.certPem)) }, { rawBytes: b64(der(root.certPem)) }],
        },
        validFor,
      },
    ],
    ctlogs: [],
    timestampAuthorities: [],
  });
}

/** Verifies with a policy that opts in to digest-only signatures unless `acceptsDigestOnly` is false. */
async function verify(input: SigstoreRequirementInput, bundle: Uint8Array, acceptsDigestOnly = true) {
  const trust = await compileSigstoreTrust(input, noFiles);
  return verifySigstoreBundle(trust, bundle, {
    matchesManifestDigest: (d) => d === DIGEST,
    matchesDockerReference: (r) => r === IDENTITY,
    acceptsDigestOnly,
  });
}

describe('key-signed bundles (v0.3 DSSE, no transparency log)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const input = { keyData: b64(publicKey.export({ format: 'pem', type: 'spki' }).toString()) };

  test('accepts a statement whose subject is the image manifest', async () => {
    const accepted = await verify(input, keyBundle(privateKey, DIGEST, IDENTITY));
    assert.equal(accepted.manifestDigest, DIGEST);
    assert.equal(accepted.predicateType, 'https://sigstore.dev/cosign/sign/v1');
    assert.deepEqual(accepted.signer, { kind: 'key', source: 'keyData' });
  });

  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const cases: [string, () => Uint8Array, string][] = [
    [
      'a statement for another digest',
      () => keyBundle(privateKey, parseDigest(`sha256:${'00'.repeat(32)}`), IDENTITY),
      'SIGSTORE_DIGEST_MISMATCH',
    ],
    [
      'a bundle signed by an unknown key',
      () => keyBundle(other, DIGEST, IDENTITY),
      'SIGSTORE_SIGNATURE_INVALID',
    ],
    [
      'a bundle over the size cap',
      () => Buffer.concat([keyBundle(privateKey, DIGEST, IDENTITY), Buffer.alloc(MAX_BUNDLE_BYTES, 0x20)]),
      'SIGSTORE_BUNDLE_TOO_LARGE',
    ],
    [
      'an unknown bundle media type',
      () =>
        Buffer.from(
          keyBundle(privateKey, DIGEST, IDENTITY).toString().replace('bundle.v0.3+json', 'bundle.v9+json'),
        ),
      'SIGSTORE_BUNDLE_INVALID',
    ],
    [
      'a bundle with a duplicate key',
      () =>
        Buffer.from(
          keyBundle(privateKey, DIGEST, IDENTITY)
            .toString()
            .replace('{"mediaType"', '{"dsseEnvelope":{},"mediaType"'),
        ),
      'SIGSTORE_BUNDLE_INVALID',
    ],
    ['bytes that are not json', () => Buffer.from('not json'), 'SIGSTORE_BUNDLE_INVALID'],
    [
      'a key bundle when the requirement also wants a Rekor entry',
      () => keyBundle(privateKey, DIGEST, IDENTITY),
      'REKOR',
    ],
  ];
  for (const [name, make, code] of cases) {
    test(`rejects ${name}`, async () => {
      const trustInput = code === 'REKOR' ? { ...input, rekorPublicKeyData: b64(rekor.publicKeyPem) } : input;
      await assert.rejects(verify(trustInput, make()), {
        code: code === 'REKOR' ? 'SIGSTORE_BUNDLE_INVALID' : code,
      });
    });
  }
});

describe('what a DSSE statement binds', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const input = { keyData: b64(publicKey.export({ format: 'pem', type: 'spki' }).toString()) };

  test('a signature statement names no docker reference: it fails the identity step by default', async () => {
    await assert.rejects(verify(input, keyBundle(privateKey, DIGEST, IDENTITY), false), {
      code: 'SIGSTORE_IDENTITY_MISSING',
      message: /binds only the manifest digest and names no docker reference/,
    });
  });

  test('the digest is checked before the identity', async () => {
    const other = parseDigest(`sha256:${'00'.repeat(32)}`);
    await assert.rejects(verify(input, keyBundle(privateKey, other, IDENTITY), false), {
      code: 'SIGSTORE_DIGEST_MISMATCH',
    });
  });

  // cosign attest --type: each predicate type it writes, none of which is a signature.
  const attestations = [
    'https://slsa.dev/provenance/v0.2',
    'https://slsa.dev/provenance/v1',
    'https://in-toto.io/Link/v1',
    'https://spdx.dev/Document',
    'https://cyclonedx.org/bom',
    'https://cosign.sigstore.dev/attestation/vuln/v1',
    'https://openvex.dev/ns',
    'https://cosign.sigstore.dev/attestation/v1',
  ];
  for (const predicateType of attestations) {
    test(`an attestation (${predicateType}) by the trusted key is not a signature`, async () => {
      await assert.rejects(verify(input, attestationBundle(privateKey, DIGEST, predicateType)), {
        code: 'SIGSTORE_NOT_A_SIGNATURE',
        message: new RegExp(`an attestation \\(predicate type "${predicateType.replaceAll('.', '\\.')}"\\)`),
      });
    });
  }
});

describe('Fulcio-signed bundles (v0.1 DSSE with a Rekor entry, trusted root)', () => {
  const input = (fulcio: Record<string, string> = {}): SigstoreRequirementInput => ({
    fulcio: { oidcIssuer: FULCIO_ISSUER, subjectEmail: EMAIL, ...fulcio },
    trustedRootData: b64(trustedRoot()),
  });

  test('accepts a bundle from the trusted CA logged by the trusted Rekor', async () => {
    const accepted = await verify(input(), fulcioBundle());
    assert.deepEqual(accepted.signer, {
      kind: 'certificate',
      emails: [EMAIL],
      uris: [],
      issuer: FULCIO_ISSUER,
    });
  });

  const cases: [string, () => [SigstoreRequirementInput, Uint8Array], string][] = [
    [
      'another subject',
      () => [input({ subjectEmail: 'eve@example.com' }), fulcioBundle()],
      'SIGSTORE_SUBJECT_MISMATCH',
    ],
    [
      'another issuer',
      () => [input({ oidcIssuer: 'https://accounts.example' }), fulcioBundle()],
      'SIGSTORE_OIDC_ISSUER_MISMATCH',
    ],
    [
      'a SET from an unknown Rekor key',
      () => [input(), fulcioBundle({ rekorKey: otherRekor.privateKey })],
      'SIGSTORE_BUNDLE_INVALID',
    ],
    [
      'a statement for another digest',
      () => [input(), fulcioBundle({ digest: parseDigest(`sha256:${'01'.repeat(32)}`) })],
      'SIGSTORE_DIGEST_MISMATCH',
    ],
    [
      'fulcio trust without a trusted root',
      () => [
        {
          fulcio: { caData: b64(root.certPem), oidcIssuer: FULCIO_ISSUER, subjectEmail: EMAIL },
          rekorPublicKeyData: b64(rekor.publicKeyPem),
        },
        fulcioBundle(),
      ],
      'SIGSTORE_BUNDLE_INVALID',
    ],
  ];
  rejectionTests(cases, verify);
});

describe('message-signature bundles', () => {
  test('need the signed simple-signing payload', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const payload = buildSigstorePayload(DIGEST, IDENTITY, null);
    const bundle = Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: { publicKey: { hint: 'k' }, tlogEntries: [] },
        messageSignature: {
          messageDigest: {
            algorithm: 'SHA2_256',
            digest: createHash('sha256').update(payload).digest('base64'),
          },
          signature: b64(sign('sha256', payload, privateKey)),
        },
      }),
    );
    const trust = await compileSigstoreTrust(
      { keyData: b64(publicKey.export({ format: 'pem', type: 'spki' }).toString()) },
      noFiles,
    );
    const expectations = {
      matchesManifestDigest: (d: Digest) => d === DIGEST,
      matchesDockerReference: (r: string) => r === IDENTITY,
    };
    await assert.rejects(verifySigstoreBundle(trust, bundle, expectations), {
      code: 'SIGSTORE_BUNDLE_INVALID',
    });
    const accepted = await verifySigstoreBundle(trust, bundle, expectations, payload);
    assert.equal(accepted.payload?.dockerReference, IDENTITY);
    await assert.rejects(
      verifySigstoreBundle(trust, bundle, { ...expectations, matchesDockerReference: () => false }, payload),
      { code: 'SIGSTORE_IDENTITY_MISMATCH' },
    );
  });
});
