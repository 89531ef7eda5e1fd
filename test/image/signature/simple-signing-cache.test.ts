import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { verifyBlob } from '../../../src/image/signature/gpg/openpgp.ts';
import {
  loadKeyring,
  VerificationCache,
  verifyAndExtractSignature,
  verifyImageManifestSignature,
} from '../../../src/image/signature/index.ts';
import { fixture } from './helpers.ts';

const manifest = await readFile(fixture('image.manifest.json'));
const sig = await readFile(fixture('image.signature'));
const trusted = await loadKeyring([await readFile(fixture('public-key.gpg'))]);
const other = await loadKeyring([await readFile(fixture('public-key-2.gpg'))]);

const rules = (acceptedKeyIdentities: readonly string[], manifestBytes: Uint8Array) => ({
  acceptedKeyIdentities,
  async validateSignedDockerManifestDigest(digest: string) {
    const { matchesDigest } = await import('../../../src/image/manifest/index.ts');
    if (!matchesDigest(manifestBytes, digest)) throw new Error('digest mismatch');
  },
  validateSignedDockerReference() {},
});

describe('verification cache', () => {
  it('a cached acceptance does not skip the manifest digest check', async () => {
    const cache = new VerificationCache();
    const now = new Date();
    await verifyAndExtractSignature(sig, trusted, rules(trusted.fingerprints, manifest), { cache, now });
    await assert.rejects(
      verifyAndExtractSignature(
        sig,
        trusted,
        rules(trusted.fingerprints, new TextEncoder().encode('other manifest')),
        { cache, now },
      ),
      /digest mismatch/,
    );
  });

  it('is keyed by keyring: the same blob under another keyring is verified again (and rejected)', async () => {
    const cache = new VerificationCache();
    const now = new Date();
    await verifyAndExtractSignature(sig, trusted, rules(trusted.fingerprints, manifest), { cache, now });
    await assert.rejects(
      verifyAndExtractSignature(sig, other, rules(other.fingerprints, manifest), { cache, now }),
      {
        code: 'SIGNATURE_INVALID',
      },
    );
  });

  it('caches rejections with their code', async () => {
    const cache = new VerificationCache();
    const garbage = new TextEncoder().encode('garbage');
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        verifyAndExtractSignature(garbage, trusted, rules(trusted.fingerprints, manifest), { cache }),
        {
          code: 'SIGNATURE_INVALID',
        },
      );
    }
  });

  it('entries expire: a success is not reused once its time-to-live has passed', async () => {
    const cache = new VerificationCache({ ttlMs: 60_000 });
    const expired = await readFile(fixture('expired.signature'));
    const keyring = await loadKeyring([await readFile(fixture('pubring.gpg'))]);
    // Made 2025-06-23T21:00:58Z, valid for 46742 s.
    const created = new Date('2025-06-23T21:01:00Z');
    assert.equal(
      (await cache.verify(expired, keyring, created)).keyIdentity,
      '08CD26E446E2E95249B7A405E932F44B23E8DD43',
    );
    const withinTtl = new Date(created.getTime() + 30_000);
    await assert.doesNotReject(cache.verify(expired, keyring, withinTtl));
    await assert.rejects(cache.verify(expired, keyring, new Date()), { code: 'SIGNATURE_INVALID' });
  });

  it('is bounded', async () => {
    const cache = new VerificationCache({ maxEntries: 2 });
    for (let i = 0; i < 5; i++) {
      await cache.verify(new Uint8Array([0xa3, i]), trusted, new Date()).catch(() => undefined);
    }
    await assert.doesNotReject(cache.verify(sig, trusted, new Date()));
  });
});

describe('OpenPGP structure limits', () => {
  it('a compressed packet that inflates past the cap is rejected before openpgp sees it', async () => {
    const body = Buffer.concat([Buffer.from([1]), deflateRawSync(Buffer.alloc(4 * 1024 * 1024))]);
    assert.ok(body.length < 8192);
    const header = Buffer.from([
      0xc8,
      0xff,
      ...new Uint8Array(new Uint32Array([body.length]).buffer).reverse(),
    ]);
    await assert.rejects(verifyBlob(Buffer.concat([header, body]), trusted), /decompresses to more than/);
  });

  it('two signature packets are "Unexpected GPG signature count 2"', async () => {
    const { readPackets } = await import('../../../src/image/signature/gpg/packets.ts');
    const { inflateRawSync } = await import('node:zlib');
    const [compressed] = readPackets(sig);
    assert.equal(compressed?.tag, 8);
    const inner =
      compressed!.body[0] === 1 ? inflateRawSync(compressed!.body.subarray(1)) : compressed!.body.subarray(1);
    const packets = readPackets(inner);
    const sigPacket = packets.find((p) => p.tag === 2)!;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(sigPacket.body.length);
    const raw = Buffer.concat([inner, Buffer.from([0xc2, 0xff]), length, sigPacket.body]);
    await assert.rejects(verifyBlob(raw, trusted), /Unexpected GPG signature count 2/);
  });

  it('verifyImageManifestSignature rejects an invalid expected reference before any crypto', async () => {
    await assert.rejects(
      verifyImageManifestSignature(sig, manifest, 'UPPERCASE', trusted, trusted.fingerprints),
    );
  });
});
