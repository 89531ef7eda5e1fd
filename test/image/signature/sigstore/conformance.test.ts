// Every case of test/fixtures/sigstore-cases.json, named `sigstore-cases#<index>` (the cases
// carry no id field; the index in `cases` is the id), plus the Rekor SET unit fixture.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SigstoreError } from '../../../../src/image/signature/sigstore/errors.ts';
import { parsePublicKeyPem } from '../../../../src/image/signature/sigstore/keys.ts';
import { verifyRekorSet } from '../../../../src/image/signature/sigstore/rekor.ts';
import {
  compileSigstoreTrust,
  type SigstoreRequirementInput,
} from '../../../../src/image/signature/sigstore/trust.ts';
import { verifySigstoreSignature } from '../../../../src/image/signature/sigstore/verify.ts';
import type { Signature } from '../../../../src/image/types.ts';
import { readConformanceJson } from '../../../helpers/conformance.ts';
import {
  applyMutation,
  fillRequirement,
  identityMatches,
  manifestMatchesDigest,
  readConformanceFile,
  readFixtureImage,
  type SignedIdentity,
} from './helpers.ts';

interface Case {
  image: string;
  imageDockerReference: string;
  requirement: Record<string, unknown> & { signedIdentity: SignedIdentity };
  expectedValid: boolean;
  notes: string;
  mutation?: string;
  signedDockerReference?: string;
  signedManifestDigest?: string;
}

const doc = readConformanceJson<{ cases: Case[]; rekorSET: Record<string, string> }>('sigstore-cases.json');
const field = (name: string): string => {
  const v = doc.rekorSET[name];
  assert.ok(v !== undefined, `rekorSET.${name}`);
  return v;
};
const cases: Case[] = doc.cases;

// Why each invalid case is rejected: the code of the (last) signature's rejection, or 'NO_SIGNATURE'
// when no sigstore signature was there to verify. Asserting it keeps rejections for the right reason.
const expectedRejection: Record<number, string> = {
  1: 'NO_SIGNATURE',
  2: 'NO_SIGNATURE',
  3: 'NO_SIGNATURE',
  4: 'SIGSTORE_IDENTITY_MISMATCH',
  7: 'SIGSTORE_IDENTITY_MISMATCH',
  9: 'SIGSTORE_IDENTITY_MISMATCH',
  10: 'SIGSTORE_IDENTITY_MISMATCH',
  24: 'SIGSTORE_SET_SIGNATURE_INVALID',
  25: 'SIGSTORE_MISSING_BUNDLE_ANNOTATION',
  26: 'SIGSTORE_SET_MALFORMED',
  30: 'SIGSTORE_MISSING_BUNDLE_ANNOTATION',
  31: 'SIGSTORE_MISSING_CERTIFICATE_ANNOTATION',
  32: 'SIGSTORE_CERTIFICATE_UNTRUSTED',
  34: 'SIGSTORE_CERTIFICATE_MALFORMED',
  35: 'SIGSTORE_SUBJECT_MISMATCH',
  36: 'SIGSTORE_SET_SIGNATURE_INVALID',
  38: 'SIGSTORE_MISSING_CERTIFICATE_ANNOTATION',
  40: 'SIGSTORE_CERTIFICATE_UNTRUSTED',
  41: 'SIGSTORE_SIGNATURE_INVALID',
  42: 'SIGSTORE_IDENTITY_MISMATCH',
  43: 'MANIFEST',
  44: 'MANIFEST',
  45: 'SIGSTORE_DIGEST_MISMATCH',
  46: 'SIGSTORE_SIGNATURE_INVALID',
  47: 'SIGSTORE_MISSING_SIGNATURE_ANNOTATION',
};

async function requirementInput(c: Case, original: Signature[]): Promise<SigstoreRequirementInput> {
  const { type: _type, signedIdentity: _identity, ...rest } = await fillRequirement(c.requirement, original);
  return rest as SigstoreRequirementInput;
}

/** sigstoreSigned.isRunningImageAllowed over the fixture image; returns the outcome code. */
async function evaluate(c: Case): Promise<{ accepted: boolean; reason: string }> {
  const image = await readFixtureImage(c.image);
  const trust = await compileSigstoreTrust(await requirementInput(c, image.signatures), readConformanceFile);
  let reason = 'NO_SIGNATURE';
  for (const original of image.signatures) {
    const sig = applyMutation(original, c.mutation);
    if (sig.format !== 'sigstore-json' || sig.mimeType !== 'application/vnd.dev.cosign.simplesigning.v1+json')
      continue;
    try {
      const accepted = await verifySigstoreSignature(trust, sig, {
        matchesManifestDigest: (d) => manifestMatchesDigest(image.manifest, d),
        matchesDockerReference: (r) =>
          identityMatches(c.requirement.signedIdentity, c.imageDockerReference, r),
      });
      if (c.signedDockerReference) assert.equal(accepted.payload.dockerReference, c.signedDockerReference);
      if (c.signedManifestDigest) assert.equal(accepted.payload.dockerManifestDigest, c.signedManifestDigest);
      return { accepted: true, reason: 'ACCEPTED' };
    } catch (err) {
      if (err instanceof SigstoreError) reason = err.code;
      else if (err instanceof Error && /manifest/.test(err.message)) reason = 'MANIFEST';
      else throw err;
    }
  }
  return { accepted: false, reason };
}

describe('sigstore-cases.json', () => {
  cases.forEach((c, i) => {
    test(`sigstore-cases#${i}: ${c.expectedValid ? 'accepts' : 'rejects'}: ${c.notes.slice(0, 80)}`, async () => {
      const { accepted, reason } = await evaluate(c);
      assert.equal(accepted, c.expectedValid, `reason ${reason}`);
      if (!c.expectedValid) assert.equal(reason, expectedRejection[i], `case ${i} rejected for ${reason}`);
    });
  });

  test('every invalid case has an expected rejection reason', () => {
    const invalid = cases.flatMap((c, i) => (c.expectedValid ? [] : [i]));
    assert.deepEqual(invalid, Object.keys(expectedRejection).map(Number));
  });
});

describe('sigstore-cases.json rekorSET', () => {
  const load = (p: string) => readConformanceFile(p).then((b) => Buffer.from(b));

  test('sigstore-cases#rekorSET: verifies and returns integratedTime 1670870899', async () => {
    const rekorKey = parsePublicKeyPem((await load(field('rekorPublicKey'))).toString(), 'rekor.pub', true);
    const certPem = (await load(field('cert'))).toString();
    const certDer = Buffer.from(certPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    const signature = Buffer.from((await load(field('base64Signature'))).toString().trim(), 'base64');
    const verified = verifyRekorSet(
      [rekorKey],
      (await load(field('file'))).toString(),
      certDer,
      signature,
      await load(field('payload')),
    );
    assert.equal(verified.integratedTime, doc.rekorSET.expectedIntegratedTime);
  });
});
