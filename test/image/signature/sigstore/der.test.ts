// The DER reader's object identifiers: exact for any arc, where @sigstore/core's toOID wraps at
// 32 bits (see der.ts), and what that means for the unknown-critical-extension rule.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { certificateExtensions, decodeOid } from '../../../../src/image/signature/sigstore/der.ts';
import {
  parseCertificatesPem,
  verifyCertificateChain,
} from '../../../../src/image/signature/sigstore/x509.ts';
import { CA_EXTENSIONS, fulcioLeafExtensions, type Issued, issue } from './pki.ts';

describe('object identifiers', () => {
  const cases: [string, string][] = [
    ['551d11', '2.5.29.17'],
    ['2b0601040183bf300108', '1.3.6.1.4.1.57264.1.8'],
    ['883703', '2.999.3'],
    ['551d9080808011', '2.5.29.4294967313'],
    ['2a8280808080808080808080808080808001', '1.2.10384593717069655257060992658440193'],
  ];
  for (const [hex, want] of cases) {
    test(`reads ${want}`, () => assert.equal(decodeOid(Buffer.from(hex, 'hex')), want));
  }
  for (const hex of ['', '2a86']) {
    test(`rejects the truncated contents ${JSON.stringify(hex)}`, () =>
      assert.throws(() => decodeOid(Buffer.from(hex, 'hex')), { code: 'SIGSTORE_CERTIFICATE_MALFORMED' }));
  }
});

describe('certificate extensions', () => {
  let dir: string;
  let root: Issued;
  let leaf: Issued;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-der-'));
    root = await issue(dir, 'root', CA_EXTENSIONS);
    // An arc of 2^32 + 17: read in 32 bits it would be 2.5.29.17, the SAN, a handled extension.
    const extra = ['2.5.29.4294967313=critical,DER:0500'];
    leaf = await issue(dir, 'leaf', fulcioLeafExtensions({ email: 'a@example.com', extra }), {
      issuer: root,
    });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('lists every extension with its oid and criticality, in order', () => {
    const [cert] = parseCertificatesPem(leaf.certPem, 'test');
    assert.deepEqual(
      certificateExtensions(cert!.der).map((e) => [e.oid, e.critical]),
      [
        ['2.5.29.19', true],
        ['2.5.29.15', true],
        ['2.5.29.37', false],
        ['2.5.29.17', true],
        ['2.5.29.4294967313', true],
        ['2.5.29.14', false],
        ['2.5.29.35', false],
      ],
    );
  });

  test('a critical extension whose large arc wraps to a handled one is still unknown', () => {
    const [cert] = parseCertificatesPem(leaf.certPem, 'test');
    const [rootCert] = parseCertificatesPem(root.certPem, 'test');
    assert.throws(
      () => verifyCertificateChain(cert!, { roots: [rootCert!], intermediates: [], at: new Date() }),
      {
        code: 'SIGSTORE_CERTIFICATE_UNTRUSTED',
        message: /unhandled critical extension 2\.5\.29\.4294967313/,
      },
    );
  });
});
