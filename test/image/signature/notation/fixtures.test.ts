// Envelopes notation-go's own tests use (test/fixtures/notation/notation-go, with provenance):
// real GlobalSign RFC 3161 timestamps, expired signing certificates saved by them, timestamps
// outside the certificate's validity. The TSA certificates name OCSP and CRL endpoints, which
// Portcullis never contacts: strict rejects them as revocation unknown (notation-go offline does
// the same), `revocation: skip` or `log` lets the timestamp count.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { Digest } from '../../../../src/image/digest.ts';
import {
  compileNotationTrust,
  type NotationTrustInput,
  verifyEnvelope,
  verifyNotationSignature,
} from '../../../../src/image/signature/notation/index.ts';
import { pemOf } from '../../../../src/image/signature/sigstore/x509.ts';

const dir = new URL('../../../fixtures/notation/notation-go/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir));
const NOW = new Date('2026-12-01T00:00:00Z');

function load(name: string) {
  const bytes = read(name);
  const mediaType = bytes[0] === 0x7b ? 'application/jose+json' : 'application/cose';
  const content = verifyEnvelope(mediaType, bytes);
  const t = JSON.parse(Buffer.from(content.payload).toString()).targetArtifact;
  const target = { mediaType: t.mediaType as string, digest: t.digest as Digest, size: t.size as number };
  // The envelope's own (self-signed) certificate as the ca store: these cases are about time.
  const ca = Buffer.from(pemOf(content.chain[0]!.der, 'CERTIFICATE'));
  return { bytes, mediaType, target, ca };
}

/** The GlobalSign TSA root, the envelope's own certificate as the ca store, revocation skipped. */
function trustFor(f: ReturnType<typeof load>, over: Partial<NotationTrustInput> = {}) {
  return compileNotationTrust({
    ca: [f.ca],
    tsa: [read('globalsignRoot.cer')],
    trustedIdentities: ['*'],
    level: 'strict',
    override: { revocation: 'skip' },
    ...over,
  });
}

function verify(name: string, over: Partial<NotationTrustInput> = {}, now = NOW) {
  const f = load(name);
  return verifyNotationSignature(trustFor(f, over), f.mediaType, f.bytes, f.target, now);
}

describe('notation-go test envelopes', () => {
  for (const name of ['jwsWithTimestamp.sig', 'coseWithTimestamp.sig']) {
    test(`${name}: the GlobalSign timestamp verifies`, () => {
      const ok = verify(name);
      assert.ok(ok.timestampedBefore instanceof Date);
      assert.deepEqual(ok.warnings, []);
    });
    test(`${name}: strict with revocation enforced rejects the TSA's unknown revocation status`, () =>
      assert.throws(() => verify(name, { override: {} }), { code: 'NOTATION_TIMESTAMP_INVALID' }));
    test(`${name}: permissive logs the TSA's unknown revocation status`, () => {
      const ok = verify(name, { level: 'permissive', override: {} });
      assert.match(ok.warnings.join('\n'), /^revocation: .*GlobalSign/m);
    });
  }

  test('the trust store file of the signing certificate is read as a ca store', () => {
    const f = load('jwsWithTimestamp.sig');
    const trust = compileNotationTrust({
      ca: [read('TestTimestamp.crt')],
      trustedIdentities: ['*'],
      level: 'strict',
    });
    verifyNotationSignature(trust, f.mediaType, f.bytes, f.target, NOW);
  });

  for (const name of ['jwsExpiredWithTimestamp.sig', 'coseExpiredWithTimestamp.sig']) {
    test(`${name}: an expired certificate is accepted for a signature timestamped in its validity`, () => {
      verify(name);
    });
    test(`${name}: without a tsa store the expired certificate is rejected`, () =>
      assert.throws(() => verify(name, { tsa: [] }), { code: 'NOTATION_CERTIFICATE_EXPIRED' }));
  }

  for (const name of ['timestampAfterNotAfter.sig', 'timestampBeforeNotBefore.sig']) {
    test(`${name}: a timestamp outside the certificate's validity is rejected`, () =>
      assert.throws(() => verify(name), { code: 'NOTATION_CERTIFICATE_EXPIRED' }));
  }

  test('withoutTimestamp.sig: rejected when timestamps are always verified, accepted after-expiry-only', () => {
    assert.throws(() => verify('withoutTimestamp.sig'), { code: 'NOTATION_TIMESTAMP_INVALID' });
    verify('withoutTimestamp.sig', { verifyTimestamp: 'afterCertExpiry' });
  });

  test('a tampered timestamp token is rejected', () => {
    const f = load('jwsWithTimestamp.sig');
    const env = JSON.parse(f.bytes.toString());
    const token = Buffer.from(env.header['io.cncf.notary.timestampSignature'], 'base64');
    token[token.length - 40]! ^= 1;
    env.header['io.cncf.notary.timestampSignature'] = token.toString('base64');
    const trust = trustFor(f);
    assert.throws(
      () => verifyNotationSignature(trust, f.mediaType, Buffer.from(JSON.stringify(env)), f.target, NOW),
      {
        code: 'NOTATION_TIMESTAMP_INVALID',
      },
    );
  });
});
