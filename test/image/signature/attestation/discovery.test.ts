// Attestation discovery and verification through the real docker transport against a loopback
// Distribution registry (no referrers API: the `sha256-<hex>` tag schema): cosign `.att`
// attachments, bundle referrers, and every kind of bad input, each refused with its code.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Digest } from '../../../../src/image/digest.ts';
import type { ImageSource } from '../../../../src/image/index.ts';
import {
  type AttestationExpectations,
  discoverAttestations,
} from '../../../../src/image/signature/attestation/index.ts';
import { discoveryRegistry } from '../sigstore/oci.ts';
import { BUNDLE_V03, bundle, envelope, GENERATOR, pushAtt, SLSA_V1, statementBytes } from './helpers.ts';

const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const untrusted = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const key = trusted.privateKey;
const fixture = discoveryRegistry(trusted);
const setup = (repo: string) => fixture.push(repo);
const discover = (source: ImageSource, e: AttestationExpectations) =>
  discoverAttestations(source, fixture.state.trust, e);

const expect = (digest: Digest, extra: object = {}) => ({ digest, predicateType: SLSA_V1, ...extra });

describe('attestation discovery', () => {
  test('verifies a cosign .att attestation by the trusted key and reads its predicate', async () => {
    const { client, digest, source } = await setup('att/ok');
    await pushAtt(client, digest, [
      { envelope: envelope(key, statementBytes(digest)), predicateType: SLSA_V1 },
    ]);
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 1);
    const a = found.verified[0]!;
    assert.equal(a.location.via, 'attachment');
    assert.equal(a.signer.kind, 'key');
    const predicate = a.statement.predicate as { runDetails: { builder: { id: string } } };
    assert.equal(predicate.runDetails.builder.id, GENERATOR);
    assert.deepEqual(found.rejected, []);
    assert.equal(found.incomplete, false);
    assert.match(found.probes[0]!, /\.att: 1 attestation \(1 verified\)$/);
  });

  test('verifies a sigstore bundle referrer holding the statement (cosign v3)', async () => {
    const { client, digest, source } = await setup('att/bundle');
    await client.pushReferrer(digest, bundle(key, statementBytes(digest)), BUNDLE_V03, [], {
      index: { 'dev.sigstore.bundle.predicateType': SLSA_V1 },
    });
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 1);
    assert.equal(found.verified[0]!.location.via, 'referrer');
    assert.deepEqual(found.probes.slice(0, 1), [`tag ${digest.replace(':', '-')}.att: no attestations`]);
  });

  test('a statement whose subject names another digest is refused (SIGSTORE_STATEMENT_SUBJECT_MISMATCH)', async () => {
    const { client, digest, source } = await setup('att/other-subject');
    const other = `sha256:${'ab'.repeat(32)}` as Digest;
    await pushAtt(client, digest, [{ envelope: envelope(key, statementBytes(other)) }]);
    await client.pushReferrer(digest, bundle(key, statementBytes(other)), BUNDLE_V03);
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 0);
    assert.deepEqual(
      found.rejected.map((r) => r.code),
      ['SIGSTORE_STATEMENT_SUBJECT_MISMATCH', 'SIGSTORE_STATEMENT_SUBJECT_MISMATCH'],
    );
    assert.match(found.rejected[0]!.reason, /attestation for another image: subjects sha256:abab/);
  });

  test('a DSSE payload type that is not in-toto is refused (SIGSTORE_PAYLOAD_TYPE)', async () => {
    const { client, digest, source } = await setup('att/payload-type');
    const payload = statementBytes(digest);
    await pushAtt(client, digest, [{ envelope: envelope(key, payload, 'application/vnd.example+json') }]);
    await client.pushReferrer(digest, bundle(key, payload, 'application/vnd.example+json'), BUNDLE_V03);
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 0);
    assert.deepEqual(
      found.rejected.map((r) => r.code),
      ['SIGSTORE_PAYLOAD_TYPE', 'SIGSTORE_PAYLOAD_TYPE'],
    );
    assert.match(
      found.rejected[0]!.reason,
      /"application\/vnd.example\+json" is not application\/vnd.in-toto\+json/,
    );
  });

  test('a predicate over the cap is refused (SIGSTORE_STATEMENT_TOO_LARGE), by declared size or once decoded', async () => {
    const { client, digest, source } = await setup('att/too-large');
    const big = statementBytes(digest, { predicate: { blob: 'x'.repeat(6000) } });
    await pushAtt(client, digest, [{ envelope: envelope(key, big) }]);
    await client.pushReferrer(digest, bundle(key, big), BUNDLE_V03);
    // An envelope under its own cap (4/3 of the statement's plus 64 KiB) whose statement is over.
    const decoded = await discover(source, expect(digest, { maxStatementBytes: 4096 }));
    assert.deepEqual(
      decoded.rejected.map((r) => r.code),
      ['SIGSTORE_STATEMENT_TOO_LARGE', 'SIGSTORE_STATEMENT_TOO_LARGE'],
    );
    const huge = statementBytes(digest, { predicate: { blob: 'x'.repeat(200_000) } });
    const { client: c2, digest: d2, source: s2 } = await setup('att/too-large-declared');
    await pushAtt(c2, d2, [
      { envelope: envelope(key, statementBytes(d2, { predicate: { blob: 'x'.repeat(200_000) } })) },
    ]);
    const declared = await discover(s2, expect(d2, { maxStatementBytes: 4096 }));
    assert.deepEqual(
      declared.rejected.map((r) => r.code),
      ['SIGSTORE_STATEMENT_TOO_LARGE'],
    );
    assert.match(declared.rejected[0]!.reason, /referrer blob of \d+ bytes exceeds \d+/);
    assert.ok(huge.length > 4096);
  });

  test('deeply nested JSON is refused before it is parsed (SIGSTORE_STATEMENT_TOO_DEEP)', async () => {
    const { client, digest, source } = await setup('att/deep');
    const nested = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const raw = statementBytes(digest)
      .toString()
      .replace(/"predicate":\{/, `"predicate":{"deep":${nested},`);
    await pushAtt(client, digest, [{ envelope: envelope(key, statementBytes(digest, { raw })) }]);
    const found = await discover(source, expect(digest));
    assert.deepEqual(
      found.rejected.map((r) => r.code),
      ['SIGSTORE_STATEMENT_TOO_DEEP'],
    );
    assert.match(found.rejected[0]!.reason, /nesting deeper than 64 levels/);
  });

  test('attestations by an untrusted key beside trusted ones: only the trusted ones are verified', async () => {
    const { client, digest, source } = await setup('att/mixed');
    const evil = statementBytes(digest, {
      predicate: { runDetails: { builder: { id: 'https://evil.example/builder' } } },
    });
    await pushAtt(client, digest, [
      { envelope: envelope(untrusted, evil), predicateType: SLSA_V1 },
      { envelope: envelope(key, statementBytes(digest)), predicateType: SLSA_V1 },
    ]);
    await client.pushReferrer(digest, bundle(untrusted, evil), BUNDLE_V03);
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 1);
    const predicate = found.verified[0]!.statement.predicate as { runDetails: { builder: { id: string } } };
    assert.equal(predicate.runDetails.builder.id, GENERATOR);
    assert.deepEqual(
      found.rejected.map((r) => r.code),
      ['SIGSTORE_SIGNATURE_INVALID', 'SIGSTORE_SIGNATURE_INVALID'],
    );
    assert.match(found.probes[0]!, /2 attestations \(1 verified, 1 rejected \(signed by an unknown key\)\)/);
  });

  test('only an untrusted key: nothing verified', async () => {
    const { client, digest, source } = await setup('att/untrusted');
    await pushAtt(client, digest, [{ envelope: envelope(untrusted, statementBytes(digest)) }]);
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 0);
    assert.deepEqual(
      found.rejected.map((r) => r.code),
      ['SIGSTORE_SIGNATURE_INVALID'],
    );
  });

  test('attestations of another predicate type are skipped unread by their hint, or by their statement', async () => {
    const { client, digest, source } = await setup('att/other-type');
    const sbom = statementBytes(digest, { predicateType: 'https://spdx.dev/Document', predicate: {} });
    await pushAtt(client, digest, [
      { envelope: envelope(key, sbom), predicateType: 'https://spdx.dev/Document' },
      // No hint: read, verified, and only then found to be of another type.
      { envelope: envelope(key, sbom) },
    ]);
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 0);
    assert.deepEqual(found.rejected, []);
    assert.match(found.probes[0]!, /2 attestations \(2 of another predicate type\)$/);
  });

  test('a signature bundle among the referrers is not an attestation', async () => {
    const { client, digest, source } = await setup('att/signature-bundle');
    const sign = statementBytes(digest, {
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    });
    await client.pushReferrer(digest, bundle(key, sign), BUNDLE_V03, [], {
      index: { 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' },
    });
    const found = await discover(source, expect(digest));
    assert.equal(found.verified.length, 0);
    assert.deepEqual(found.rejected, []);
    assert.match(found.probes[1]!, /1 sigstore bundle \(1 of another predicate type\)/);
  });
});
