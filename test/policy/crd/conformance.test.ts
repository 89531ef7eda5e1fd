// Every case of policy-parse-cases.json, expressed as a policy CRD, gets the same answer from the
// CRD path (YAML decoding as kubectl does, reference resolution, specToPolicyJson, the parser) as
// from the file path (the parser on the policy.json text). The API server's own schema and CEL
// checks of the same expressions run in e2e/crd.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicy } from '../../../src/image/signature/index.ts';
import { parseYamlDocuments } from '../../../src/kube/client.ts';
import { specToPolicyJson } from '../../../src/policy/crd/convert.ts';
import { cases, caseText, expressSpec, KEY_BYTES } from './express.ts';

const resolver = { resolve: () => ({ kind: 'data' as const, bytes: KEY_BYTES }) };

/** The CRD path: decode the text as kubectl would (duplicate keys and non-JSON refused), express, convert, parse. */
function crdAccepts(text: string): boolean {
  let docs: unknown[];
  try {
    JSON.parse(text);
    docs = parseYamlDocuments(text);
  } catch {
    return false;
  }
  if (docs.length !== 1) return false;
  try {
    parsePolicy(specToPolicyJson(expressSpec(docs[0]), resolver));
    return true;
  } catch {
    return false;
  }
}

function fileAccepts(text: string): boolean {
  try {
    parsePolicy(text);
    return true;
  } catch {
    return false;
  }
}

describe('conformance: policy-parse-cases.json through the CRD path', () => {
  it('covers every case', () => {
    assert.ok(cases.length >= 250, `only ${cases.length} cases`);
  });

  for (const c of cases) {
    it(`case ${c.id}: ${c.valid ? 'valid' : 'invalid'}${c.notes ? ` (${c.notes.slice(0, 70)})` : ''}`, () => {
      const text = caseText(c);
      assert.equal(fileAccepts(text), c.valid, 'the file path disagrees with the case');
      assert.equal(crdAccepts(text), c.valid);
    });
  }
});
