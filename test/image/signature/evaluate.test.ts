import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  type Digest,
  digestOf,
  OCI_INDEX_MEDIA_TYPE,
  type Signature,
  type UnparsedImage,
} from '../../../src/image/index.ts';
import {
  PolicyEvaluator,
  parsePolicy,
  SIGSTORE_SIGNATURE_MIME_TYPE,
  type SigstoreVerifier,
} from '../../../src/image/signature/index.ts';
import { conformancePath } from '../../helpers/conformance.ts';
import {
  dirImage,
  dockerLikeReference,
  fakeTransport,
  fixture,
  memoryImage,
  pathLikeReference,
} from './helpers.ts';

const manifest = await readFile(fixture('image.manifest.json'));
const validSig = await readFile(fixture('dir-img-valid/signature-1'));
const keyPath = conformancePath('containers-image/signature/fixtures/public-key.gpg');
const signedBy = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath, ...extra }] });
const ref = (name = 'testing/manifest:latest') => dockerLikeReference(name);
const signedByThenReject = () =>
  JSON.stringify({ default: [JSON.parse(signedBy()).default[0], { type: 'reject' }] });
const simple = (blob: Uint8Array): Signature => ({ format: 'simple-signing', blob });
const sigstoreSig = (mimeType = SIGSTORE_SIGNATURE_MIME_TYPE): Signature => ({
  format: 'sigstore-json',
  mimeType,
  payload: new Uint8Array(),
  annotations: {},
});

describe('evaluation: requirements that need no signatures', () => {
  it('insecureAcceptAnything allows without reading the manifest or signatures', async () => {
    const image = memoryImage(ref(), manifest, []);
    const v = await new PolicyEvaluator(
      parsePolicy('{"default":[{"type":"insecureAcceptAnything"}]}'),
    ).evaluate(image);
    assert.equal(v.allowed, true);
    assert.deepEqual(image.calls, { manifest: 0, signatures: 0 });
  });

  it('reject denies with upstream reason and touches nothing', async () => {
    const image = memoryImage(ref(), manifest, []);
    const v = await new PolicyEvaluator(parsePolicy('{"default":[{"type":"reject"}]}')).evaluate(image);
    assert.equal(v.allowed, false);
    assert.equal(!v.allowed && v.code, 'REJECTED_BY_POLICY');
    assert.equal(
      !v.allowed && v.reason,
      'Running image docker://docker.io/testing/manifest:latest is rejected by policy.',
    );
    assert.deepEqual(image.calls, { manifest: 0, signatures: 0 });
  });

  it('signedBaseLayer always denies', async () => {
    const doc = '{"default":[{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchRepository"}}]}';
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(memoryImage(ref(), manifest, []));
    assert.equal(!v.allowed && v.code, 'SIGNED_BASE_LAYER_UNSUPPORTED');
    assert.equal(!v.allowed && v.reason, 'signedBaseLayer not implemented yet!');
  });

  it('every requirement must allow: the first denial stops evaluation', async () => {
    const image = memoryImage(ref(), manifest, [simple(validSig)]);
    const doc = JSON.stringify({
      default: [{ type: 'insecureAcceptAnything' }, { type: 'reject' }, JSON.parse(signedBy()).default[0]],
    });
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(image);
    assert.equal(v.allowed, false);
    assert.deepEqual(
      v.explanation.requirements.map((r) => [r.type, r.allowed]),
      [
        ['insecureAcceptAnything', true],
        ['reject', false],
      ],
    );
    assert.equal(v.explanation.requirementCount, 3);
    assert.deepEqual(image.calls, { manifest: 0, signatures: 0 });
  });
});

describe('evaluation: decideWithoutImage', () => {
  const table: ReadonlyArray<[string, string, boolean | undefined]> = [
    ['insecureAcceptAnything', '{"default":[{"type":"insecureAcceptAnything"}]}', true],
    ['reject', '{"default":[{"type":"reject"}]}', false],
    ['reject after signedBy needs the image', signedByThenReject(), undefined],
    ['signedBy', signedBy(), undefined],
    [
      'reject before signedBy',
      '{"default":[{"type":"reject"},{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k"}]}',
      false,
    ],
    ['sigstoreSigned without a verifier', '{"default":[{"type":"sigstoreSigned","keyData":"YWJj"}]}', false],
  ];
  for (const [name, doc, expected] of table) {
    it(`${name}: ${expected === undefined ? 'needs the image' : expected ? 'allowed' : 'denied'}`, async () => {
      const evaluator = new PolicyEvaluator(parsePolicy(doc));
      const v = evaluator.decideWithoutImage(ref());
      assert.equal(v?.allowed, expected);
      if (v !== undefined) {
        assert.deepEqual(v, await evaluator.evaluate(memoryImage(ref(), manifest, [])));
      }
    });
  }
});

describe('evaluation: --require-signed', () => {
  it('denies when no requirement verified a signature', async () => {
    const policy = parsePolicy('{"default":[{"type":"insecureAcceptAnything"}]}');
    const v = await new PolicyEvaluator(policy, { requireSigned: true }).evaluate(
      memoryImage(ref(), manifest, []),
    );
    assert.equal(!v.allowed && v.code, 'NO_SIGNATURE_VERIFICATION');
    assert.equal(
      !v.allowed && v.reason,
      'No signature verification policy found for image docker:docker.io/testing/manifest:latest',
    );
  });
  it('allows when a signedBy requirement accepted a signature', async () => {
    const v = await new PolicyEvaluator(parsePolicy(signedBy()), { requireSigned: true }).evaluate(
      memoryImage(ref(), manifest, [simple(validSig)]),
    );
    assert.equal(v.allowed, true, JSON.stringify(v.explanation));
  });
});

describe('evaluation: signedBy', () => {
  it('explains the accepted signature, the matched scope, and is plain JSON', async () => {
    const doc = JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { 'docker.io/testing': JSON.parse(signedBy()).default } },
    });
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(
      memoryImage(ref(), manifest, [simple(validSig)]),
    );
    assert.equal(v.allowed, true);
    assert.deepEqual(v.explanation.matched, { transport: 'docker', scope: 'docker.io/testing' });
    assert.deepEqual(v.explanation.requirements[0]?.signatures?.[0], {
      index: 0,
      format: 'simple-signing',
      accepted: true,
      dockerManifestDigest: 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
      dockerReference: 'testing/manifest:latest',
      keyIdentity: '08CD26E446E2E95249B7A405E932F44B23E8DD43',
    });
    assert.deepEqual(JSON.parse(JSON.stringify(v.explanation)), v.explanation);
  });

  it('no signatures: "A signature was required, but no signature exists"', async () => {
    const v = await new PolicyEvaluator(parsePolicy(signedBy())).evaluate(
      memoryImage(ref(), manifest, [sigstoreSig()]),
    );
    assert.equal(!v.allowed && v.code, 'NO_SIGNATURE');
    assert.equal(!v.allowed && v.reason, 'A signature was required, but no signature exists');
    assert.deepEqual(v.explanation.requirements[0]?.skipped, { otherFormat: 1, nonSignatureAttachments: 0 });
  });

  it('several rejections are joined as upstream does', async () => {
    const image = dirImage(fixture('dir-img-valid-2/'), ref('testing/manifest:notlatest'));
    const v = await new PolicyEvaluator(
      parsePolicy(signedBy({ signedIdentity: { type: 'matchExact' } })),
    ).evaluate(image);
    assert.equal(
      !v.allowed && v.reason,
      'None of the signatures were accepted, reasons: Signature for identity "testing/manifest:latest" is not accepted; Signature for identity "testing/manifest:latest" is not accepted',
    );
    assert.deepEqual(
      v.explanation.requirements[0]?.signatures?.map((s) => s.code),
      ['SIGNATURE_IDENTITY_REJECTED', 'SIGNATURE_IDENTITY_REJECTED'],
    );
  });

  it('checks the manifest digest before the identity', async () => {
    const image = dirImage(fixture('dir-img-modified-manifest/'), ref('other/image:tag'));
    const v = await new PolicyEvaluator(parsePolicy(signedBy())).evaluate(image);
    assert.match(!v.allowed ? v.reason : '', /^Signature for digest sha256:[0-9a-f]{64} does not match$/);
    assert.equal(v.explanation.requirements[0]?.signatures?.[0]?.code, 'SIGNATURE_DIGEST_MISMATCH');
  });

  it('a manifest that cannot be read denies', async () => {
    const v = await new PolicyEvaluator(parsePolicy(signedBy())).evaluate(
      dirImage(fixture('dir-img-no-manifest/'), ref()),
    );
    assert.equal(v.allowed, false);
  });

  it('keyPaths: [] rejects with "No public keys imported"', async () => {
    const doc = '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":[]}]}';
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(
      memoryImage(ref(), manifest, [simple(validSig)]),
    );
    assert.equal(!v.allowed && v.reason, 'No public keys imported');
  });

  it('a missing key file rejects every signature', async () => {
    const doc = '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent/key.gpg"}]}';
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(
      memoryImage(ref(), manifest, [simple(validSig)]),
    );
    assert.match(!v.allowed ? v.reason : '', /ENOENT/);
  });

  it('unimplemented key types reject every signature', async () => {
    const doc = JSON.stringify({ default: [{ type: 'signedBy', keyType: 'signedByGPGKeys', keyPath }] });
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(
      memoryImage(ref(), manifest, [simple(validSig)]),
    );
    assert.equal(!v.allowed && v.reason, 'Unimplemented "keyType" value "signedByGPGKeys"');
  });

  it('an image without a docker reference matches no image-relative identity', async () => {
    const image = memoryImage(pathLikeReference(fakeTransport('dir'), '/tmp/img'), manifest, [
      simple(validSig),
    ]);
    const v = await new PolicyEvaluator(parsePolicy(signedBy())).evaluate(image);
    assert.equal(!v.allowed && v.reason, 'Signature for identity "testing/manifest:latest" is not accepted');
  });

  it('a failing signature source denies with EVALUATION_FAILED', async () => {
    const image = {
      reference: ref(),
      manifest: async () => ({ manifest, mimeType: '' }),
      signatures: async (): Promise<Signature[]> => {
        throw new Error('lookaside unreachable');
      },
    };
    const v = await new PolicyEvaluator(parsePolicy(signedBy())).evaluate(image);
    assert.equal(!v.allowed && v.code, 'EVALUATION_FAILED');
    assert.equal(!v.allowed && v.reason, 'lookaside unreachable');
  });
});

const badSignatures: ReadonlyArray<[string, Uint8Array, string]> = [
  ['garbage', new TextEncoder().encode('garbage garbage'), 'SIGNATURE_INVALID'],
  ['empty', new Uint8Array(), 'SIGNATURE_INVALID'],
  ['huge', new Uint8Array(10 * 1024 * 1024).fill(0xa3), 'SIGNATURE_TOO_LARGE'],
  ['truncated', validSig.subarray(0, validSig.byteLength - 20), 'SIGNATURE_INVALID'],
  ['cleartext', await readFile(fixture('invalid-cleartext.signature')), 'SIGNATURE_INVALID'],
  ['encrypted', await readFile(fixture('unsigned-encrypted.signature')), 'SIGNATURE_INVALID'],
  ['literal only', await readFile(fixture('unsigned-literal.signature')), 'SIGNATURE_INVALID'],
  ['expired', await readFile(fixture('expired.signature')), 'SIGNATURE_INVALID'],
  ['unknown key', await readFile(fixture('unknown-key.signature')), 'SIGNATURE_INVALID'],
];

describe('evaluation: bad input is denied, never allowed', () => {
  for (const [name, blob, code] of badSignatures) {
    it(`${name} signature: ${code}`, async () => {
      const v = await new PolicyEvaluator(parsePolicy(signedBy())).evaluate(
        memoryImage(ref(), manifest, [simple(blob)]),
      );
      assert.equal(v.allowed, false);
      assert.equal(v.explanation.requirements[0]?.signatures?.[0]?.code, code);
    });
  }

  it('keys in the wrong format: KEY_INVALID', async () => {
    const doc = JSON.stringify({
      default: [
        { type: 'signedBy', keyType: 'GPGKeys', keyData: Buffer.from('not a key').toString('base64') },
      ],
    });
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(
      memoryImage(ref(), manifest, [simple(validSig)]),
    );
    assert.equal(v.allowed, false);
    assert.equal(v.explanation.requirements[0]?.signatures?.[0]?.code, 'KEY_INVALID');
  });

  it('a cosign public key given to signedBy: KEY_INVALID', async () => {
    const doc = JSON.stringify({
      default: [
        {
          type: 'signedBy',
          keyType: 'GPGKeys',
          keyPath: conformancePath('containers-image/signature/fixtures/cosign.pub'),
        },
      ],
    });
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(
      memoryImage(ref(), manifest, [simple(validSig)]),
    );
    assert.equal(v.explanation.requirements[0]?.signatures?.[0]?.code, 'KEY_INVALID');
  });

  it('a deeply nested policy is a JSON_TOO_DEEP error', () => {
    const deep = `{"default":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    assert.throws(() => parsePolicy(deep), { code: 'JSON_TOO_DEEP' });
  });

  it('a huge policy is a JSON_TOO_LARGE error', () => {
    const huge = `{"default":[{"type":"reject"}],"x":"${'a'.repeat(5 * 1024 * 1024)}"}`;
    assert.throws(() => parsePolicy(huge), { code: 'JSON_TOO_LARGE' });
  });
});

describe('evaluation: sigstoreSigned', () => {
  const doc = '{"default":[{"type":"sigstoreSigned","keyData":"YWJj"}]}';

  it('denies with SIGSTORE_NOT_CONFIGURED when no verifier is injected, touching nothing', async () => {
    const image = memoryImage(ref(), manifest, [sigstoreSig()]);
    const v = await new PolicyEvaluator(parsePolicy(doc)).evaluate(image);
    assert.equal(!v.allowed && v.code, 'SIGSTORE_NOT_CONFIGURED');
    assert.deepEqual(image.calls, { manifest: 0, signatures: 0 });
  });

  it('counts skipped signatures in the no-signature reason', async () => {
    const verifier: SigstoreVerifier = { verify: async () => assert.fail('not called') };
    const image = memoryImage(ref(), manifest, [simple(validSig), sigstoreSig('text/plain')]);
    const v = await new PolicyEvaluator(parsePolicy(doc), { sigstore: verifier }).evaluate(image);
    assert.equal(
      !v.allowed && v.reason,
      'A signature was required, but no signature exists (1 non-sigstore signatures, 1 sigstore non-signature attachments)',
    );
  });

  it('passes the expectations to the verifier and accepts what it accepts', async () => {
    const verifier: SigstoreVerifier = {
      async verify(_req, _sig, expectations) {
        await expectations.validateSignedDockerManifestDigest(
          'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55' as never,
        );
        expectations.validateSignedDockerReference('testing/manifest:latest');
        return {
          dockerManifestDigest:
            'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55' as never,
          dockerReference: 'testing/manifest:latest',
          keyIdentity: 'cosign.pub',
        };
      },
    };
    const v = await new PolicyEvaluator(parsePolicy(doc), { sigstore: verifier }).evaluate(
      memoryImage(ref(), manifest, [sigstoreSig()]),
    );
    assert.equal(v.allowed, true);
  });

  it('the expectations reject another digest and another identity with upstream text', async () => {
    const reasons: string[] = [];
    const verifier: SigstoreVerifier = {
      async verify(_req, _sig, expectations) {
        await expectations
          .validateSignedDockerManifestDigest(`sha256:${'0'.repeat(64)}` as never)
          .catch((e: Error) => reasons.push(e.message));
        try {
          expectations.validateSignedDockerReference('other/image:latest');
        } catch (e) {
          reasons.push((e as Error).message);
        }
        throw new Error('rejected');
      },
    };
    const v = await new PolicyEvaluator(parsePolicy(doc), { sigstore: verifier }).evaluate(
      memoryImage(ref(), manifest, [sigstoreSig()]),
    );
    assert.equal(!v.allowed && v.reason, 'rejected');
    assert.deepEqual(reasons, [
      `Signature for digest sha256:${'0'.repeat(64)} does not match`,
      'Signature for identity "other/image:latest" is not accepted',
    ]);
  });
});

describe('evaluation: an instance of a manifest list', () => {
  const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
  const instanceManifest = Buffer.from(
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
  );
  const instanceDigest = digestOf(instanceManifest);
  const indexOf = (...digests: string[]) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX_MEDIA_TYPE,
        manifests: digests.map((digest) => ({
          mediaType: OCI_MANIFEST,
          digest,
          size: 1,
          platform: { os: 'linux', architecture: 'arm64' },
        })),
      }),
    );
  // A sigstore "signature" whose payload is the digest it claims to sign; the fake verifier
  // applies the real expectations to it, so only the digest check decides.
  const signatureOver = (digest: string): Signature => ({
    format: 'sigstore-json',
    mimeType: SIGSTORE_SIGNATURE_MIME_TYPE,
    payload: Buffer.from(digest),
    annotations: {},
  });
  const verifier: SigstoreVerifier = {
    async verify(_req, sig, expectations) {
      const digest = Buffer.from(sig.payload).toString() as Digest;
      await expectations.validateSignedDockerManifestDigest(digest);
      return { dockerManifestDigest: digest, dockerReference: 'testing/manifest:latest', keyIdentity: 'k' };
    },
  };
  const policy = (extra: Record<string, unknown> = {}) =>
    parsePolicy(JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: '/k', ...extra }] }));
  function instanceImage(own: Signature[], index: Buffer, onIndex: Signature[]) {
    const listReads = { signatures: 0 };
    const image: UnparsedImage = {
      reference: ref(),
      manifest: async () => ({ manifest: instanceManifest, mimeType: OCI_MANIFEST }),
      signatures: async () => own,
      instance: {
        platform: 'linux/arm64',
        digest: instanceDigest,
        list: {
          digest: digestOf(index),
          manifest: async () => ({ manifest: index, mimeType: OCI_INDEX_MEDIA_TYPE }),
          signatures: async () => {
            listReads.signatures++;
            return onIndex;
          },
        },
      },
    };
    return { image, listReads };
  }

  it('its own signature is checked against its own manifest, and the explanation names it', async () => {
    const index = indexOf(instanceDigest);
    const { image, listReads } = instanceImage([signatureOver(instanceDigest)], index, []);
    const v = await new PolicyEvaluator(policy(), { sigstore: verifier }).evaluate(image);
    assert.equal(v.allowed, true);
    assert.deepEqual(v.explanation.instance, {
      platform: 'linux/arm64',
      digest: instanceDigest,
      list: digestOf(index),
    });
    assert.equal(listReads.signatures, 0);
  });

  it('a signature of the index, found among its own, does not match the instance', async () => {
    const index = indexOf(instanceDigest);
    const { image } = instanceImage([signatureOver(digestOf(index))], index, []);
    const v = await new PolicyEvaluator(policy(), { sigstore: verifier }).evaluate(image);
    assert.equal(!v.allowed && v.code, 'SIGNATURE_REJECTED');
  });

  it("without acceptIndexSignatures the index's signatures are never read", async () => {
    const index = indexOf(instanceDigest);
    const { image, listReads } = instanceImage([], index, [signatureOver(digestOf(index))]);
    const v = await new PolicyEvaluator(policy(), { sigstore: verifier }).evaluate(image);
    assert.equal(!v.allowed && v.code, 'NO_SIGNATURE');
    assert.equal(listReads.signatures, 0);
  });

  it('with acceptIndexSignatures an index signature is accepted and marked as the list', async () => {
    const index = indexOf(instanceDigest);
    const { image } = instanceImage([], index, [signatureOver(digestOf(index))]);
    const v = await new PolicyEvaluator(policy({ acceptIndexSignatures: true }), {
      sigstore: verifier,
    }).evaluate(image);
    assert.equal(v.allowed, true);
    assert.equal(v.explanation.requirements[0]?.signatures?.[0]?.list, digestOf(index));
  });

  it('with acceptIndexSignatures, an index that does not list the instance is refused', async () => {
    const index = indexOf(digestOf(Buffer.from('another instance')));
    const { image } = instanceImage([], index, [signatureOver(digestOf(index))]);
    const v = await new PolicyEvaluator(policy({ acceptIndexSignatures: true }), {
      sigstore: verifier,
    }).evaluate(image);
    assert.equal(!v.allowed && v.code, 'SIGNATURE_REJECTED');
    assert.match(!v.allowed ? v.reason : '', /does not list instance/);
  });

  it('with acceptIndexSignatures, a signature of the index over another digest is still refused', async () => {
    const index = indexOf(instanceDigest);
    const { image } = instanceImage([], index, [signatureOver(`sha256:${'1'.repeat(64)}`)]);
    const v = await new PolicyEvaluator(policy({ acceptIndexSignatures: true }), {
      sigstore: verifier,
    }).evaluate(image);
    assert.equal(!v.allowed && v.code, 'SIGNATURE_REJECTED');
    assert.match(!v.allowed ? v.reason : '', /signatures of list sha256:[0-9a-f]{64}: Signature for digest/);
  });
});
