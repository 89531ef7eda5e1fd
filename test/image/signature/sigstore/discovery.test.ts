// Discovery through the real docker transport against a loopback Distribution registry (no
// referrers API, so the `sha256-<hex>` tag schema is exercised): cosign attachments, bundle
// referrers, limits, index-level signatures, and the explanation when nothing is accepted.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Digest } from '../../../../src/image/digest.ts';
import type { ImageSource } from '../../../../src/image/index.ts';
import { discoverSigstoreSignature } from '../../../../src/image/signature/sigstore/discovery.ts';
import { buildSigstorePayload } from '../../../../src/image/signature/sigstore/payload.ts';
import { discoveryRegistry } from './oci.ts';
import { attestationBundle, keyBundle, signedAttachment } from './pki.ts';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const _pem = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const unknown = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const fixture = discoveryRegistry(trusted);
const { state } = fixture;

async function setup(repo: string) {
  const pushed = await fixture.push(repo);
  // Bundles name no docker reference: these expectations accept that, as the policy opt-in does.
  const expectations = {
    matchesManifestDigest: (d: Digest) => d === pushed.digest,
    matchesDockerReference: (r: string) => r === pushed.name,
    acceptsDigestOnly: true,
  };
  return { ...pushed, expectations };
}

describe('sigstore discovery', () => {
  test('explains an unsigned image: nothing at the tag, no referrers', async () => {
    const { digest, source, expectations } = await setup('discovery/unsigned');
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations);
    assert.equal(result.accepted, undefined);
    assert.deepEqual(result.probes, [
      `tag ${digest.replace(':', '-')}.sig: no signatures`,
      'referrers: none',
    ]);
  });

  test('accepts a cosign attachment signed by the trusted key', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/attached');
    await client.pushAttachment(
      digest,
      signedAttachment(trusted.privateKey, buildSigstorePayload(digest, name, null)),
    );
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations);
    assert.equal(result.accepted?.via, 'attachment');
  });

  test('falls through an unknown-key attachment to a trusted bundle referrer', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/referrer');
    await client.pushAttachment(digest, signedAttachment(unknown, buildSigstorePayload(digest, name, null)));
    await client.pushReferrer(digest, keyBundle(trusted.privateKey, digest, name), BUNDLE);
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations);
    assert.equal(result.accepted?.via, 'referrer-bundle');
    assert.match(result.probes[0]!, /\.sig: 1 signature \(signed by an unknown key\)$/);
  });

  test('explains what was found when nothing is accepted', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/explained');
    await client.pushAttachment(digest, signedAttachment(unknown, buildSigstorePayload(digest, name, null)));
    let entries = await client.pushReferrer(digest, keyBundle(unknown, digest, name), BUNDLE);
    entries = await client.pushReferrer(
      digest,
      Buffer.from('{"spdxVersion":"SPDX-2.3"}'),
      'application/spdx+json',
      entries,
    );
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations);
    assert.equal(result.accepted, undefined);
    assert.equal(
      result.explanation,
      `tag ${digest.replace(':', '-')}.sig: 1 signature (signed by an unknown key); referrers: 2 artifacts (1 of type ${BUNDLE}: signed by an unknown key; 1 of type application/spdx+json: not a signature)`,
    );
  });

  test('examines at most maxBundles bundle referrers', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/many');
    let entries: object[] = [];
    for (let i = 0; i < 5; i++)
      entries = await client.pushReferrer(digest, keyBundle(unknown, digest, name), BUNDLE, entries);
    entries = await client.pushReferrer(digest, keyBundle(trusted.privateKey, digest, name), BUNDLE, entries);
    const limited = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations, {
      maxBundles: 3,
    });
    assert.equal(limited.accepted, undefined);
    assert.match(limited.explanation, /3× signed by an unknown key, 3× not examined \(limit reached\)/);
    const all = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations, {
      maxBundles: 6,
    });
    assert.equal(all.accepted?.via, 'referrer-bundle');
  });

  test('a trusted bundle fails the identity step unless digest-only signatures are accepted', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/digest-only');
    await client.pushReferrer(digest, keyBundle(trusted.privateKey, digest, name), BUNDLE);
    const strict = { ...expectations, acceptsDigestOnly: false };
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, strict);
    assert.equal(result.accepted, undefined);
    assert.deepEqual(result.rejected, ['binds only the digest, names no reference for signedIdentity']);
    assert.match(
      result.explanation,
      /1 of type \S+: binds only the digest, names no reference for signedIdentity\)$/,
    );
  });

  test('attestations are not signatures: by the annotation of their listing, of their manifest, or their statement', async () => {
    const { client, digest, source } = await setup('discovery/attested');
    const slsa = 'https://slsa.dev/provenance/v1';
    const bundle = attestationBundle(trusted.privateKey, digest, slsa);
    const annotations = { 'dev.sigstore.bundle.predicateType': slsa };
    // Annotated referrers are skipped before their bundle is read: theirs is not even JSON here.
    const unread = Buffer.from('never read');
    // Listed with the annotation (as the referrers API copies it), on the manifest only, and unannotated.
    let entries = await client.pushReferrer(digest, unread, BUNDLE, [], { index: annotations });
    entries = await client.pushReferrer(digest, Buffer.from('never read either'), BUNDLE, entries, {
      manifest: annotations,
    });
    await client.pushReferrer(digest, bundle, BUNDLE, entries);
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, {
      matchesManifestDigest: (d: Digest) => d === digest,
      matchesDockerReference: () => true,
      acceptsDigestOnly: true,
    });
    assert.equal(result.accepted, undefined);
    assert.deepEqual(result.rejected, []);
    assert.match(
      result.explanation,
      /referrers: 3 artifacts \(3 of type \S+: 3× an attestation \(predicate type "https:\/\/slsa\.dev\/provenance\/v1"\), not a signature \(https:\/\/sigstore\.dev\/cosign\/sign\/v1\)\)$/,
    );
  });

  test('an attestation listed as such is skipped unread and does not use up the bundle budget', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/attested-budget');
    const slsa = 'https://slsa.dev/provenance/v1';
    const annotations = { 'dev.sigstore.bundle.predicateType': slsa };
    let entries: object[] = [];
    for (let i = 0; i < 3; i++) {
      const bundle = attestationBundle(trusted.privateKey, digest, `${slsa}#${i}`);
      entries = await client.pushReferrer(digest, bundle, BUNDLE, entries, { index: annotations });
    }
    await client.pushReferrer(digest, keyBundle(trusted.privateKey, digest, name), BUNDLE, entries);
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations, {
      maxBundles: 1,
    });
    assert.equal(result.accepted?.via, 'referrer-bundle');
  });

  test('a bundle referrer larger than the cap is refused without reading it', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/oversized');
    const big = Buffer.concat([keyBundle(trusted.privateKey, digest, name), Buffer.alloc(300 << 10, 0x20)]);
    await client.pushReferrer(digest, big, BUNDLE);
    const result = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations);
    assert.equal(result.accepted, undefined);
    assert.match(result.explanation, /SIGSTORE_BUNDLE_TOO_LARGE/);
  });

  test('a referrer listing that fails makes the result incomplete (a fault the registry cannot produce)', async () => {
    const { digest, source, expectations } = await setup('discovery/failing');
    const failing: ImageSource = {
      reference: source.reference,
      hasThreadSafeGetBlob: source.hasThreadSafeGetBlob,
      getManifest: (d) => source.getManifest(d),
      getBlob: (info) => source.getBlob(info),
      getSignatures: (d) => source.getSignatures(d),
      listReferrers: () => Promise.reject(new Error('connection reset')),
      close: async () => {},
    };
    const result = await discoverSigstoreSignature(failing, digest, undefined, state.trust, expectations);
    assert.equal(result.accepted, undefined);
    assert.equal(result.incomplete, true);
    assert.deepEqual(result.probes, [
      `tag ${digest.replace(':', '-')}.sig: no signatures`,
      'referrers: error: connection reset',
    ]);
    const fine = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations);
    assert.equal(fine.incomplete, false);
  });

  test('index-level signatures count for an instance only when the policy opts in', async () => {
    const { client, digest, source, name, expectations } = await setup('discovery/index');
    const indexDigest = await client.pushIndex('multi', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: 1,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
    await client.pushAttachment(
      indexDigest,
      signedAttachment(trusted.privateKey, buildSigstorePayload(indexDigest, name, null)),
    );
    const without = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations);
    assert.equal(without.accepted, undefined);
    const opted = await discoverSigstoreSignature(source, digest, undefined, state.trust, expectations, {
      indexDigest,
    });
    assert.equal(opted.accepted?.via, 'attachment');
    assert.equal(opted.accepted?.digest, indexDigest);
  });
});
