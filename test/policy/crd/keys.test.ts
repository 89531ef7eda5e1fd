import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadKeyring, parsePolicy } from '../../../src/image/signature/index.ts';
import { parsePublicKeyPem } from '../../../src/image/signature/sigstore/keys.ts';
import { loadInlineKeys } from '../../../src/policy/crd/keys.ts';
import { conformancePath } from '../../helpers/conformance.ts';

const fixture = (name: string) =>
  readFileSync(conformancePath(`containers-image/signature/fixtures/${name}`)).toString('base64');
const garbage = Buffer.from('-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n').toString(
  'base64',
);
const notationCa = readFileSync(
  new URL('../../fixtures/notation/notation-go/TestTimestamp.crt', import.meta.url),
).toString('base64');
const notation = (caData: string) => ({
  type: 'notationSigned',
  trustStore: { caData },
  trustedIdentities: ['*'],
  signatureVerification: { level: 'strict' },
});
const loaders = { gpg: loadKeyring, sigstore: (pem: string, field: string) => parsePublicKeyPem(pem, field) };

describe('loadInlineKeys', () => {
  const cases: { name: string; requirement: object; ok: boolean }[] = [
    {
      name: 'a cosign public key',
      requirement: { type: 'sigstoreSigned', keyData: fixture('cosign.pub') },
      ok: true,
    },
    {
      name: 'several cosign keys, one broken',
      requirement: { type: 'sigstoreSigned', keyDatas: [fixture('cosign.pub'), garbage] },
      ok: false,
    },
    {
      name: 'a GPG keyring',
      requirement: { type: 'signedBy', keyType: 'GPGKeys', keyData: fixture('public-key-1.gpg') },
      ok: true,
    },
    {
      name: 'a GPG keyring that is not one',
      requirement: { type: 'signedBy', keyType: 'GPGKeys', keyData: garbage },
      ok: false,
    },
    {
      name: 'a Rekor key that does not parse',
      requirement: { type: 'sigstoreSigned', keyData: fixture('cosign.pub'), rekorPublicKeyData: garbage },
      ok: false,
    },
    {
      name: 'a notationSigned ca bundle (notation-go test data)',
      requirement: notation(notationCa),
      ok: true,
    },
    {
      name: 'a notationSigned ca bundle that holds no certificate',
      requirement: notation(garbage),
      ok: false,
    },
    {
      name: 'a notationSigned trust store file, left to evaluation',
      requirement: { ...notation(notationCa), trustStore: { caPath: '/nonexistent' } },
      ok: true,
    },
    {
      name: 'key files are left to evaluation',
      requirement: { type: 'sigstoreSigned', keyPath: '/nonexistent' },
      ok: true,
    },
  ];
  for (const c of cases) {
    it(`${c.ok ? 'loads' : 'refuses'} ${c.name}`, async () => {
      const policy = parsePolicy(
        JSON.stringify({
          default: [{ type: 'reject' }],
          transports: { docker: { 'q.io': [c.requirement] } },
        }),
      );
      if (c.ok) await loadInlineKeys(policy, loaders);
      else await assert.rejects(loadInlineKeys(policy, loaders));
    });
  }
});
