// policy.json parsing with upstream's rules (containers/image signature/policy_config*.go):
// every object is exact, duplicates and unknown keys are errors, and each requirement type
// checks its key sources the way upstream does. Deliberately stricter than upstream: a JSON
// null where a string, array or base64 value is expected is an error (Go reads it as "absent"
// or "empty"), and duplicate keys are rejected at every level.
import { readFile } from 'node:fs/promises';
import { anchoredNameRegexp, domainRegexp, parseNormalizedNamed } from '../reference/index.ts';
import { parseSigstoreAttested } from './attestation-policy.ts';
import { SignatureError } from './errors.ts';
import {
  asArray,
  asBase64,
  asBase64Array,
  asBoolean,
  asString,
  asStringArray,
  invalidValue,
  type JsonLimits,
  type JsonNode,
  ObjectReader,
  parseJson,
} from './json.ts';
import { parseNotationSigned } from './notation-policy.ts';
import type {
  ByteSource,
  Policy,
  PolicyRequirement,
  PolicyRequirements,
  SignedByKeyType,
  SignedIdentity,
  SigstoreFulcio,
  SigstorePki,
  SigstoreTrust,
  SigstoreTrustFields,
} from './policy-types.ts';
import { scopeValidatorFor, type TransportLookup } from './scope-validation.ts';

export interface PolicyParseOptions {
  /** Registered transports validate their own scopes; others fall back to the built-in table. */
  readonly transports?: TransportLookup;
  readonly limits?: JsonLimits;
}

/** Parses a policy.json document; throws JsonError (code JSON_*) with the location of the problem. */
export function parsePolicy(input: Uint8Array | string, options: PolicyParseOptions = {}): Policy {
  const root = parseJson(input, options.limits);
  const obj = new ObjectReader(root, 'a policy object');
  const defaultNode = obj.take('default');
  const transportsNode = obj.take('transports');
  obj.finish(['default', 'transports']);
  if (defaultNode === undefined) throw invalidValue(root, 'default policy is missing');
  const transports = new Map<string, ReadonlyMap<string, PolicyRequirements>>();
  if (transportsNode !== undefined) {
    const t = new ObjectReader(transportsNode, 'an object of transports');
    for (const [name, scopesNode] of t.node.members) {
      t.take(name);
      transports.set(name, parseScopes(name, scopesNode, options.transports));
    }
  }
  return { default: parseRequirements(defaultNode), transports };
}

/** Reads and parses a policy file; unreadable files are SignatureError POLICY_FILE_UNREADABLE. */
export async function readPolicyFile(path: string, options: PolicyParseOptions = {}): Promise<Policy> {
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new SignatureError('POLICY_FILE_UNREADABLE', `reading policy ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parsePolicy(data, options);
}

function parseScopes(
  transportName: string,
  node: JsonNode,
  transports: TransportLookup | undefined,
): ReadonlyMap<string, PolicyRequirements> {
  const obj = new ObjectReader(node, 'an object of scopes');
  const validate = scopeValidatorFor(transportName, transports);
  const scopes = new Map<string, PolicyRequirements>();
  for (const [scope, reqsNode] of obj.node.members) {
    if (scope !== '' && validate !== undefined) {
      const problem = validate(scope);
      if (problem !== undefined) {
        throw invalidValue(
          reqsNode,
          `scope ${JSON.stringify(scope)} is not valid for transport ${transportName}: ${problem}`,
        );
      }
    }
    obj.take(scope);
    scopes.set(scope, parseRequirements(reqsNode));
  }
  return scopes;
}

function parseRequirements(node: JsonNode): PolicyRequirements {
  const items = asArray(node, 'a list of policy requirements').items;
  const [first, ...rest] = items;
  if (first === undefined)
    throw invalidValue(node, 'list of verification policy requirements must not be empty');
  return [parseRequirement(first), ...rest.map(parseRequirement)];
}

const requirementTypes = [
  'insecureAcceptAnything',
  'reject',
  'signedBy',
  'signedBaseLayer',
  'sigstoreSigned',
  'sigstoreAttested',
  'notationSigned',
];

function typeOf(obj: ObjectReader, kinds: readonly string[], what: string): string {
  const t = asString(obj.required('type'));
  if (!kinds.includes(t)) {
    throw invalidValue(
      obj.node,
      `unknown ${what} type ${JSON.stringify(t)}, expected one of ${kinds.join(', ')}`,
    );
  }
  return t;
}

export function parseRequirement(node: JsonNode): PolicyRequirement {
  const obj = new ObjectReader(node, 'a policy requirement object');
  const type = typeOf(obj, requirementTypes, 'policy requirement');
  switch (type) {
    case 'insecureAcceptAnything':
    case 'reject':
      obj.finish(['type']);
      return { type };
    case 'signedBy':
      return parseSignedBy(obj);
    case 'signedBaseLayer': {
      const identity = obj.required('baseLayerIdentity');
      obj.finish(['type', 'baseLayerIdentity']);
      return { type: 'signedBaseLayer', baseLayerIdentity: parseSignedIdentity(identity) };
    }
    case 'sigstoreSigned':
      return parseSigstoreSigned(obj);
    case 'sigstoreAttested':
      return parseSigstoreAttested(obj, parseSigstoreTrustFields);
    case 'notationSigned':
      return parseNotationSigned(obj, pathOrData);
    default:
      throw invalidValue(node, `unknown policy requirement type ${JSON.stringify(type)}`);
  }
}

const keyTypes: readonly SignedByKeyType[] = [
  'GPGKeys',
  'signedByGPGKeys',
  'X509Certificates',
  'signedByX509CAs',
];

function parseSignedBy(obj: ObjectReader): PolicyRequirement {
  const keyTypeNode = obj.required('keyType');
  const keyType = asString(keyTypeNode);
  if (!(keyTypes as readonly string[]).includes(keyType)) {
    throw invalidValue(
      keyTypeNode,
      `unrecognized keyType value ${JSON.stringify(keyType)}, expected one of ${keyTypes.join(', ')}`,
    );
  }
  const path = obj.take('keyPath');
  const paths = obj.take('keyPaths');
  const data = obj.take('keyData');
  const identity = obj.take('signedIdentity');
  const acceptIndexSignatures = obj.take('acceptIndexSignatures');
  obj.finish([
    'type',
    'keyType',
    'keyPath',
    'keyPaths',
    'keyData',
    'signedIdentity',
    'acceptIndexSignatures',
  ]);
  // Upstream counts presence (keyPaths: [] is a valid, empty, keyring), then rejects an empty keyPath.
  const present = [path, paths, data].filter((n) => n !== undefined).length;
  if (present !== 1) {
    throw invalidValue(
      obj.node,
      `exactly one of keyPath, keyPaths and keyData must be specified, ${present === 0 ? 'none' : 'more than one'} present`,
    );
  }
  let keys: ByteSource;
  if (path !== undefined) {
    const p = asString(path);
    if (p === '') throw invalidValue(path, 'exactly one of keyPath, keyPaths and keyData must be specified');
    keys = { kind: 'path', path: p };
  } else if (paths !== undefined) {
    keys = { kind: 'paths', paths: asStringArray(paths) };
  } else {
    keys = { kind: 'data', data: asBase64(data!) };
  }
  return {
    type: 'signedBy',
    keyType: keyType as SignedByKeyType,
    keys,
    signedIdentity:
      identity === undefined ? { type: 'matchRepoDigestOrExact' } : parseSignedIdentity(identity),
    ...optionalBoolean('acceptIndexSignatures', acceptIndexSignatures),
  };
}

/** An extension's optional boolean: absent stays absent, so the policy still round-trips. */
function optionalBoolean<K extends string>(key: K, node: JsonNode | undefined): { [P in K]?: boolean } {
  return node === undefined ? {} : ({ [key]: asBoolean(node) } as { [P in K]?: boolean });
}

function nonEmpty<T>(node: JsonNode, values: T[], key: string): T[] {
  if (values.length === 0) throw invalidValue(node, `${JSON.stringify(key)} contains no entries`);
  return values;
}

/** The sigstore key-source family `<base>Path|Paths|Data|Datas`: returns every source present. */
function takeSources(
  obj: ObjectReader,
  names: { path: string; paths: string; data: string; datas: string },
): ByteSource[] {
  const out: ByteSource[] = [];
  const path = obj.take(names.path);
  const paths = obj.take(names.paths);
  const data = obj.take(names.data);
  const datas = obj.take(names.datas);
  if (path !== undefined) {
    const p = asString(path);
    if (p !== '') out.push({ kind: 'path', path: p });
  }
  if (paths !== undefined)
    out.push({ kind: 'paths', paths: nonEmpty(paths, asStringArray(paths), names.paths) });
  if (data !== undefined) out.push({ kind: 'data', data: asBase64(data) });
  if (datas !== undefined)
    out.push({ kind: 'datas', datas: nonEmpty(datas, asBase64Array(datas), names.datas) });
  return out;
}

/** The trust members a sigstore requirement may have (policy.json names). */
const SIGSTORE_TRUST_KEYS = [
  'keyPath',
  'keyPaths',
  'keyData',
  'keyDatas',
  'fulcio',
  'pki',
  'rekorPublicKeyPath',
  'rekorPublicKeyPaths',
  'rekorPublicKeyData',
  'rekorPublicKeyDatas',
  'trustedRootPath',
  'trustedRootData',
];

/**
 * The trust of a sigstoreSigned (or sigstoreAttested) requirement, with upstream's rules: exactly
 * one trust root, Rekor keys as each root allows. `finish` ends the object with the requirement's
 * own other members, before the cross-field checks (as upstream reports unknown fields first).
 */
function parseSigstoreTrustFields(
  obj: ObjectReader,
  finish: (trustKeys: readonly string[]) => void,
): SigstoreTrustFields {
  const keySources = takeSources(obj, {
    path: 'keyPath',
    paths: 'keyPaths',
    data: 'keyData',
    datas: 'keyDatas',
  });
  const trusts: SigstoreTrust[] = keySources.map((keys) => ({ kind: 'publicKeys', keys }));
  // Extension: an offline trusted root may stand in for fulcio's CA and the Rekor keys.
  const trustedRoot = pathOrData(obj, 'trustedRootPath', 'trustedRootData');
  const fulcio = obj.take('fulcio');
  if (fulcio !== undefined)
    trusts.push({ kind: 'fulcio', fulcio: parseFulcio(fulcio, trustedRoot !== undefined) });
  const pki = obj.take('pki');
  if (pki !== undefined) trusts.push({ kind: 'pki', pki: parsePki(pki) });
  const rekor = takeSources(obj, {
    path: 'rekorPublicKeyPath',
    paths: 'rekorPublicKeyPaths',
    data: 'rekorPublicKeyData',
    datas: 'rekorPublicKeyDatas',
  });
  finish(SIGSTORE_TRUST_KEYS);
  const [trust, ...moreTrust] = trusts;
  if (trust === undefined || moreTrust.length > 0) {
    throw invalidValue(
      obj.node,
      'exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified',
    );
  }
  if (rekor.length > 1) {
    throw invalidValue(
      obj.node,
      'at most one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas can be used simultaneously',
    );
  }
  const rekorPublicKeys = rekor[0];
  if (trust.kind === 'fulcio' && rekorPublicKeys === undefined && trustedRoot === undefined) {
    throw invalidValue(
      obj.node,
      'at least one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas must be specified if fulcio is used',
    );
  }
  if (trust.kind === 'pki' && trustedRoot !== undefined)
    throw invalidValue(obj.node, 'trustedRootPath and trustedRootData are not supported for pki');
  if (trust.kind === 'pki' && rekorPublicKeys !== undefined) {
    throw invalidValue(
      obj.node,
      'rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas are not supported for pki',
    );
  }
  return { trust, rekorPublicKeys, ...(trustedRoot === undefined ? {} : { trustedRoot }) };
}

function parseSigstoreSigned(obj: ObjectReader): PolicyRequirement {
  let identity: JsonNode | undefined;
  let acceptIndexSignatures: JsonNode | undefined;
  let acceptDigestOnlySignatures: JsonNode | undefined;
  const trust = parseSigstoreTrustFields(obj, (trustKeys) => {
    identity = obj.take('signedIdentity');
    acceptIndexSignatures = obj.take('acceptIndexSignatures');
    acceptDigestOnlySignatures = obj.take('acceptDigestOnlySignatures');
    obj.finish([
      'type',
      ...trustKeys,
      'signedIdentity',
      'acceptIndexSignatures',
      'acceptDigestOnlySignatures',
    ]);
  });
  return {
    type: 'sigstoreSigned',
    ...trust,
    rekorPublicKeys: trust.rekorPublicKeys,
    signedIdentity:
      identity === undefined ? { type: 'matchRepoDigestOrExact' } : parseSignedIdentity(identity),
    ...optionalBoolean('acceptIndexSignatures', acceptIndexSignatures),
    ...optionalBoolean('acceptDigestOnlySignatures', acceptDigestOnlySignatures),
  };
}

/** `<base>Path` / `<base>Data`, at most one; returns undefined when neither is present. */
function pathOrData(
  obj: ObjectReader,
  pathKey: string,
  dataKey: string,
): (ByteSource & { kind: 'path' | 'data' }) | undefined {
  const path = obj.take(pathKey);
  const data = obj.take(dataKey);
  const p = path === undefined ? '' : asString(path);
  const d = data === undefined ? undefined : asBase64(data);
  if (p !== '' && d !== undefined)
    throw invalidValue(obj.node, `${pathKey} and ${dataKey} cannot be used simultaneously`);
  if (p !== '') return { kind: 'path', path: p };
  if (d !== undefined) return { kind: 'data', data: d };
  return undefined;
}

function optionalString(obj: ObjectReader, key: string): string {
  const node = obj.take(key);
  return node === undefined ? '' : asString(node);
}

/** Extension fields hold anchored patterns (`^(?:…)$`); rejected here if they do not compile. */
function optionalPattern(obj: ObjectReader, key: string): string | undefined {
  const node = obj.take(key);
  if (node === undefined) return undefined;
  const pattern = asString(node);
  try {
    new RegExp(`^(?:${pattern})$`, 'u');
  } catch {
    throw invalidValue(node, `${key}: invalid regular expression ${JSON.stringify(pattern)}`);
  }
  return pattern;
}

/** Exactly one of an upstream exact field and its RegExp extension. */
function exactOrPattern(
  node: JsonNode,
  exact: string,
  pattern: string | undefined,
  [key, patternKey]: [string, string],
): string | undefined {
  if (exact !== '' && pattern !== undefined)
    throw invalidValue(node, `${key} and ${patternKey} cannot be used simultaneously`);
  if (exact === '' && pattern === undefined) throw invalidValue(node, `${key} not specified`);
  return exact === '' ? undefined : exact;
}

function parseFulcio(node: JsonNode, hasTrustedRoot: boolean): SigstoreFulcio {
  const obj = new ObjectReader(node, 'a fulcio object');
  const ca = pathOrData(obj, 'caPath', 'caData');
  const oidcIssuer = optionalString(obj, 'oidcIssuer');
  const subjectEmail = optionalString(obj, 'subjectEmail');
  const oidcIssuerRegExp = optionalPattern(obj, 'oidcIssuerRegExp');
  const subjectRegExp = optionalPattern(obj, 'subjectRegExp');
  obj.finish(['caPath', 'caData', 'oidcIssuer', 'subjectEmail', 'oidcIssuerRegExp', 'subjectRegExp']);
  if (ca === undefined && !hasTrustedRoot)
    throw invalidValue(node, 'at least one of caPath and caData must be specified');
  return {
    ca,
    oidcIssuer: exactOrPattern(node, oidcIssuer, oidcIssuerRegExp, ['oidcIssuer', 'oidcIssuerRegExp']),
    subjectEmail: exactOrPattern(node, subjectEmail, subjectRegExp, ['subjectEmail', 'subjectRegExp']),
    ...(oidcIssuerRegExp === undefined ? {} : { oidcIssuerRegExp }),
    ...(subjectRegExp === undefined ? {} : { subjectRegExp }),
  };
}

function parsePki(node: JsonNode): SigstorePki {
  const obj = new ObjectReader(node, 'a pki object');
  const caRoots = pathOrData(obj, 'caRootsPath', 'caRootsData');
  const caIntermediates = pathOrData(obj, 'caIntermediatesPath', 'caIntermediatesData');
  const subjectEmail = optionalString(obj, 'subjectEmail');
  const subjectHostname = optionalString(obj, 'subjectHostname');
  obj.finish([
    'caRootsPath',
    'caRootsData',
    'caIntermediatesPath',
    'caIntermediatesData',
    'subjectEmail',
    'subjectHostname',
  ]);
  if (caRoots === undefined)
    throw invalidValue(node, 'at least one of caRootsPath and caRootsData must be specified');
  if (subjectEmail === '' && subjectHostname === '') {
    throw invalidValue(node, 'at least one of subjectEmail, subjectHostname must be specified');
  }
  return {
    caRoots,
    caIntermediates,
    subjectEmail: subjectEmail === '' ? undefined : subjectEmail,
    subjectHostname: subjectHostname === '' ? undefined : subjectHostname,
  };
}

const identityTypes = [
  'matchExact',
  'matchRepoDigestOrExact',
  'matchRepository',
  'exactReference',
  'exactRepository',
  'remapIdentity',
];

const domainPrefix = new RegExp(`^${domainRegexp.source.slice(1, -1)}/`);

/** Upstream validateIdentityRemappingPrefix: a bare domain, or a name that starts with a domain. */
function validRemapPrefix(s: string): boolean {
  return domainRegexp.test(s) || (anchoredNameRegexp.test(s) && domainPrefix.test(s));
}

export function parseSignedIdentity(node: JsonNode): SignedIdentity {
  const obj = new ObjectReader(node, 'a signedIdentity object');
  const type = typeOf(obj, identityTypes, 'policy reference match');
  switch (type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      obj.finish(['type']);
      return { type };
    case 'exactReference': {
      const refNode = obj.required('dockerReference');
      obj.finish(['type', 'dockerReference']);
      const dockerReference = asString(refNode);
      let isNameOnly: boolean;
      try {
        isNameOnly = parseNormalizedNamed(dockerReference).isNameOnly();
      } catch (err) {
        throw invalidValue(
          refNode,
          `invalid format of dockerReference ${JSON.stringify(dockerReference)}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (isNameOnly) {
        throw invalidValue(
          refNode,
          `dockerReference ${JSON.stringify(dockerReference)} contains neither a tag nor digest`,
        );
      }
      return { type, dockerReference };
    }
    case 'exactRepository': {
      const repoNode = obj.required('dockerRepository');
      obj.finish(['type', 'dockerRepository']);
      const dockerRepository = asString(repoNode);
      try {
        parseNormalizedNamed(dockerRepository);
      } catch (err) {
        throw invalidValue(
          repoNode,
          `invalid format of dockerRepository ${JSON.stringify(dockerRepository)}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      return { type, dockerRepository };
    }
    case 'remapIdentity': {
      const prefixNode = obj.required('prefix');
      const signedPrefixNode = obj.required('signedPrefix');
      obj.finish(['type', 'prefix', 'signedPrefix']);
      const prefix = asString(prefixNode);
      const signedPrefix = asString(signedPrefixNode);
      if (!validRemapPrefix(prefix))
        throw invalidValue(prefixNode, `prefix ${JSON.stringify(prefix)} is not valid`);
      if (!validRemapPrefix(signedPrefix)) {
        throw invalidValue(signedPrefixNode, `prefix ${JSON.stringify(signedPrefix)} is not valid`);
      }
      return { type, prefix, signedPrefix };
    }
    default:
      throw invalidValue(node, `unknown policy reference match type ${JSON.stringify(type)}`);
  }
}
