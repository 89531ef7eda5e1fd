// CRD spec <-> policy.json. The CRD path never parses requirements itself: it rewrites the
// Kubernetes-only fields (key references, mode, selector) into policy.json text and hands that to
// the same strict parser the file path uses, so both paths accept exactly the same policies.
import { CrdError } from './errors.ts';
import { crdRequirementType, keySourceBases, nestedKeySourceMembers } from './requirements/index.ts';
import {
  type KeyRef,
  type LabelSelector,
  POLICY_MODES,
  type PolicyKind,
  type PolicyMode,
  type RefKind,
} from './types.ts';

/** What a key reference stands for: its bytes (in the cluster) or a file (exported for nodes). */
export type RefValue =
  | { readonly kind: 'data'; readonly bytes: Uint8Array }
  | { readonly kind: 'path'; readonly path: string };

/** Resolves a Secret/ConfigMap key reference; throws CrdError (REF_*) when it cannot. */
export interface RefResolver {
  resolve(kind: RefKind, ref: KeyRef, field: string): RefValue;
}

/** The parts of a policy CRD that policy.json has no place for. */
export interface PolicySettings {
  readonly mode: PolicyMode;
  /** Only for ClusterImagePolicy; undefined selects every namespace. */
  readonly namespaceSelector: LabelSelector | undefined;
}

type Json = unknown;
type JsonRecord = Record<string, Json>;

const isRecord = (v: unknown): v is JsonRecord => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `<base>SecretRef` / `<base>ConfigMapRef` stand for `<base>Data`; `<base>Path` is what nodes use.
 * The bases are every requirement type's (requirements/), whatever the requirement's own type:
 * one that is misplaced is rewritten all the same and refused by the policy parser.
 */
const BASES = keySourceBases.join('|');
const REF_FIELD = new RegExp(`^(${BASES})(Secret|ConfigMap)Ref$`);
const PATH_FIELD = new RegExp(`^(${BASES})Paths?$`);
/** Members of a requirement whose objects may hold key references too. */
const NESTED_TRUST = nestedKeySourceMembers;

const SPEC_FIELDS = new Set(['mode', 'namespaceSelector', 'default', 'transports']);

function invalid(field: string, detail: string): CrdError {
  return new CrdError('CRD_INVALID', `${field}: ${detail}`, { field });
}

function keyRef(value: unknown, field: string): KeyRef {
  if (!isRecord(value))
    throw invalid(field, `expected an object with name and key, got ${JSON.stringify(value)}`);
  for (const k of Object.keys(value)) {
    if (k !== 'name' && k !== 'key') throw invalid(`${field}.${k}`, 'unknown field');
  }
  const { name, key } = value;
  if (typeof name !== 'string' || name === '') throw invalid(`${field}.name`, 'expected a non-empty string');
  if (typeof key !== 'string' || key === '') throw invalid(`${field}.key`, 'expected a non-empty string');
  return { name, key };
}

/** Rewrites the key references of one object (a requirement, or its fulcio/pki member). */
function resolveRefs(obj: JsonRecord, field: string, resolver: RefResolver, nested: boolean): JsonRecord {
  const out: JsonRecord = {};
  const put = (key: string, value: Json, from: string) => {
    if (Object.hasOwn(out, key) || (key !== from && Object.hasOwn(obj, key))) {
      throw invalid(`${field}.${from}`, `conflicts with another source of ${key}: give exactly one`);
    }
    out[key] = value;
  };
  for (const [k, v] of Object.entries(obj)) {
    const ref = REF_FIELD.exec(k);
    if (ref !== null) {
      const base = ref[1]!;
      const kind: RefKind = ref[2] === 'Secret' ? 'Secret' : 'ConfigMap';
      const resolved = resolver.resolve(kind, keyRef(v, `${field}.${k}`), `${field}.${k}`);
      if (resolved.kind === 'data') put(`${base}Data`, Buffer.from(resolved.bytes).toString('base64'), k);
      else put(`${base}Path`, resolved.path, k);
    } else if (PATH_FIELD.test(k)) {
      throw invalid(
        `${field}.${k}`,
        'file paths are not part of a policy CRD: use the Data field or a SecretRef/ConfigMapRef',
      );
    } else if (!nested && NESTED_TRUST.has(k) && isRecord(v)) {
      put(k, resolveRefs(v, `${field}.${k}`, resolver, true), k);
    } else {
      put(k, v, k);
    }
  }
  return out;
}

function requirementList(value: Json, field: string, resolver: RefResolver): Json {
  if (!Array.isArray(value)) return value;
  return value.map((req, i) => (isRecord(req) ? resolveRefs(req, `${field}[${i}]`, resolver, false) : req));
}

/** mode and namespaceSelector of a policy spec, with defaults applied. */
export function policySettings(kind: PolicyKind, spec: unknown): PolicySettings {
  if (!isRecord(spec)) throw invalid('spec', 'expected an object');
  const mode = spec.mode ?? 'enforce';
  if (!POLICY_MODES.includes(mode as PolicyMode)) {
    throw invalid('spec.mode', `expected one of ${POLICY_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  const selector = spec.namespaceSelector;
  if (selector !== undefined && kind !== 'ClusterImagePolicy') {
    throw invalid('spec.namespaceSelector', 'only a ClusterImagePolicy selects namespaces');
  }
  if (selector !== undefined && !isRecord(selector))
    throw invalid('spec.namespaceSelector', 'expected an object');
  return { mode: mode as PolicyMode, namespaceSelector: selector as LabelSelector | undefined };
}

/**
 * The policy.json text a CRD spec stands for: `default` and `transports` with every key reference
 * replaced by what `resolver` gives. Only the shape the parser cannot see (unknown spec fields,
 * references, file paths) is checked here; the result must still go through the policy parser.
 */
export function specToPolicyJson(spec: unknown, resolver: RefResolver): string {
  if (!isRecord(spec)) throw invalid('spec', 'expected an object');
  for (const k of Object.keys(spec)) if (!SPEC_FIELDS.has(k)) throw invalid(`spec.${k}`, 'unknown field');
  if (!Object.hasOwn(spec, 'default')) throw invalid('spec.default', 'required');
  const doc: JsonRecord = { default: requirementList(spec.default, 'spec.default', resolver) };
  const transports = spec.transports;
  if (transports !== undefined) {
    if (!isRecord(transports)) {
      doc.transports = transports;
    } else {
      const out: JsonRecord = {};
      for (const [name, scopes] of Object.entries(transports)) {
        if (!isRecord(scopes)) {
          out[name] = scopes;
          continue;
        }
        const scoped: JsonRecord = {};
        for (const [scope, reqs] of Object.entries(scopes)) {
          scoped[scope] = requirementList(
            reqs,
            `spec.transports[${JSON.stringify(name)}][${JSON.stringify(scope)}]`,
            resolver,
          );
        }
        out[name] = scoped;
      }
      doc.transports = out;
    }
  }
  return JSON.stringify(doc);
}

/** Reads a key file named by a policy.json path field (export to a CRD inlines it). */
export type KeyFileReader = (path: string, field: string) => Uint8Array;

/** Whether the requirement type `type` has `<base>Datas` for its own `base` (not: one file must hold all). */
function dataLists(type: Json, base: string): boolean {
  const keySources = crdRequirementType(type)?.keySources;
  return keySources === undefined || !keySources.bases.includes(base) || keySources.dataLists;
}

function inlinePaths(obj: JsonRecord, field: string, read: KeyFileReader, nested: boolean): JsonRecord {
  const out: JsonRecord = {};
  for (const [k, v] of Object.entries(obj)) {
    const path = PATH_FIELD.exec(k);
    const at = `${field}.${k}`;
    if (path !== null) {
      const base = path[1]!;
      if (k.endsWith('Paths')) {
        if (!Array.isArray(v) || !v.every((p) => typeof p === 'string'))
          throw invalid(at, 'expected a list of paths');
        if (!dataLists(obj.type, base)) {
          if (v.length !== 1)
            throw new CrdError('EXPORT_FAILED', `${at}: combine the keyrings into one file`, { field: at });
          out[`${base}Data`] = Buffer.from(read(v[0]!, at)).toString('base64');
        } else {
          out[`${base}Datas`] = v.map((p: string) => Buffer.from(read(p, at)).toString('base64'));
        }
      } else {
        if (typeof v !== 'string') throw invalid(at, 'expected a path');
        out[`${base}Data`] = Buffer.from(read(v, at)).toString('base64');
      }
    } else if (!nested && NESTED_TRUST.has(k) && isRecord(v)) {
      out[k] = inlinePaths(v, at, read, true);
    } else {
      out[k] = v;
    }
  }
  return out;
}

/**
 * The CRD spec for an already-validated policy.json document (parsed to plain JSON): key files
 * are read and inlined as Data fields, since a CRD cannot name files on the webhook's disk.
 */
export function policyJsonToSpec(doc: unknown, read: KeyFileReader): JsonRecord {
  if (!isRecord(doc)) throw invalid('policy', 'expected an object');
  const list = (reqs: Json, field: string): Json =>
    Array.isArray(reqs)
      ? reqs.map((r, i) => (isRecord(r) ? inlinePaths(r, `${field}[${i}]`, read, false) : r))
      : reqs;
  const spec: JsonRecord = { default: list(doc.default, 'default') };
  if (isRecord(doc.transports)) {
    const transports: JsonRecord = {};
    for (const [name, scopes] of Object.entries(doc.transports)) {
      if (!isRecord(scopes)) continue;
      const scoped: JsonRecord = {};
      for (const [scope, reqs] of Object.entries(scopes)) {
        scoped[scope] = list(reqs, `transports[${JSON.stringify(name)}][${JSON.stringify(scope)}]`);
      }
      transports[name] = scoped;
    }
    spec.transports = transports;
  }
  return spec;
}
