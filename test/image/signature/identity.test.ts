import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNormalizedNamed } from '../../../src/image/index.ts';
import { refMatchesPrefix, remapReference } from '../../../src/image/signature/identity.ts';
import { identityMatches, type SignedIdentity } from '../../../src/image/signature/index.ts';
import { readJson } from './helpers.ts';

interface Row {
  readonly a: string;
  readonly b: string;
  readonly result: boolean;
}
interface Cases {
  readonly exactMatchSymmetric: { rows: Row[] };
  readonly repositoryMatchSymmetric: { rows: Row[] };
  readonly matchRepoDigestOrExactAsymmetric: {
    rows: { imageRef: string; sigRef: string; result: boolean }[];
  };
  readonly remapIdentityRefMatchesPrefix: { rows: { ref: string; prefix: string; result: boolean }[] };
  readonly remapIdentityRemapReferencePrefix: {
    rows: { prefix: string; signedPrefix: string; ref: string; expected: string }[];
  };
  readonly remapIdentityMatches: {
    rows: { prefix: string; signedPrefix: string; imageRef: string; sigRef: string; result: boolean }[];
  };
}

const cases = await readJson<Cases>('policy-identity-match-cases.json');

function imageRef(s: string) {
  try {
    return parseNormalizedNamed(s);
  } catch {
    return null;
  }
}

const nonMatchingRemap: SignedIdentity = {
  type: 'remapIdentity',
  prefix: 'does-not-match.com',
  signedPrefix: 'does-not-match.rewritten',
};

describe('policy-identity-match-cases.json exactMatchSymmetric', () => {
  for (const [i, row] of cases.exactMatchSymmetric.rows.entries()) {
    for (const [img, sig] of [
      [row.a, row.b],
      [row.b, row.a],
    ] as const) {
      it(`exactMatchSymmetric[${i}] image ${JSON.stringify(img)} sig ${JSON.stringify(sig)}: ${row.result}`, () => {
        const ref = imageRef(img);
        if (ref !== null)
          assert.equal(identityMatches({ type: 'matchExact' }, ref, sig), row.result, 'matchExact');
        assert.equal(
          identityMatches({ type: 'exactReference', dockerReference: img }, undefined, sig),
          row.result,
          'exactReference',
        );
        if (row.result && ref !== null) {
          assert.equal(
            identityMatches({ type: 'matchRepoDigestOrExact' }, ref, sig),
            true,
            'matchRepoDigestOrExact',
          );
          assert.equal(identityMatches(nonMatchingRemap, ref, sig), true, 'remapIdentity');
        }
      });
    }
  }
});

describe('policy-identity-match-cases.json repositoryMatchSymmetric', () => {
  for (const [i, row] of cases.repositoryMatchSymmetric.rows.entries()) {
    for (const [img, sig] of [
      [row.a, row.b],
      [row.b, row.a],
    ] as const) {
      it(`repositoryMatchSymmetric[${i}] image ${JSON.stringify(img)} sig ${JSON.stringify(sig)}: ${row.result}`, () => {
        const ref = imageRef(img);
        if (ref !== null)
          assert.equal(identityMatches({ type: 'matchRepository' }, ref, sig), row.result, 'matchRepository');
        assert.equal(
          identityMatches({ type: 'exactRepository', dockerRepository: img }, undefined, sig),
          row.result,
          'exactRepository',
        );
        if (!row.result && ref !== null) {
          assert.equal(
            identityMatches({ type: 'matchRepoDigestOrExact' }, ref, sig),
            false,
            'matchRepoDigestOrExact',
          );
          assert.equal(identityMatches(nonMatchingRemap, ref, sig), false, 'remapIdentity');
        }
      });
    }
  }
});

describe('policy-identity-match-cases.json matchRepoDigestOrExactAsymmetric', () => {
  for (const [i, row] of cases.matchRepoDigestOrExactAsymmetric.rows.entries()) {
    it(`matchRepoDigestOrExactAsymmetric[${i}] image ${row.imageRef} sig ${row.sigRef}: ${row.result}`, () => {
      const ref = parseNormalizedNamed(row.imageRef);
      assert.equal(identityMatches({ type: 'matchRepoDigestOrExact' }, ref, row.sigRef), row.result);
      assert.equal(identityMatches(nonMatchingRemap, ref, row.sigRef), row.result);
    });
  }
});

describe('policy-identity-match-cases.json remapIdentity', () => {
  for (const [i, row] of cases.remapIdentityRefMatchesPrefix.rows.entries()) {
    it(`remapIdentityRefMatchesPrefix[${i}] ${row.ref} under ${row.prefix}: ${row.result}`, () => {
      assert.equal(refMatchesPrefix(parseNormalizedNamed(row.ref), row.prefix), row.result);
    });
  }
  for (const [i, row] of cases.remapIdentityRemapReferencePrefix.rows.entries()) {
    it(`remapIdentityRemapReferencePrefix[${i}] ${row.ref} -> ${row.expected || '(error)'}`, () => {
      const out = remapReference(parseNormalizedNamed(row.ref), row.prefix, row.signedPrefix);
      assert.equal(out?.toString() ?? '', row.expected);
    });
  }
  for (const [i, row] of cases.remapIdentityMatches.rows.entries()) {
    it(`remapIdentityMatches[${i}] ${row.prefix}->${row.signedPrefix} image ${row.imageRef} sig ${row.sigRef}: ${row.result}`, () => {
      const identity: SignedIdentity = {
        type: 'remapIdentity',
        prefix: row.prefix,
        signedPrefix: row.signedPrefix,
      };
      assert.equal(identityMatches(identity, parseNormalizedNamed(row.imageRef), row.sigRef), row.result);
    });
  }
});

describe('unidentified images', () => {
  const relative: SignedIdentity[] = [
    { type: 'matchExact' },
    { type: 'matchRepoDigestOrExact' },
    { type: 'matchRepository' },
    { type: 'remapIdentity', prefix: 'example.com', signedPrefix: 'example.org' },
  ];
  for (const identity of relative) {
    it(`${identity.type} never matches an image without a docker reference`, () => {
      assert.equal(identityMatches(identity, undefined, 'busybox:latest'), false);
      assert.equal(identityMatches(identity, undefined, ''), false);
    });
  }
  it('exactReference still applies to an image without a docker reference', () => {
    assert.equal(
      identityMatches(
        { type: 'exactReference', dockerReference: 'busybox:latest' },
        undefined,
        'busybox:latest',
      ),
      true,
    );
  });
});
