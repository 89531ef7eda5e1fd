// Every case of test/fixtures/reference-cases.json, dispatched on the upstream function it names.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  anchoredIdentifierRegexp,
  anchoredNameRegexp,
  type DockerReference,
  DockerReferenceError,
  dockerReferenceNamespaces,
  domainRegexp,
  familiarMatch,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseDockerTransportReference,
  parseNamed,
  parseNormalizedNamed,
  referenceRegexp,
  withName,
} from '../../../src/image/index.ts';

import { readConformanceJson } from '../../helpers/conformance.ts';

interface Case {
  id: number;
  fn: string;
  input: string;
  valid: boolean;
  error?: string;
  notes?: string;
  normalized?: string;
  name?: string;
  domain?: string;
  path?: string;
  tag?: string;
  digest?: string;
  familiarName?: string;
  familiarString?: string;
  pattern?: string;
  matches?: boolean;
  matchError?: boolean;
  policyNamespaces?: string[];
  unknownDigest?: boolean;
  digestOnly?: boolean;
}

const { cases } = readConformanceJson<{ cases: Case[] }>('reference-cases.json');

const errorCodes: Record<string, string> = {
  ErrNameEmpty: 'NAME_EMPTY',
  ErrNameContainsUppercase: 'NAME_CONTAINS_UPPERCASE',
  ErrNameTooLong: 'NAME_TOO_LONG',
  ErrNameNotCanonical: 'NAME_NOT_CANONICAL',
  ErrReferenceInvalidFormat: 'REFERENCE_INVALID_FORMAT',
};

/** Fields of a parsed reference that a case may pin down. */
function checkFields(c: Case, ref: DockerReference): void {
  if (c.normalized !== undefined) assert.equal(ref.toString(), c.normalized, 'normalized');
  if (c.name !== undefined) assert.equal(ref.name(), c.name, 'name');
  if (c.domain !== undefined) assert.equal(ref.domain, c.domain, 'domain');
  if (c.path !== undefined) assert.equal(ref.path, c.path, 'path');
  if (c.tag !== undefined) assert.equal(ref.tag, c.tag, 'tag');
  if (c.digest !== undefined) assert.equal(ref.digest, c.digest, 'digest');
  if (c.familiarName !== undefined) assert.equal(ref.familiarName(), c.familiarName, 'familiarName');
  if (c.familiarString !== undefined) assert.equal(ref.familiarString(), c.familiarString, 'familiarString');
}

function expectOutcome(c: Case, run: () => DockerReference): void {
  if (!c.valid) {
    assert.throws(run, (err: unknown) => {
      assert.ok(err instanceof DockerReferenceError, `expected a DockerReferenceError, got ${String(err)}`);
      // Some upstream tests only assert that an error occurs; for those the code is not pinned.
      if (c.error !== undefined && !c.notes?.includes('only asserts'))
        assert.equal(err.code, errorCodes[c.error]);
      return true;
    });
    return;
  }
  checkFields(c, run());
}

// The remaining values the upstream tests pass besides the input (WithTag/WithDigest tests).
const withTagValues: Record<number, string> = { 43: 'tag', 44: 'tag2', 45: 'tag4', 46: 'TAG5', 47: 'TAG5' };
const withDigestValue = 'sha256:1234567890098765432112345667890098765';

function runRegexp(c: Case, re: RegExp): void {
  const m = re.exec(c.input);
  assert.equal(m !== null, c.valid, `${re} on ${JSON.stringify(c.input)}`);
  if (m === null) return;
  if (re === anchoredNameRegexp) {
    if (c.domain !== undefined) assert.equal(m[1] ?? '', c.domain);
    if (c.path !== undefined) assert.equal(m[2], c.path);
  }
  if (re === referenceRegexp) {
    if (c.name !== undefined) assert.equal(m[1], c.name);
    assert.equal(m[2], c.tag);
    assert.equal(m[3], c.digest);
  }
}

const handlers: Record<string, (c: Case) => void> = {
  Parse: (c) => expectOutcome(c, () => parse(c.input)),
  'Parse (via Field.UnmarshalText)': (c) => expectOutcome(c, () => parse(c.input)),
  ParseNormalizedNamed: (c) => expectOutcome(c, () => parseNormalizedNamed(c.input)),
  ParseNamed: (c) => expectOutcome(c, () => parseNamed(c.input)),
  ParseDockerRef: (c) => expectOutcome(c, () => parseDockerRef(c.input)),
  WithName: (c) => expectOutcome(c, () => withName(c.input)),
  'WithName+WithTag': (c) => expectOutcome(c, () => withName(c.input).withTag(withTagValues[c.id]!)),
  'WithName+WithDigest': (c) => expectOutcome(c, () => withName(c.input).withDigest(c.digest!)),
  'WithName+WithDigest+WithTag': (c) =>
    expectOutcome(c, () => withName(c.input).withDigest(withDigestValue).withTag(withTagValues[c.id]!)),
  'WithName+WithTag+WithDigest': (c) =>
    expectOutcome(c, () => withName(c.input).withTag(c.tag!).withDigest(c.digest!)),
  'WithTag(busybox, tag)': (c) => expectOutcome(c, () => parseNormalizedNamed('busybox').withTag(c.input)),
  'WithDigest(busybox, digest)': (c) =>
    expectOutcome(c, () => parseNormalizedNamed('busybox').withDigest(c.input)),
  ParseAnyReference: (c) => {
    const any = parseAnyReference(c.input);
    assert.equal(any.kind === 'digest', c.digestOnly === true, 'digest-only');
    assert.equal(any.kind === 'digest' ? any.digest : any.ref.toString(), c.normalized);
    if (c.digest !== undefined) assert.equal(any.kind === 'digest' ? any.digest : any.ref.digest, c.digest);
  },
  'FamiliarMatch(pattern, ParseAnyReference(input))': (c) => {
    const any = parseAnyReference(c.input);
    if (c.matchError) {
      assert.throws(() => familiarMatch(c.pattern!, any), { code: 'PATTERN_INVALID' });
      return;
    }
    assert.equal(familiarMatch(c.pattern!, any), c.matches);
  },
  'ParseNormalizedNamed + DockerReferenceNamespaces': (c) => {
    const ref = parseNormalizedNamed(c.input);
    assert.equal(ref.name(), c.name);
    for (const suffix of [
      '',
      ':notlatest',
      '@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    ]) {
      assert.deepEqual(dockerReferenceNamespaces(parseNormalizedNamed(c.input + suffix)), c.policyNamespaces);
    }
  },
  'docker transport ParseReference (text after "docker:")': (c) => {
    if (!c.valid) {
      assert.throws(() => parseDockerTransportReference(c.input), DockerReferenceError);
      return;
    }
    const parsed = parseDockerTransportReference(c.input);
    assert.equal(parsed.ref.toString(), c.normalized);
    assert.equal(parsed.unknownDigest, c.unknownDigest);
  },
  'regexp:anchoredNameRegexp': (c) => runRegexp(c, anchoredNameRegexp),
  'regexp:^DomainRegexp$': (c) => runRegexp(c, domainRegexp),
  'regexp:ReferenceRegexp': (c) => runRegexp(c, referenceRegexp),
  'regexp:anchoredIdentifierRegexp (^[a-f0-9]{64}$)': (c) => runRegexp(c, anchoredIdentifierRegexp),
};

describe('reference conformance (test/fixtures/reference-cases.json)', () => {
  it('has a handler for every function the cases name', () => {
    const missing = [...new Set(cases.map((c) => c.fn))].filter((fn) => handlers[fn] === undefined);
    assert.deepEqual(missing, []);
  });
  for (const c of cases) {
    it(`case ${c.id}: ${c.fn} ${JSON.stringify(c.input.length > 60 ? `${c.input.slice(0, 60)}…` : c.input)}`, () => {
      handlers[c.fn]!(c);
    });
  }
});
