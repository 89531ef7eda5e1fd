// The evaluator asks for referrers lazily: only for a sigstoreSigned requirement that the
// attachments did not satisfy, and never for reject / insecureAcceptAnything / signedBy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDigest } from '../../../src/image/digest.ts';
import {
  PolicyEvaluator,
  parsePolicy,
  type SigstoreVerifier,
  type UnparsedImage,
} from '../../../src/image/signature/index.ts';
import type { ImageSource, Signature } from '../../../src/image/types.ts';
import { dockerLikeReference, memoryImage } from './helpers.ts';

const MANIFEST = Buffer.from('{"schemaVersion":2}');
const attachment: Signature = {
  format: 'sigstore-json',
  mimeType: 'application/vnd.dev.cosign.simplesigning.v1+json',
  payload: Buffer.from('{}'),
  annotations: {},
};

/** A verifier that accepts attachments when told to and counts referrer lookups. */
function countingVerifier(
  acceptAttachments: boolean,
  acceptReferrer: boolean,
  incomplete = false,
  rejected: { reasons: string[]; advice?: string } = { reasons: [] },
) {
  const calls = { referrers: 0 };
  const verifier: SigstoreVerifier = {
    async verify() {
      if (!acceptAttachments) throw new Error('signature by an unknown key');
      return {
        dockerManifestDigest: parseDigest(`sha256:${'0'.repeat(64)}`),
        dockerReference: 'x',
        keyIdentity: 'attached',
      };
    },
    async verifyReferrers(_req, _source, digest) {
      calls.referrers++;
      return acceptReferrer
        ? {
            accepted: {
              referrer: digest,
              dockerManifestDigest: digest,
              dockerReference: '',
              keyIdentity: 'k',
            },
            probes: ['referrers: accepted'],
            rejected: [],
            incomplete: false,
          }
        : {
            accepted: undefined,
            probes: [rejected.reasons.length === 0 ? 'referrers: none' : 'referrers: some'],
            rejected: rejected.reasons,
            ...(rejected.advice === undefined ? {} : { advice: rejected.advice }),
            incomplete,
          };
    },
  };
  return { verifier, calls };
}

function imageWithReferrers(signatures: Signature[]): UnparsedImage & { opened: () => number } {
  let opened = 0;
  const image = memoryImage(dockerLikeReference('registry.example/app:v1'), MANIFEST, signatures);
  return Object.assign(image, {
    async referrerSource() {
      opened++;
      return {} as ImageSource;
    },
    opened: () => opened,
  });
}

const policyOf = (req: object) => parsePolicy(JSON.stringify({ default: [req] }));
const sigstore = { type: 'sigstoreSigned', keyData: 'YWJj' };

describe('evaluation: referrer signatures', () => {
  const never: ReadonlyArray<[string, object]> = [
    ['reject', { type: 'reject' }],
    ['insecureAcceptAnything', { type: 'insecureAcceptAnything' }],
    ['signedBy', { type: 'signedBy', keyType: 'GPGKeys', keyData: 'YWJj' }],
  ];
  for (const [name, req] of never) {
    it(`${name} never opens the referrer source`, async () => {
      const { verifier, calls } = countingVerifier(false, true);
      const image = imageWithReferrers([]);
      await new PolicyEvaluator(policyOf(req), { sigstore: verifier }).evaluate(image);
      assert.equal(image.opened(), 0);
      assert.equal(calls.referrers, 0);
    });
  }

  it('an accepted attachment decides without referrers', async () => {
    const { verifier, calls } = countingVerifier(true, true);
    const image = imageWithReferrers([attachment]);
    const verdict = await new PolicyEvaluator(policyOf(sigstore), { sigstore: verifier }).evaluate(image);
    assert.equal(verdict.allowed, true);
    assert.equal(calls.referrers, 0);
  });

  it('an accepted referrer allows, recorded after the rejected attachments', async () => {
    const { verifier, calls } = countingVerifier(false, true);
    const image = imageWithReferrers([attachment]);
    const verdict = await new PolicyEvaluator(policyOf(sigstore), { sigstore: verifier }).evaluate(image);
    assert.equal(verdict.allowed, true);
    assert.equal(calls.referrers, 1);
    const [req] = verdict.explanation.requirements;
    assert.deepEqual(
      req?.signatures?.map((s) => [s.index, s.accepted, s.referrer !== undefined]),
      [
        [0, false, false],
        [1, true, true],
      ],
    );
    assert.match(req?.probes?.[0] ?? '', /^tag sha256-\w+\.sig: 1 signature rejected$/);
  });

  it('a denial keeps its code and appends the probes to the reason', async () => {
    const { verifier } = countingVerifier(false, false);
    const verdict = await new PolicyEvaluator(policyOf(sigstore), { sigstore: verifier }).evaluate(
      imageWithReferrers([]),
    );
    assert.equal(verdict.allowed, false);
    assert.ok(!verdict.allowed);
    assert.equal(verdict.code, 'NO_SIGNATURE');
    assert.match(
      verdict.reason,
      /no signature exists; probed: tag sha256-\w+\.sig: no signatures; referrers: none$/,
    );
  });

  it('says first how many signatures were found and why each was rejected, once a referrer held one', async () => {
    const { verifier } = countingVerifier(false, false, false, { reasons: ['signed by an unknown key'] });
    const verdict = await new PolicyEvaluator(policyOf(sigstore), { sigstore: verifier }).evaluate(
      imageWithReferrers([]),
    );
    assert.ok(!verdict.allowed);
    assert.equal(verdict.code, 'SIGNATURE_REJECTED');
    assert.match(
      verdict.reason,
      /^1 signature found, rejected: signed by an unknown key; probed: tag sha256-\w+\.sig: no signatures; referrers: some$/,
    );
  });

  it('counts rejected attachments and referrers together, and ends with the advice', async () => {
    const { verifier } = countingVerifier(false, false, false, {
      reasons: ['signed for another reference', 'signed for another reference'],
      advice: 'set something',
    });
    const verdict = await new PolicyEvaluator(policyOf(sigstore), { sigstore: verifier }).evaluate(
      imageWithReferrers([attachment]),
    );
    assert.ok(!verdict.allowed);
    assert.equal(verdict.code, 'SIGNATURE_REJECTED');
    assert.match(
      verdict.reason,
      /^3 signatures found, all rejected: signature by an unknown key, 2× signed for another reference \(set something\); probed: tag sha256-\w+\.sig: 1 signature rejected; referrers: some$/,
    );
  });

  it('a denial after a referrer could not be read is undecided (EVALUATION_FAILED)', async () => {
    const { verifier } = countingVerifier(false, false, true);
    const verdict = await new PolicyEvaluator(policyOf(sigstore), { sigstore: verifier }).evaluate(
      imageWithReferrers([]),
    );
    assert.ok(!verdict.allowed);
    assert.equal(verdict.code, 'EVALUATION_FAILED');
  });

  it('an image without a referrer source keeps upstream behaviour', async () => {
    const { verifier, calls } = countingVerifier(false, true);
    const image = memoryImage(dockerLikeReference('registry.example/app:v1'), MANIFEST, []);
    const verdict = await new PolicyEvaluator(policyOf(sigstore), { sigstore: verifier }).evaluate(image);
    assert.ok(!verdict.allowed);
    assert.equal(verdict.reason, 'A signature was required, but no signature exists');
    assert.equal(calls.referrers, 0);
  });
});
