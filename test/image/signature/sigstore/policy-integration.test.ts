// Every sigstore-cases.json case again, end to end through the policy engine: policy.json parsed by
// parsePolicy, evaluated by PolicyEvaluator with the sigstore verifier the composition roots use.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  PolicyEvaluator,
  parsePolicy,
  sigstoreRequirementInput,
  sigstoreVerifier,
  type UnparsedImage,
} from '../../../../src/image/signature/index.ts';
import {
  compileSigstoreTrust,
  verifySigstoreSignature,
  withSigstoreExtensions,
} from '../../../../src/image/signature/sigstore/index.ts';
import { readConformanceJson } from '../../../helpers/conformance.ts';
import { dockerLikeReference } from '../helpers.ts';
import { applyMutation, fillRequirement, readConformanceFile, readFixtureImage } from './helpers.ts';

interface Case {
  image: string;
  imageDockerReference: string;
  requirement: Record<string, unknown>;
  expectedValid: boolean;
  notes: string;
  mutation?: string;
}

const { cases } = readConformanceJson<{ cases: Case[] }>('sigstore-cases.json');
const verifier = sigstoreVerifier({ readFile: readConformanceFile });

describe('sigstore-cases.json through PolicyEvaluator', () => {
  cases.forEach((c, i) => {
    test(`sigstore-cases#${i}: ${c.expectedValid ? 'allowed' : 'denied'}: ${c.notes.slice(0, 70)}`, async () => {
      const fixture = await readFixtureImage(c.image);
      const requirement = await fillRequirement(c.requirement, fixture.signatures);
      const policy = parsePolicy(JSON.stringify({ default: [requirement] }));
      const image: UnparsedImage = {
        reference: dockerLikeReference(c.imageDockerReference),
        manifest: async () => {
          if (fixture.manifest === undefined) throw new Error('reading manifest: no manifest.json');
          return {
            manifest: fixture.manifest,
            mimeType: 'application/vnd.docker.distribution.manifest.v2+json',
          };
        },
        signatures: async () => fixture.signatures.map((s) => applyMutation(s, c.mutation)),
      };
      const verdict = await new PolicyEvaluator(policy, { sigstore: verifier }).evaluate(image);
      assert.equal(verdict.allowed, c.expectedValid, verdict.allowed ? 'allowed' : verdict.reason);
    });
  });
});

describe('requirement extensions applied to a parsed requirement', () => {
  const fulcioDoc = {
    type: 'sigstoreSigned',
    fulcio: {
      caPath: 'containers-image/signature/fixtures/fulcio_v1.crt.pem',
      oidcIssuer: 'https://github.com/login/oauth',
      subjectEmail: 'nobody@example.com',
    },
    rekorPublicKeyPath: 'containers-image/signature/fixtures/rekor.pub',
    signedIdentity: { type: 'matchRepository' },
  };
  const cases: [string, string, boolean][] = [
    [
      'a subject pattern covering the signer replaces subjectEmail',
      'mitr@redhat\\.com|ci@example\\.com',
      true,
    ],
    ['a subject pattern not covering the signer rejects', '.*@example\\.com', false],
  ];
  for (const [name, subjectRegExp, allowed] of cases) {
    test(name, async () => {
      const fixture = await readFixtureImage(
        'containers-image/signature/fixtures/dir-img-cosign-fulcio-rekor-valid',
      );
      const policy = parsePolicy(JSON.stringify({ default: [fulcioDoc] }));
      const [req] = policy.default;
      assert.ok(req.type === 'sigstoreSigned');
      const sig = fixture.signatures[0];
      assert.ok(sig?.format === 'sigstore-json');
      const input = withSigstoreExtensions(sigstoreRequirementInput(req), { subjectRegExp });
      const trust = await compileSigstoreTrust(input, readConformanceFile);
      const run = verifySigstoreSignature(trust, sig, {
        matchesManifestDigest: () => true,
        matchesDockerReference: () => true,
      }).then((a) => a.payload);
      if (allowed)
        assert.equal((await run).dockerReference, '192.168.64.2:5000/cosign-signed/fulcio-rekor-1');
      else await assert.rejects(run, { code: 'SIGSTORE_SUBJECT_MISMATCH' });
    });
  }
});
