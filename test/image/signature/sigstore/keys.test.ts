// cosign's encrypted private key format, the secretbox under it, and the signer copy uses.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { parseDigest } from '../../../../src/image/digest.ts';
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateSigstoreKeyPair,
  type SigstoreError,
} from '../../../../src/image/signature/sigstore/index.ts';
import { verifyWithKey } from '../../../../src/image/signature/sigstore/keys.ts';
import { secretboxOpen, secretboxSeal } from '../../../../src/image/signature/sigstore/secretbox.ts';
import {
  loadSigstoreSigner,
  sigstoreSignerFromKey,
} from '../../../../src/image/signature/sigstore/signer.ts';
import { compileSigstoreTrust } from '../../../../src/image/signature/sigstore/trust.ts';
import { verifySigstoreSignature } from '../../../../src/image/signature/sigstore/verify.ts';

const passphrase = new TextEncoder().encode('correct horse');
const digest = parseDigest(`sha256:${'ab'.repeat(32)}`);
const noFiles = () => Promise.reject(new Error('no files in this test'));

// Produced by Go's golang.org/x/crypto/nacl/secretbox.Seal (v0.27.0) for these inputs.
const GO_SECRETBOX_VECTOR =
  'ad1bf3bcba9b96291346b7438b32a5e46712c0fb44c268d3704054ae068d921a21ea8219413a14025990b3faa3724691e2f829e691123f1c7b8dd8dcdb72acdb16d48f7851f8131d2a4e243c9bec9051de578f1820d2efb3c7e7f5836e8230e8412a47bce73ebd0b324900485e765c6627c48b63760a99bc75115968cfd23fac0079fd75769488a9092bf7f7efbec21f07035ce0c766ecca7402fe110af631a55e2d3fc4e692';

describe('secretbox', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 7) & 255);
  const nonce = Uint8Array.from({ length: 24 }, (_, i) => (200 - i) & 255);
  const msg = Uint8Array.from({ length: 150 }, (_, i) => (i * 3) & 255);

  test('seal matches Go x/crypto/nacl/secretbox byte for byte (multi-block message)', () => {
    assert.equal(Buffer.from(secretboxSeal(msg, nonce, key)).toString('hex'), GO_SECRETBOX_VECTOR);
  });

  test('open returns the plaintext of an authentic box', () => {
    assert.deepEqual(secretboxOpen(Buffer.from(GO_SECRETBOX_VECTOR, 'hex'), nonce, key), msg);
  });

  test('open rejects a box with any flipped bit', () => {
    for (const index of [0, 15, 16, 100, 165]) {
      const box = Buffer.from(GO_SECRETBOX_VECTOR, 'hex');
      box[index]! ^= 1;
      assert.equal(secretboxOpen(box, nonce, key), undefined, `bit flipped at byte ${index}`);
    }
  });
});

// Written by `cosign generate-key-pair` (v2.4.1) with COSIGN_PASSWORD='fixture passphrase'.
const COSIGN_KEY = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJ4Yk0zMTdvbCtvR1RoVVhrbWpwNzRSbkphaTRPbXo4
NzdxclZKbXlWRlJZPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJrdkJiQ2xpRTk1cktOeGVlUmFTN05UOHhrZjg2U0dCMiJ9LCJj
aXBoZXJ0ZXh0IjoiRXk5RUUxQlhnUWowNTFIYUpudndBOGNnc2VqS085cFZaSVor
RW9UU3VFM0pGWEJDejMrYkNiQkFOTm1OcWduWDdLU2Y2TUJZR2JWdnhaeWg2ZW9s
Z2F2Z3dscnNmZDRwVXFndnlQS0hDSE5raXpmSFFHc3RYMjFranJxem95VlByaVBz
TG5MT2oxTmdUaWQ3OTV3eWF3cUl0dW9SblpwcnhNekZOYWI5Qk9YNkFzcW51Uml1
QlJGNEZ6SFA4S2s5YURkYnVOaEZnaDRVNHc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
`;
const COSIGN_PUB = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEF6tYDQfm3C7TnuLhXMqOiSJQXKeG
5YPYZsE32GK0tnP0+UQJiwi6Qq25Gwfyz0GB/hJEOT89zCs91Cu2CG6o5w==
-----END PUBLIC KEY-----
`;

describe('encrypted private keys', () => {
  test('a generated key pair round-trips with its passphrase', async () => {
    const pair = await generateSigstoreKeyPair(passphrase);
    assert.match(pair.privateKeyPem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const key = await decryptPrivateKey(pair.privateKeyPem, passphrase);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  test('the encrypted JSON has cosign’s shape (scrypt N=65536 r=8 p=1, 32-byte salt, 24-byte nonce)', async () => {
    const pair = await generateSigstoreKeyPair(passphrase);
    const body = pair.privateKeyPem.split('\n').slice(1, -2).join('');
    const doc = JSON.parse(Buffer.from(body, 'base64').toString());
    assert.deepEqual(Object.keys(doc), ['kdf', 'cipher', 'ciphertext']);
    assert.deepEqual(doc.kdf.params, { N: 65536, r: 8, p: 1 });
    assert.equal(Buffer.from(doc.kdf.salt, 'base64').length, 32);
    assert.equal(doc.cipher.name, 'nacl/secretbox');
    assert.equal(Buffer.from(doc.cipher.nonce, 'base64').length, 24);
  });

  test('a key written by cosign opens, and is the private half of cosign’s public key', async () => {
    const key = await decryptPrivateKey(COSIGN_KEY, new TextEncoder().encode('fixture passphrase'));
    const pub = createPublicKey(key).export({ format: 'pem', type: 'spki' }).toString();
    assert.equal(pub, COSIGN_PUB);
    await assert.rejects(decryptPrivateKey(COSIGN_KEY, passphrase), { code: 'SIGSTORE_PASSPHRASE_WRONG' });
  });

  test('a wrong passphrase is SIGSTORE_PASSPHRASE_WRONG', async () => {
    const pair = await generateSigstoreKeyPair(passphrase);
    await assert.rejects(decryptPrivateKey(pair.privateKeyPem, new TextEncoder().encode('wrong')), {
      code: 'SIGSTORE_PASSPHRASE_WRONG',
    });
  });

  interface KeyDoc {
    kdf: { name: string; params: { N: number } };
    cipher: { name: string; nonce: string };
    extra?: number;
  }
  const tamper = async (edit: (doc: KeyDoc) => void, type = 'ENCRYPTED SIGSTORE PRIVATE KEY') => {
    const pair = await generateSigstoreKeyPair(passphrase);
    const body = pair.privateKeyPem.split('\n').slice(1, -2).join('');
    const doc = JSON.parse(Buffer.from(body, 'base64').toString());
    edit(doc);
    return `-----BEGIN ${type}-----\n${Buffer.from(JSON.stringify(doc)).toString('base64')}\n-----END ${type}-----\n`;
  };

  const invalidCases: [string, () => Promise<string>][] = [
    [
      'scrypt parameters outside the three go-securesystemslib levels',
      () => tamper((d) => (d.kdf.params.N = 1 << 22)),
    ],
    ['an unknown kdf', () => tamper((d) => (d.kdf.name = 'pbkdf2'))],
    ['an unknown cipher', () => tamper((d) => (d.cipher.name = 'aes-gcm'))],
    ['a short nonce', () => tamper((d) => (d.cipher.nonce = 'AAAA'))],
    ['an extra top-level key', () => tamper((d) => (d.extra = 1))],
    ['a plain EC PRIVATE KEY block', () => tamper(() => {}, 'EC PRIVATE KEY')],
    ['text without a pem block', async () => 'not a key'],
  ];
  for (const [name, make] of invalidCases) {
    test(`rejects ${name} with SIGSTORE_PRIVATE_KEY_INVALID`, async () => {
      await assert.rejects(decryptPrivateKey(await make(), passphrase), {
        code: 'SIGSTORE_PRIVATE_KEY_INVALID',
      });
    });
  }

  test('the legacy "ENCRYPTED COSIGN PRIVATE KEY" type loads', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const pem = (await encryptPrivateKey(privateKey, passphrase)).replaceAll('SIGSTORE', 'COSIGN');
    const key = await decryptPrivateKey(pem, passphrase);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  });
});

describe('signer', () => {
  const verifyWith = async (publicKeyPem: string, sig: Parameters<typeof verifySigstoreSignature>[1]) => {
    const trust = await compileSigstoreTrust(
      { keyData: Buffer.from(publicKeyPem).toString('base64') },
      noFiles,
    );
    return verifySigstoreSignature(trust, sig, {
      matchesManifestDigest: (d) => d === digest,
      matchesDockerReference: (r) => r === 'registry.example/ns/app:v1',
    });
  };

  const keyTypes: [string, () => KeyObject][] = [
    ['ECDSA P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
    ['ECDSA P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
    ['RSA 2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
    ['Ed25519', () => generateKeyPairSync('ed25519').privateKey],
  ];
  for (const [name, generate] of keyTypes) {
    test(`a ${name} signature verifies with the matching public key`, async () => {
      const privateKey = generate();
      const signer = sigstoreSignerFromKey(privateKey);
      const accepted = await verifyWith(
        signer.publicKeyPem,
        signer.sign(digest, 'registry.example/ns/app:v1'),
      );
      assert.equal(accepted.payload.dockerManifestDigest, digest);
      assert.equal(accepted.payload.dockerReference, 'registry.example/ns/app:v1');
    });
  }

  test('cosign-style payload: "optional": null unless a creator is given', async () => {
    const pair = await generateSigstoreKeyPair(passphrase);
    const plain = await loadSigstoreSigner(pair.privateKeyPem, passphrase);
    const sig = plain.sign(digest, 'registry.example/ns/app:v1');
    assert.ok(sig.format === 'sigstore-json');
    assert.equal(
      Buffer.from(sig.payload).toString(),
      `{"critical":{"identity":{"docker-reference":"registry.example/ns/app:v1"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const withCreator = await loadSigstoreSigner(pair.privateKeyPem, passphrase, {
      creator: 'portcullis 0.1.0',
      now: () => new Date(1_700_000_000_000),
    });
    const sig2 = withCreator.sign(digest, 'registry.example/ns/app:v1');
    assert.ok(sig2.format === 'sigstore-json');
    assert.match(
      Buffer.from(sig2.payload).toString(),
      /"optional":\{"creator":"portcullis 0\.1\.0","timestamp":1700000000\}\}$/,
    );
    assert.equal((await verifyWith(pair.publicKeyPem, sig2)).payload.timestamp, 1_700_000_000);
  });

  test('a signature for another digest is SIGSTORE_DIGEST_MISMATCH', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signer = sigstoreSignerFromKey(privateKey);
    const other = parseDigest(`sha256:${'cd'.repeat(32)}`);
    await assert.rejects(verifyWith(signer.publicKeyPem, signer.sign(other, 'registry.example/ns/app:v1')), {
      code: 'SIGSTORE_DIGEST_MISMATCH',
    } satisfies Partial<SigstoreError>);
  });
});

describe('verification memo', () => {
  test('never carries an outcome over to other bytes or another key', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.from('payload bytes');
    const sig = sign('sha256', data, a.privateKey);
    assert.equal(verifyWithKey(a.publicKey, data, sig), true);
    assert.equal(verifyWithKey(a.publicKey, data, sig), true);
    assert.equal(verifyWithKey(b.publicKey, data, sig), false);
    assert.equal(verifyWithKey(a.publicKey, Buffer.from('payload byteS'), sig), false);
    // Same concatenation of data and signature, split differently.
    const joined = Buffer.concat([data, sig]);
    assert.equal(
      verifyWithKey(a.publicKey, joined.subarray(0, data.length + 1), joined.subarray(data.length + 1)),
      false,
    );
  });
});
