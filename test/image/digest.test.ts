import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { DigestError, Digester, digestOf, parseDigest, verifyingStream } from '../../src/image/index.ts';

const helloSha256 = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

describe('parseDigest', () => {
  const valid = [helloSha256, `sha384:${'0'.repeat(96)}`, `sha512:${'f'.repeat(128)}`];
  for (const d of valid) it(`accepts ${d.slice(0, 12)}…`, () => assert.equal(parseDigest(d), d));

  const invalid: [string, string][] = [
    ['', 'DIGEST_INVALID_FORMAT'],
    ['sha256', 'DIGEST_INVALID_FORMAT'],
    ['sha256:', 'DIGEST_INVALID_FORMAT'],
    [':abc', 'DIGEST_INVALID_FORMAT'],
    [`sha256:${'0'.repeat(63)}`, 'DIGEST_INVALID_LENGTH'],
    [`sha256:${'0'.repeat(65)}`, 'DIGEST_INVALID_LENGTH'],
    [`sha256:${'G'.repeat(64)}`, 'DIGEST_INVALID_FORMAT'],
    [`sha256:${'A'.repeat(64)}`, 'DIGEST_INVALID_FORMAT'],
    [`md5:${'0'.repeat(32)}`, 'DIGEST_UNSUPPORTED'],
    ['sha256:../../etc/passwd', 'DIGEST_INVALID_LENGTH'],
    [`SHA256:${'0'.repeat(64)}`, 'DIGEST_INVALID_FORMAT'],
    [`sha256:${'0'.repeat(2000)}`, 'DIGEST_INVALID_FORMAT'],
  ];
  for (const [input, code] of invalid) {
    it(`rejects ${JSON.stringify(input.slice(0, 24))} with ${code}`, () => {
      assert.throws(
        () => parseDigest(input),
        (err: unknown) => err instanceof DigestError && err.code === code,
      );
    });
  }
});

describe('digesting', () => {
  it('digestOf and the incremental Digester agree', () => {
    const d = new Digester();
    d.update(Buffer.from('hel'));
    d.update(Buffer.from('lo'));
    assert.equal(d.size, 5);
    assert.equal(d.digest(), helloSha256);
    assert.equal(digestOf('hello'), helloSha256);
  });

  it('verifyingStream passes matching content through', async () => {
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from([Buffer.from('hel'), Buffer.from('lo')]),
      verifyingStream(parseDigest(helloSha256)),
      async (src) => {
        for await (const c of src) chunks.push(c as Buffer);
      },
    );
    assert.equal(Buffer.concat(chunks).toString(), 'hello');
  });

  it('verifyingStream fails with DIGEST_MISMATCH on other content', async () => {
    await assert.rejects(
      pipeline(
        Readable.from([Buffer.from('hellO')]),
        verifyingStream(parseDigest(helloSha256)),
        async (src) => {
          for await (const _ of src);
        },
      ),
      (err: unknown) =>
        err instanceof DigestError &&
        err.code === 'DIGEST_MISMATCH' &&
        /expected sha256:2cf2/.test(err.message),
    );
  });

  it('verifyingStream fails as soon as more bytes than expected arrive', async () => {
    let seen = 0;
    await assert.rejects(
      pipeline(
        Readable.from([Buffer.alloc(10), Buffer.alloc(10), Buffer.alloc(10)]),
        verifyingStream(parseDigest(helloSha256), { expectedSize: 15 }),
        async (src) => {
          for await (const c of src) seen += (c as Buffer).length;
        },
      ),
      { code: 'DIGEST_MISMATCH' },
    );
    assert.ok(seen <= 15);
  });
});
