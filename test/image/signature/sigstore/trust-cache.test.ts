import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { SigstoreTrustCache } from '../../../../src/image/signature/sigstore/trust.ts';

const pem = () =>
  Buffer.from(
    generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString(),
  );

describe('SigstoreTrustCache', () => {
  function setup() {
    const files = new Map<string, Uint8Array>([['/keys/a.pub', pem()]]);
    let reads = 0;
    let clock = 0;
    const cache = new SigstoreTrustCache(
      async (path) => {
        reads++;
        const f = files.get(path);
        if (f === undefined) throw new Error(`no such file ${path}`);
        return f;
      },
      { ttlMs: 1000, now: () => clock },
    );
    return { files, cache, reads: () => reads, advance: (ms: number) => (clock += ms) };
  }

  test('reuses compiled trust for equal requirements within the TTL', async () => {
    const { cache, reads } = setup();
    const first = await cache.get({ keyPath: '/keys/a.pub' });
    assert.equal(await cache.get({ keyPath: '/keys/a.pub' }), first);
    assert.equal(reads(), 1);
  });

  test('re-reads key files after the TTL, so a rotated key is seen', async () => {
    const { files, cache, reads, advance } = setup();
    const first = await cache.get({ keyPath: '/keys/a.pub' });
    files.set('/keys/a.pub', pem());
    advance(1001);
    const second = await cache.get({ keyPath: '/keys/a.pub' });
    assert.equal(reads(), 2);
    assert.ok(first.kind === 'keys' && second.kind === 'keys');
    assert.notDeepEqual(first.keys[0]!.spki, second.keys[0]!.spki);
  });

  test('does not keep a failed compilation: a key file that appears later is used', async () => {
    const { files, cache } = setup();
    await assert.rejects(cache.get({ keyPath: '/keys/b.pub' }), { code: 'SIGSTORE_TRUST_INVALID' });
    files.set('/keys/b.pub', pem());
    const trust = await cache.get({ keyPath: '/keys/b.pub' });
    assert.equal(trust.kind, 'keys');
  });
});
