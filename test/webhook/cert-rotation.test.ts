import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  checkServingPair,
  planRotation,
  type RotationPlan,
  type RotationSettings,
  type SecretData,
} from '../../src/webhook/cert-rotation.ts';
import {
  certificateFingerprint,
  createCertificateAuthority,
  issueServingCertificate,
} from '../../src/webhook/certificates.ts';

const S = 1000;
const settings: RotationSettings = {
  hosts: ['portcullis.portcullis.svc', '127.0.0.1'],
  caName: 'portcullis-ca-test',
  caValidityMs: 300 * S,
  caRenewBeforeMs: 100 * S,
  certValidityMs: 90 * S,
  certRenewBeforeMs: 30 * S,
  bundleDelayMs: 5 * S,
};
const T0 = new Date('2026-12-01T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * S);
const always = () => true;
const never = () => false;

/** The Secret after applying a plan (what the Lease holder writes). */
function written(before: SecretData, plan: RotationPlan): SecretData {
  if (plan.write === undefined) return before;
  return Object.fromEntries(Object.entries(plan.write).map(([k, v]) => [k, Buffer.from(v)]));
}

const cert = (data: SecretData, key: 'ca.crt' | 'tls.crt') => new X509Certificate(data[key] as Buffer);
const cas = (data: SecretData) =>
  (
    data['ca.crt']?.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  ).map((p) => new X509Certificate(p));

/** Runs plans from an empty Secret at `t`, every CA counting as propagated. */
function filled(t: Date): SecretData {
  return written({}, planRotation({}, settings, t, always));
}

describe('planRotation', () => {
  it('fills an empty Secret with a CA and a serving certificate it signed for every host', () => {
    const plan = planRotation({}, settings, T0, never);
    const data = written({}, plan);
    const ca = cert(data, 'ca.crt');
    const leaf = cert(data, 'tls.crt');
    assert.ok(ca.ca && leaf.verify(ca.publicKey));
    assert.equal(leaf.checkHost('portcullis.portcullis.svc'), 'portcullis.portcullis.svc');
    assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.deepEqual(plan.cas, [certificateFingerprint(ca)]);
    assert.equal(plan.caBundle, data['ca.crt']?.toString());
    assert.doesNotThrow(() => checkServingPair(data, settings.hosts, T0));
    // Next look: when the serving certificate is due (90 s validity, renewed 30 s before).
    assert.equal(plan.nextCheck.getTime(), at(60).getTime());
  });

  it('leaves a Secret that is not due alone', () => {
    const data = filled(T0);
    const plan = planRotation(data, settings, at(30), always);
    assert.equal(plan.write, undefined);
    assert.deepEqual(plan.notes, []);
  });

  it('renews the serving certificate at its renew time, with the same CA', () => {
    const data = filled(T0);
    const next = written(data, planRotation(data, settings, at(61), always));
    assert.notEqual(cert(next, 'tls.crt').fingerprint256, cert(data, 'tls.crt').fingerprint256);
    assert.equal(cas(next).length, 1);
    assert.ok(cert(next, 'tls.crt').verify(cert(data, 'ca.crt').publicKey));
  });

  it('over many rotations, always serves a certificate whose CA was in caBundle for the bundle delay', () => {
    let data: SecretData = {};
    const inBundleSince = new Map<string, number>();
    const leafs: string[] = [];
    const caSteps: number[] = [];
    for (let second = 0; second <= 650; second++) {
      const now = at(second);
      const before = data;
      const plan = planRotation(
        data,
        settings,
        now,
        (fp) => (inBundleSince.get(fp) ?? Infinity) <= second - 5,
      );
      data = written(data, plan);
      for (const fp of plan.cas) if (!inBundleSince.has(fp)) inBundleSince.set(fp, second);
      const leaf = cert(data, 'tls.crt');
      const signer = cas(data).find((ca) => leaf.verify(ca.publicKey));
      assert.ok(signer !== undefined, `${second}: tls.crt is signed by a CA of ca.crt`);
      if (second > 0) {
        // Only the very first certificate, on an empty Secret, is signed by a CA nobody knew before.
        if (leaf.fingerprint256 !== cert(before, 'tls.crt').fingerprint256) {
          assert.ok(
            inBundleSince.get(certificateFingerprint(signer))! <= second - 5,
            `${second}: the signing CA has propagated`,
          );
        }
        // Whatever a replica still serves from before this step stays trusted while it is valid.
        const previous = cert(before, 'tls.crt');
        if (now < previous.validToDate) {
          assert.ok(
            cas(data).some((ca) => previous.verify(ca.publicKey)),
            `${second}: the previous certificate stays trusted`,
          );
        }
      }
      assert.ok(now < leaf.validToDate, `${second}: tls.crt is valid`);
      if (leafs.at(-1) !== leaf.fingerprint256) leafs.push(leaf.fingerprint256);
      if (plan.notes.some((n) => /a new CA joins ca\.crt/.test(n))) {
        caSteps.push(second);
        assert.equal(
          leaf.fingerprint256,
          cert(before, 'tls.crt').fingerprint256,
          'a new CA does not sign at once',
        );
      }
    }
    // CAs of 300 s renewed 100 s before expiry; serving certificates of 90 s renewed 30 s before.
    assert.deepEqual(caSteps, [200, 400, 600]);
    assert.ok(leafs.length >= 12, `${leafs.length} serving certificates`);
    assert.equal(cas(data).length, 2, 'the newest CA and the one before it, not yet expired');
  });

  it('never issues a serving certificate that outlives its CA', () => {
    const short = { ...settings, caValidityMs: 100 * S, caRenewBeforeMs: 20 * S };
    const data = written({}, planRotation({}, short, T0, always));
    assert.ok(cert(data, 'tls.crt').validToDate <= cert(data, 'ca.crt').validToDate);
  });

  const repairs: Array<[string, (d: SecretData) => SecretData, RegExp]> = [
    [
      'garbage in ca.crt',
      (d) => ({ ...d, 'ca.crt': Buffer.from('not a certificate') }),
      /ca\.crt: no PEM certificate found/,
    ],
    [
      'a ca.key of another CA',
      (d) => ({
        ...d,
        'ca.key': Buffer.from(createCertificateAuthority('x', { notBefore: T0, notAfter: at(999) }).keyPem),
      }),
      /ca\.key belongs to no valid CA/,
    ],
    [
      'garbage in ca.key',
      (d) => ({
        ...d,
        'ca.key': Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
      }),
      /ca\.key: not a private key/,
    ],
    [
      'a serving certificate of a foreign CA',
      (d) => foreignLeaf(d, settings.hosts),
      /is not signed by any CA in ca\.crt/,
    ],
    [
      'a serving certificate for other names',
      (d) => otherNames(d),
      /does not cover portcullis\.portcullis\.svc, 127\.0\.0\.1/,
    ],
  ];
  for (const [what, spoil, note] of repairs) {
    it(`replaces ${what}, saying why`, () => {
      const spoiled = spoil(filled(T0));
      const plan = planRotation(spoiled, settings, at(10), never);
      assert.ok(
        plan.notes.some((n) => note.test(n)),
        plan.notes.join('\n'),
      );
      const fixed = written(spoiled, plan);
      assert.doesNotThrow(() => checkServingPair(fixed, settings.hosts, at(10)));
    });
  }
});

function foreignLeaf(d: SecretData, hosts: readonly string[]): SecretData {
  const foreign = createCertificateAuthority('foreign', { notBefore: T0, notAfter: at(999) });
  const leaf = issueServingCertificate(foreign, hosts, { notBefore: T0, notAfter: at(99) });
  return { ...d, 'tls.crt': Buffer.from(leaf.certPem), 'tls.key': Buffer.from(leaf.keyPem) };
}

function otherNames(d: SecretData): SecretData {
  const ca = { certPem: d['ca.crt']?.toString() ?? '', keyPem: d['ca.key']?.toString() ?? '' };
  const leaf = issueServingCertificate(ca, ['elsewhere.example'], { notBefore: T0, notAfter: at(99) });
  return { ...d, 'tls.crt': Buffer.from(leaf.certPem), 'tls.key': Buffer.from(leaf.keyPem) };
}

describe('checkServingPair', () => {
  const good = filled(T0);
  const cases: Array<[string, SecretData, Date, RegExp]> = [
    ['an empty Secret', {}, at(1), /^tls\.crt: missing$/],
    [
      'garbage in tls.crt',
      { ...good, 'tls.crt': Buffer.from('garbage') },
      at(1),
      /^tls\.crt: no PEM certificate found$/,
    ],
    [
      'a key of another certificate',
      { ...good, 'tls.key': filled(T0)['tls.key'] },
      at(1),
      /^tls\.key is not the key of tls\.crt/,
    ],
    ['a foreign CA', foreignLeaf(good, settings.hosts), at(1), /is not signed by any CA in ca\.crt/],
    [
      'other names',
      otherNames(good),
      at(1),
      /does not cover portcullis\.portcullis\.svc, 127\.0\.0\.1 \(it names DNS:elsewhere\.example\)/,
    ],
    ['an expired certificate', good, at(91), /expired at 2026-12-01T00:01:30\.000Z/],
    [
      'an oversized ca.crt',
      { ...good, 'ca.crt': Buffer.alloc(70_000, 'a') },
      at(1),
      /^ca\.crt: expected at most 65536 bytes of PEM$/,
    ],
  ];
  for (const [what, data, now, message] of cases) {
    it(`refuses ${what} with a precise TLS_INVALID`, () => {
      assert.throws(
        () => checkServingPair(data, settings.hosts, now),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'TLS_INVALID');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});
