// policy.json's notationSigned requirement: parsed strictly, its Notation settings validated at
// parse time, its trust store files part of the policy's file list, and the skip level deciding
// without the image.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicyEvaluator } from '../../../src/image/signature/evaluate.ts';
import { parsePolicy } from '../../../src/image/signature/policy-parse.ts';
import { policyFilePaths, verifiesSignatures } from '../../../src/image/signature/requirements/index.ts';
import { DockerTransport } from '../../../src/image/transports/docker/index.ts';

const IDENTITY = 'x509.subject: C=US, ST=WA, O=Acme';
const policyOf = (req: object) => JSON.stringify({ default: [req] });
const valid = {
  type: 'notationSigned',
  trustStore: { caPath: '/etc/notation/ca.pem', tsaData: Buffer.from('tsa').toString('base64') },
  trustedIdentities: [IDENTITY],
  signatureVerification: {
    level: 'strict',
    override: { revocation: 'skip' },
    verifyTimestamp: 'afterCertExpiry',
  },
};

describe('notationSigned in policy.json', () => {
  test('parses trust stores, identities and verification settings', () => {
    const [req] = parsePolicy(policyOf(valid)).default;
    assert.equal(req.type, 'notationSigned');
    assert.deepEqual(req.trustStore.ca, { kind: 'path', path: '/etc/notation/ca.pem' });
    assert.equal(req.trustStore.tsa?.kind, 'data');
    assert.equal(req.trustStore.signingAuthority, undefined);
    assert.deepEqual(req.settings, {
      level: 'strict',
      trustedIdentities: [IDENTITY],
      override: { revocation: 'skip' },
      verifyTimestamp: 'afterCertExpiry',
    });
    assert.ok(verifiesSignatures(req));
    assert.deepEqual(policyFilePaths(parsePolicy(policyOf(valid))), ['/etc/notation/ca.pem']);
  });

  const invalid: [string, object][] = [
    ['an unknown level', { ...valid, signatureVerification: { level: 'lenient' } }],
    [
      'an override of integrity',
      { ...valid, signatureVerification: { level: 'strict', override: { integrity: 'log' } } },
    ],
    [
      'revocation overridden with a typo',
      { ...valid, signatureVerification: { level: 'strict', override: { revocation: 'skipp' } } },
    ],
    ['an identity without O', { ...valid, trustedIdentities: ['x509.subject: C=US, ST=WA'] }],
    ['overlapping identities', { ...valid, trustedIdentities: [IDENTITY, `${IDENTITY}, CN=x`] }],
    ['no trusted identities', { ...valid, trustedIdentities: [] }],
    ['no ca or signingAuthority store', { ...valid, trustStore: { tsaPath: '/tsa.pem' } }],
    ['caPath and caData together', { ...valid, trustStore: { caPath: '/a', caData: 'YQ==' } }],
    ['an unknown trustStore member', { ...valid, trustStore: { caPath: '/a', caPaths: ['/b'] } }],
    ['an unknown member', { ...valid, signedIdentity: { type: 'matchExact' } }],
  ];
  for (const [what, req] of invalid) {
    test(`rejects ${what}`, () =>
      assert.throws(
        () => parsePolicy(policyOf(req)),
        (err: { code: string }) => err.code.startsWith('JSON_'),
      ));
  }

  test('the skip level needs no trust store and decides without the image', () => {
    const policy = parsePolicy(
      policyOf({ type: 'notationSigned', trustedIdentities: [], signatureVerification: { level: 'skip' } }),
    );
    assert.equal(verifiesSignatures(policy.default[0]), false);
    const ref = new DockerTransport().parseReference('//registry.example/app:v1');
    assert.equal(new PolicyEvaluator(policy).decideWithoutImage(ref)?.allowed, true);
  });
});
