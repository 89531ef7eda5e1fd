// Trust material of a sigstoreSigned requirement, compiled once: keys parsed, certificates parsed,
// identities compiled. Field names are policy.json's; the extensions are documented on each field.

import { createPublicKey } from 'node:crypto';
import { SigstoreError } from './errors.ts';
import { decodeStdBase64, isJsonObject, type JsonObject, parseStrictJson } from './json.ts';
import { checkKeyType, type PublicKey, parsePublicKeyPem } from './keys.ts';
import { type Certificate, parseCertificateDer, parseCertificatesPem } from './x509.ts';

/** Base64 text as policy.json holds it (Go []byte), or bytes already decoded. */
export type BinaryData = string | Uint8Array;

export interface SigstoreFulcioInput {
  readonly caPath?: string;
  readonly caData?: BinaryData;
  readonly oidcIssuer?: string;
  readonly subjectEmail?: string;
  /** Extension: the whole OIDC issuer must match this regular expression (anchored). */
  readonly oidcIssuerRegExp?: string;
  /** Extension: some SAN email or URI must match this regular expression (anchored). */
  readonly subjectRegExp?: string;
}

export interface SigstorePkiInput {
  readonly caRootsPath?: string;
  readonly caRootsData?: BinaryData;
  readonly caIntermediatesPath?: string;
  readonly caIntermediatesData?: BinaryData;
  readonly subjectEmail?: string;
  readonly subjectHostname?: string;
}

/** The trust-related fields of a policy.json `sigstoreSigned` requirement (signedIdentity excluded). */
export interface SigstoreRequirementInput {
  readonly keyPath?: string;
  readonly keyPaths?: readonly string[];
  readonly keyData?: BinaryData;
  readonly keyDatas?: readonly BinaryData[];
  readonly fulcio?: SigstoreFulcioInput;
  readonly pki?: SigstorePkiInput;
  readonly rekorPublicKeyPath?: string;
  readonly rekorPublicKeyPaths?: readonly string[];
  readonly rekorPublicKeyData?: BinaryData;
  readonly rekorPublicKeyDatas?: readonly BinaryData[];
  /**
   * Extension: a sigstore trusted_root.json (never fetched through TUF). Supplies Fulcio CAs and
   * Rekor keys when the fields above omit them, and is required to verify sigstore bundles.
   */
  readonly trustedRootPath?: string;
  readonly trustedRootData?: BinaryData;
}

/**
 * Portcullis extensions a policy parser may attach to a parsed sigstoreSigned requirement (the
 * upstream model has no place for them): keyless identity patterns and an offline trusted root.
 */
export interface SigstoreRequirementExtensions {
  readonly subjectRegExp?: string;
  readonly oidcIssuerRegExp?: string;
  readonly trustedRootPath?: string;
  readonly trustedRootData?: BinaryData;
}

/** `input` with the extensions applied: patterns replace the exact fulcio fields they cover. */
export function withSigstoreExtensions(
  input: SigstoreRequirementInput,
  x: SigstoreRequirementExtensions | undefined,
): SigstoreRequirementInput {
  if (x === undefined) return input;
  const root = {
    ...(x.trustedRootPath === undefined ? {} : { trustedRootPath: x.trustedRootPath }),
    ...(x.trustedRootData === undefined ? {} : { trustedRootData: x.trustedRootData }),
  };
  if (input.fulcio === undefined) return { ...input, ...root };
  const { subjectEmail, oidcIssuer, ...fulcio } = input.fulcio;
  return {
    ...input,
    ...root,
    fulcio: {
      ...fulcio,
      ...(x.subjectRegExp === undefined ? { subjectEmail } : { subjectRegExp: x.subjectRegExp }),
      ...(x.oidcIssuerRegExp === undefined ? { oidcIssuer } : { oidcIssuerRegExp: x.oidcIssuerRegExp }),
    },
  };
}

export type ReadFile = (path: string) => Promise<Uint8Array>;

export interface IdentityMatcher {
  /** Human description for explanations. */
  readonly description: string;
  /** Regular expressions also see SAN URIs (CI workflow identities); exact emails only emails. */
  readonly includesUris: boolean;
  matches(values: readonly string[]): boolean;
}

export type SigstoreTrust =
  | {
      readonly kind: 'keys';
      readonly keys: readonly PublicKey[];
      readonly rekorKeys: readonly PublicKey[] | undefined;
      readonly trustedRoot: JsonObject | undefined;
    }
  | {
      readonly kind: 'fulcio';
      readonly roots: readonly Certificate[];
      /** Intermediates the trusted root lists; the chain annotation adds its own per signature. */
      readonly intermediates: readonly Certificate[];
      readonly issuer: IdentityMatcher;
      readonly subject: IdentityMatcher;
      readonly rekorKeys: readonly PublicKey[];
      readonly trustedRoot: JsonObject | undefined;
    }
  | {
      readonly kind: 'pki';
      readonly roots: readonly Certificate[];
      readonly intermediates: readonly Certificate[];
      readonly subjectEmail: string | undefined;
      readonly subjectHostname: string | undefined;
    };

const MAX_TRUST_FILE = 4 << 20;

function invalid(detail: string, cause?: unknown): SigstoreError {
  return new SigstoreError('SIGSTORE_TRUST_INVALID', `sigstoreSigned requirement: ${detail}`, { cause });
}

function decodeData(data: BinaryData, field: string): string {
  if (typeof data !== 'string') return new TextDecoder().decode(data);
  const bytes = decodeStdBase64(data);
  if (bytes === undefined) throw invalid(`${field}: invalid base64`);
  return bytes.toString('utf8');
}

async function readText(readFile: ReadFile, path: string, field: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw invalid(`${field}: reading ${path}: ${err instanceof Error ? err.message : err}`, err);
  }
  if (bytes.length > MAX_TRUST_FILE)
    throw invalid(`${field}: ${path} is larger than ${MAX_TRUST_FILE} bytes`);
  return new TextDecoder().decode(bytes);
}

interface Source {
  readonly field: string;
  load(readFile: ReadFile): Promise<string[]>;
}

/** The one source among `fields` that is present, or undefined; two present is an error. */
function oneOf(obj: object, fields: readonly string[], context: string): Source | undefined {
  const present = fields.filter((f) => (obj as Record<string, unknown>)[f] !== undefined);
  if (present.length > 1) throw invalid(`${context}: only one of ${present.join(', ')} may be specified`);
  const field = present[0];
  if (field === undefined) return undefined;
  const value = (obj as Record<string, unknown>)[field];
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  if (Array.isArray(value) && list.length === 0) throw invalid(`${field} must not be empty`);
  const isPath = field.endsWith('Path') || field.endsWith('Paths');
  return {
    field,
    load: (readFile) =>
      Promise.all(
        list.map((v, i) => {
          const name = Array.isArray(value) ? `${field}[${i}]` : field;
          if (isPath) {
            if (typeof v !== 'string' || v === '') throw invalid(`${name}: expected a file path`);
            return readText(readFile, v, name);
          }
          if (typeof v !== 'string' && !(v instanceof Uint8Array))
            throw invalid(`${name}: expected base64 data`);
          return Promise.resolve(decodeData(v, name));
        }),
      ),
  };
}

async function loadKeys(source: Source, readFile: ReadFile, ecdsaOnly: boolean): Promise<PublicKey[]> {
  const texts = await source.load(readFile);
  return texts.map((text, i) => {
    const name = texts.length > 1 || source.field.endsWith('s') ? `${source.field}[${i}]` : source.field;
    try {
      return parsePublicKeyPem(text, name, ecdsaOnly);
    } catch (err) {
      if (err instanceof SigstoreError) throw invalid(err.message, err);
      throw err;
    }
  });
}

async function loadCertificates(source: Source, readFile: ReadFile): Promise<Certificate[]> {
  const texts = await source.load(readFile);
  try {
    return texts.flatMap((text) => parseCertificatesPem(text, source.field));
  } catch (err) {
    if (err instanceof SigstoreError) throw invalid(err.message, err);
    throw err;
  }
}

function anchored(pattern: string, field: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`, 'u');
  } catch (err) {
    throw invalid(`${field}: invalid regular expression`, err);
  }
}

function identityMatcher(
  exact: string | undefined,
  pattern: string | undefined,
  field: string,
): IdentityMatcher {
  if (exact !== undefined && pattern !== undefined) {
    throw invalid(`fulcio: only one of ${field} and ${field}RegExp may be specified`);
  }
  if (exact !== undefined) {
    return {
      description: JSON.stringify(exact),
      includesUris: false,
      matches: (values) => values.includes(exact),
    };
  }
  if (pattern !== undefined) {
    const re = anchored(pattern, `fulcio.${field}RegExp`);
    return {
      description: `/${pattern}/`,
      includesUris: true,
      matches: (values) => values.some((v) => re.test(v)),
    };
  }
  throw invalid(`fulcio.${field} must be specified`);
}

const base64ToBytes = (s: unknown, what: string): Buffer => {
  if (typeof s !== 'string') throw invalid(`trusted root: ${what}: expected base64 text`);
  return Buffer.from(s, 'base64');
};

interface TrustedRootMaterial {
  readonly doc: JsonObject;
  readonly fulcioRoots: Certificate[];
  readonly fulcioIntermediates: Certificate[];
  readonly rekorKeys: PublicKey[];
}

/** Reads the parts of a trusted_root.json the cosign-attachment verifier uses. */
function trustedRootMaterial(text: string): TrustedRootMaterial {
  let doc: unknown;
  try {
    doc = parseStrictJson(text);
  } catch (err) {
    throw invalid(`trusted root: ${err instanceof Error ? err.message : err}`, err);
  }
  if (!isJsonObject(doc as never)) throw invalid('trusted root: expected a json object');
  const root = doc as JsonObject;
  const fulcioRoots: Certificate[] = [];
  const fulcioIntermediates: Certificate[] = [];
  const cas = Array.isArray(root.certificateAuthorities) ? root.certificateAuthorities : [];
  cas.forEach((ca, i) => {
    const certs = isJsonObject(ca) && isJsonObject(ca.certChain) ? ca.certChain.certificates : undefined;
    if (!Array.isArray(certs) || certs.length === 0)
      throw invalid(`trusted root: certificateAuthorities[${i}]: no certChain`);
    const parsed = certs.map((c, j) => {
      const raw = isJsonObject(c) ? c.rawBytes : undefined;
      return parseCertificateDer(
        base64ToBytes(raw, `certificateAuthorities[${i}]`),
        `trusted root ca ${i}.${j}`,
      );
    });
    fulcioRoots.push(parsed[parsed.length - 1]!);
    fulcioIntermediates.push(...parsed.slice(0, -1));
  });
  const tlogs = Array.isArray(root.tlogs) ? root.tlogs : [];
  const rekorKeys = tlogs.map((t, i) => {
    const raw = isJsonObject(t) && isJsonObject(t.publicKey) ? t.publicKey.rawBytes : undefined;
    const key = createPublicKey({ key: base64ToBytes(raw, `tlogs[${i}]`), format: 'der', type: 'spki' });
    checkKeyType(key, `trusted root tlogs[${i}]`, true);
    return { key, spki: key.export({ format: 'der', type: 'spki' }), source: `trusted root tlogs[${i}]` };
  });
  return { doc: root, fulcioRoots, fulcioIntermediates, rekorKeys };
}

/** Compiles a requirement's trust material; every problem is a SIGSTORE_TRUST_INVALID error. */
export async function compileSigstoreTrust(
  input: SigstoreRequirementInput,
  readFile: ReadFile,
): Promise<SigstoreTrust> {
  const keySource = oneOf(input, ['keyPath', 'keyPaths', 'keyData', 'keyDatas'], 'public keys');
  const rekorSource = oneOf(
    input,
    ['rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas'],
    'rekor public keys',
  );
  const rootSource = oneOf(input, ['trustedRootPath', 'trustedRootData'], 'trusted root');
  const kinds = [keySource, input.fulcio, input.pki].filter((x) => x !== undefined).length;
  if (kinds !== 1)
    throw invalid('exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be specified');
  const trustedRoot = rootSource ? trustedRootMaterial((await rootSource.load(readFile))[0]!) : undefined;
  const rekorKeys = rekorSource ? await loadKeys(rekorSource, readFile, true) : trustedRoot?.rekorKeys;
  if (keySource) {
    return {
      kind: 'keys',
      keys: await loadKeys(keySource, readFile, false),
      rekorKeys,
      trustedRoot: trustedRoot?.doc,
    };
  }
  if (input.fulcio) {
    const f = input.fulcio;
    const caSource = oneOf(f, ['caPath', 'caData'], 'fulcio');
    if (caSource === undefined && trustedRoot === undefined)
      throw invalid('fulcio: caPath or caData must be specified');
    if (rekorKeys === undefined || rekorKeys.length === 0) {
      throw invalid('fulcio requires rekor public keys (rekorPublicKey* or a trusted root)');
    }
    return {
      kind: 'fulcio',
      roots: caSource ? await loadCertificates(caSource, readFile) : trustedRoot!.fulcioRoots,
      intermediates: caSource ? [] : trustedRoot!.fulcioIntermediates,
      issuer: identityMatcher(f.oidcIssuer, f.oidcIssuerRegExp, 'oidcIssuer'),
      subject: identityMatcher(f.subjectEmail, f.subjectRegExp, 'subjectEmail'),
      rekorKeys,
      trustedRoot: trustedRoot?.doc,
    };
  }
  const p = input.pki!;
  if (rekorSource) throw invalid('pki: rekor public keys must not be specified');
  const rootsSource = oneOf(p, ['caRootsPath', 'caRootsData'], 'pki');
  if (rootsSource === undefined) throw invalid('pki: caRootsPath or caRootsData must be specified');
  const interSource = oneOf(p, ['caIntermediatesPath', 'caIntermediatesData'], 'pki');
  if (p.subjectEmail === undefined && p.subjectHostname === undefined) {
    throw invalid('pki: at least one of subjectEmail and subjectHostname must be specified');
  }
  return {
    kind: 'pki',
    roots: await loadCertificates(rootsSource, readFile),
    intermediates: interSource ? await loadCertificates(interSource, readFile) : [],
    subjectEmail: p.subjectEmail,
    subjectHostname: p.subjectHostname,
  };
}

export interface TrustCacheOptions {
  readonly maxEntries?: number;
  /** How long compiled trust is reused; key files are re-read after this. Default 60 s. */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/**
 * Compiled trust per requirement, keyed by the requirement's contents: parsing PEM and certificates
 * is the costly part of a key-signed verification. Entries expire so rotated key files are seen.
 */
export class SigstoreTrustCache {
  readonly #readFile: ReadFile;
  readonly #max: number;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { readonly trust: Promise<SigstoreTrust>; readonly until: number }>();

  constructor(readFile: ReadFile, options: TrustCacheOptions = {}) {
    this.#readFile = readFile;
    this.#max = options.maxEntries ?? 256;
    this.#ttl = options.ttlMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  get(input: SigstoreRequirementInput): Promise<SigstoreTrust> {
    const key = JSON.stringify(input, (_k, v) =>
      v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
    );
    const now = this.#now();
    const cached = this.#entries.get(key);
    if (cached !== undefined && cached.until > now) return cached.trust;
    const trust = compileSigstoreTrust(input, this.#readFile);
    // A failed compilation is not cached: the file may be fixed or appear later.
    trust.catch(() => {
      if (this.#entries.get(key)?.trust === trust) this.#entries.delete(key);
    });
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { trust, until: now + this.#ttl });
    return trust;
  }
}
