// Every case of policy-parse-cases.json, expressed as a policy CRD, gets the same answer from the
// CRD path (YAML decoding as kubectl does, reference resolution, specToPolicyJson, the parser) as
// from the file path (the parser on the policy.json text). The API server's own schema and CEL
// checks of the same expressions run in e2e/crd.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parsePolicy } from '../../../src/image/signature/index.ts';
import { parseYamlDocuments } from '../../../src/kube/client.ts';
import { specToPolicyJson } from '../../../src/policy/crd/convert.ts';
import { conformancePath, readConformanceJson } from '../../helpers/conformance.ts';

interface ParseCase {
  readonly id: number;
  readonly policyJSON: string;
  readonly valid: boolean;
  readonly notes?: string;
}

const { cases } = readConformanceJson<{ cases: ParseCase[] }>('policy-parse-cases.json');

export function caseText(c: ParseCase): string {
  if (!c.policyJSON.startsWith('FILE:')) return c.policyJSON;
  return readFileSync(conformancePath(`containers-image/signature/${c.policyJSON.slice(5)}`), 'utf8');
}

/** The bytes every reference of an expressed case resolves to (paths are never opened at parse time). */
export const KEY_BYTES = new TextEncoder().encode('key material');

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const PATH = /^(key|rekorPublicKey|ca|caRoots|caIntermediates)(Path|Paths)$/;

/**
 * How a policy.json requirement is written in a CRD: each file path becomes a ConfigMap reference
 * (a list of paths: inline Datas for sigstoreSigned, one ConfigMap holding the keyring for
 * signedBy); values of the wrong type are carried over as such, for the CRD path to refuse.
 */
function expressRequirement(req: unknown, nested = false): unknown {
  if (!isRecord(req)) return req;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req)) {
    const m = PATH.exec(k);
    if (m === null) {
      out[k] = !nested && (k === 'fulcio' || k === 'pki') ? expressRequirement(v, true) : v;
      continue;
    }
    const base = m[1]!;
    const ref = (name: unknown) =>
      typeof name === 'string' ? { name: 'keys', key: name.replace(/[^A-Za-z0-9._-]/g, '_') } : name;
    if (m[2] === 'Path') {
      // "" is no key source upstream; a CRD without the field says the same.
      if (v !== '') out[`${base}ConfigMapRef`] = ref(v);
    } else if (req.type === 'signedBy') {
      out[`${base}ConfigMapRef`] =
        Array.isArray(v) && v.every((p) => typeof p === 'string') ? ref(v.join('+')) : v;
    } else {
      out[`${base}Datas`] = Array.isArray(v)
        ? v.map((p) => (typeof p === 'string' ? Buffer.from(KEY_BYTES).toString('base64') : p))
        : v;
    }
  }
  return out;
}

/** The CRD spec for a policy document, or the raw value when it is not an object. */
export function expressSpec(doc: unknown): unknown {
  if (!isRecord(doc)) return doc;
  const list = (v: unknown) => (Array.isArray(v) ? v.map((r) => expressRequirement(r)) : v);
  const spec: Record<string, unknown> = { ...doc };
  if ('default' in doc) spec.default = list(doc.default);
  if (isRecord(doc.transports)) {
    spec.transports = Object.fromEntries(
      Object.entries(doc.transports).map(([t, scopes]) => [
        t,
        isRecord(scopes)
          ? Object.fromEntries(Object.entries(scopes).map(([s, reqs]) => [s, list(reqs)]))
          : scopes,
      ]),
    );
  }
  return spec;
}

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
