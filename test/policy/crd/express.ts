// How a policy.json case is written as a policy CRD, shared by the unit and e2e conformance tests.
import { readFileSync } from 'node:fs';
import { conformancePath, readConformanceJson } from '../../helpers/conformance.ts';

export interface ParseCase {
  readonly id: number;
  readonly policyJSON: string;
  readonly valid: boolean;
  readonly notes?: string;
}

export const { cases } = readConformanceJson<{ cases: ParseCase[] }>('policy-parse-cases.json');

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
