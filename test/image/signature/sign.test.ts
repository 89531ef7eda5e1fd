import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { verifyBlob } from '../../../src/image/signature/gpg/openpgp.ts';
import {
  loadKeyring,
  loadSecretKeyring,
  parsePayload,
  SIMPLE_SIGNING_TYPE,
  signBlob,
  simpleSigningPayload,
  verifyImageManifestSignature,
} from '../../../src/image/signature/index.ts';
import { type GnupgHome, gnupgHome } from './gnupg.ts';
import { fixture } from './helpers.ts';

const manifest = await readFile(fixture('image.manifest.json'));
const digest = 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55';

describe('simple-signing payload', () => {
  it('serializes as Go does: sorted keys, no whitespace', () => {
    const p = simpleSigningPayload(manifest, 'example.com/ns/app:v1', {
      creator: 'atomic 1',
      now: new Date(1_700_000_000_000),
    });
    assert.equal(
      new TextDecoder().decode(p),
      `{"critical":{"identity":{"docker-reference":"example.com/ns/app:v1"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":{"creator":"atomic 1","timestamp":1700000000}}`,
    );
  });

  const bad: ReadonlyArray<[string, string]> = [
    [
      'extra critical member',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature","x":1},"optional":{}}`,
    ],
    [
      'wrong type',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":{}}`,
    ],
    [
      'invalid digest',
      '{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"sha256:../.."},"type":"atomic container signature"},"optional":{}}',
    ],
    [
      'fractional timestamp',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":{"timestamp":0.5}}`,
    ],
    [
      'creator not a string',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":{"creator":1}}`,
    ],
    [
      'missing optional',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"}}`,
    ],
    [
      'null optional (simple signing)',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":null}`,
    ],
    [
      'duplicate key',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":{},"optional":{}}`,
    ],
    [
      'trailing data',
      `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":{}}{}`,
    ],
  ];
  for (const [name, text] of bad) {
    it(`rejects a payload with ${name}`, () => {
      assert.throws(() => parsePayload(new TextEncoder().encode(text), SIMPLE_SIGNING_TYPE), {
        code: 'SIGNATURE_INVALID',
      });
    });
  }

  it('accepts unknown optional members and an integral exponent timestamp', () => {
    const text = `{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":{"timestamp":1e3,"other":[1]}}`;
    assert.equal(parsePayload(new TextEncoder().encode(text), SIMPLE_SIGNING_TYPE).timestamp, 1000);
  });
});

describe('signing with openpgp', () => {
  let home: GnupgHome;
  let ed: string;
  let rsa: string;
  before(async () => {
    home = await gnupgHome();
    ed = await home.generate('Ed Signer <ed@example.com>', 'ed25519');
    rsa = await home.generate('Rsa Signer <rsa@example.com>', 'rsa2048', 'pass phrase');
  });
  after(() => home.remove());

  it('signs with an unprotected key exported from GnuPG; the signature verifies', async () => {
    const secret = await loadSecretKeyring(await home.exportSecret(ed));
    const blob = await signBlob(
      simpleSigningPayload(manifest, 'example.com/ns/app:v1'),
      secret,
      ed,
      undefined,
    );
    // containers/image stores simple signatures raw and recognizes them by their first byte.
    assert.ok(
      [0xa0, 0xa1, 0xa2, 0xa3, 0xc8, 0x90, 0x91, 0x92, 0xc4, 0x88, 0x89, 0x8a, 0x8b, 0xc2].includes(blob[0]!),
    );
    const keyring = await loadKeyring([await home.exportPublic()]);
    const sig = await verifyImageManifestSignature(blob, manifest, 'example.com/ns/app:v1', keyring, [ed]);
    assert.equal(sig.keyIdentity, ed);
    assert.equal(sig.dockerManifestDigest, digest);
  });

  it('signs with a passphrase-protected key', async () => {
    const secret = await loadSecretKeyring(await home.exportSecret(rsa, 'pass phrase'));
    const blob = await signBlob(
      simpleSigningPayload(manifest, 'example.com/ns/app:v1'),
      secret,
      rsa,
      'pass phrase',
    );
    const v = await verifyBlob(blob, await loadKeyring([await home.exportPublic(rsa)]));
    assert.equal(v.keyIdentity, rsa);
  });

  it('a wrong passphrase is SIGNING_FAILED', async () => {
    const secret = await loadSecretKeyring(await home.exportSecret(rsa, 'pass phrase'));
    await assert.rejects(signBlob(new Uint8Array([1]), secret, rsa, 'wrong'), { code: 'SIGNING_FAILED' });
    await assert.rejects(signBlob(new Uint8Array([1]), secret, rsa, undefined), { code: 'SIGNING_FAILED' });
  });

  it('an unknown fingerprint is KEY_NOT_FOUND', async () => {
    const secret = await loadSecretKeyring(await home.exportSecret(ed));
    await assert.rejects(signBlob(new Uint8Array([1]), secret, rsa, undefined), { code: 'KEY_NOT_FOUND' });
  });

  it('a public key is not a secret key: KEY_INVALID', async () => {
    await assert.rejects(loadSecretKeyring(await home.exportPublic(ed)), { code: 'KEY_INVALID' });
  });

  it('the upstream passphrase fixture key signs with its passphrase', async () => {
    const secret = await loadSecretKeyring(await readFile(fixture('secring.gpg')));
    const fpr = 'F2B501009F78B0B340221A12A3CD242DA6028093';
    const blob = await signBlob(
      simpleSigningPayload(manifest, 'testing/manifest:latest'),
      secret,
      fpr,
      'WithPassphrase123',
    );
    const v = await verifyBlob(blob, await loadKeyring([await readFile(fixture('pubring.gpg'))]));
    assert.equal(v.keyIdentity, fpr);
  });
});
