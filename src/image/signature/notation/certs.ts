// The Notary Project's certificate rules: the requirements on ordered code-signing and
// timestamping chains (signature specification, "Certificate Requirements"), trusted identities
// as X.509 subject patterns, and whether a certificate names revocation endpoints. Certificates
// are parsed by ../sigstore/x509.ts and ../sigstore/der.ts, which the sigstore verifier shares.
import {
  certificateSignatureAlgorithm,
  certificateSubject,
  type NameAttribute,
  parseKeyUsage,
} from '../sigstore/der.ts';
import { type Certificate, issuedBy } from '../sigstore/x509.ts';
import { NotationError } from './errors.ts';

const OID_KEY_USAGE = '2.5.29.15';
const OID_CRL_DISTRIBUTION_POINTS = '2.5.29.31';
const OID_EKU = '2.5.29.37';
const EKU = {
  any: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
};
export const OID_TIME_STAMPING = EKU.timeStamping;
// Key usage bits (RFC 5280 4.2.1.3).
const DIGITAL_SIGNATURE = 0;
const KEY_CERT_SIGN = 5;
const FORBIDDEN_LEAF_BITS: [number, string][] = [
  [2, 'keyEncipherment'],
  [3, 'dataEncipherment'],
  [4, 'keyAgreement'],
  [5, 'keyCertSign'],
  [6, 'cRLSign'],
  [7, 'encipherOnly'],
  [8, 'decipherOnly'],
];
// MD2, MD5 and SHA-1 signatures (Go's x509 refuses them; the specification forbids SHA-1).
const WEAK_SIGNATURES = new Set([
  '1.2.840.113549.1.1.2',
  '1.2.840.113549.1.1.4',
  '1.2.840.113549.1.1.5',
  '1.2.840.10045.4.1',
  '1.2.840.10040.4.3',
]);

export type ChainPurpose = 'codeSigning' | 'timestamping';

export function subjectOf(c: Certificate): string {
  return c.x509.subject.replaceAll('\n', ', ');
}

function invalid(c: Certificate, detail: string): NotationError {
  return new NotationError('NOTATION_CHAIN_INVALID', `certificate with subject "${subjectOf(c)}": ${detail}`);
}

const keyUsages = new WeakMap<Certificate, { critical: boolean; bits: Set<number> } | null>();
function keyUsageOf(c: Certificate): { critical: boolean; bits: Set<number> } | undefined {
  let ku = keyUsages.get(c);
  if (ku === undefined) {
    const ext = c.extensions.find((e) => e.oid === OID_KEY_USAGE);
    try {
      ku = ext === undefined ? null : { critical: ext.critical, bits: parseKeyUsage(ext.value) };
    } catch (err) {
      throw new NotationError('NOTATION_CHAIN_INVALID', `invalid key usage: ${(err as Error).message}`, {
        cause: err,
      });
    }
    keyUsages.set(c, ku);
  }
  return ku ?? undefined;
}

function checkKeyUsage(c: Certificate, purpose: ChainPurpose, leaf: boolean): void {
  const ku = keyUsageOf(c);
  if (ku === undefined) throw invalid(c, 'key usage extension must be present');
  if (purpose === 'codeSigning' && !ku.critical)
    throw invalid(c, 'key usage extension must be marked critical');
  if (!leaf) {
    if (!ku.bits.has(KEY_CERT_SIGN)) throw invalid(c, 'key usage must have keyCertSign set');
    return;
  }
  if (!ku.bits.has(DIGITAL_SIGNATURE)) throw invalid(c, 'key usage must have digitalSignature set');
  const extra = FORBIDDEN_LEAF_BITS.filter(([bit]) => ku.bits.has(bit)).map(([, name]) => name);
  if (extra.length > 0)
    throw invalid(c, `key usage must be digitalSignature only, found ${extra.join(', ')}`);
}

function checkLeafEku(c: Certificate, purpose: ChainPurpose): void {
  const eku = c.extKeyUsage;
  if (purpose === 'timestamping') {
    const ext = c.extensions.find((e) => e.oid === OID_EKU);
    if (ext === undefined || !ext.critical || eku === undefined)
      throw invalid(c, 'extended key usage must be present and critical');
    if (eku.length !== 1 || eku[0] !== EKU.timeStamping)
      throw invalid(c, 'extended key usage must be timeStamping only');
    return;
  }
  if (eku === undefined) return;
  const excluded = Object.entries(EKU).filter(([, oid]) => eku.includes(oid));
  if (excluded.length > 0)
    throw invalid(c, `extended key usage must not contain ${excluded.map(([name]) => name).join(', ')}`);
}

/** Issued by itself as a CA would issue (Go's CheckSignatureFrom on itself). */
function isSelfSigned(c: Certificate): boolean {
  return issuedBy(c, c);
}

/** Self-issued and self-signed, CA or not: a chain of one certificate (notation-go's rule). */
function isSelfSignedLeaf(c: Certificate): boolean {
  try {
    return c.x509.subject === c.x509.issuer && c.x509.verify(c.x509.publicKey);
  } catch {
    return false;
  }
}

/**
 * The requirements on an ordered chain (leaf first, self-signed root last) for code signing or
 * timestamping: issuance link by link, CA basic constraints and path lengths, key usages,
 * extended key usages, no weak signature algorithms. Validity times are checked elsewhere, at
 * the time that matters.
 */
export function validateChain(chain: readonly Certificate[], purpose: ChainPurpose): void {
  for (const c of chain) {
    if (WEAK_SIGNATURES.has(certificateSignatureAlgorithm(c.der)))
      throw invalid(c, 'signed with an insecure algorithm (MD5 or SHA-1)');
  }
  const leaf = chain[0]!;
  if (chain.length === 1) {
    if (!isSelfSignedLeaf(leaf)) throw invalid(leaf, 'a chain of one certificate must be self-signed');
  } else {
    for (let i = 0; i < chain.length; i++) {
      const c = chain[i]!;
      if (i === chain.length - 1) {
        if (!isSelfSigned(c)) throw invalid(c, 'the chain must end with a self-signed root certificate');
        continue;
      }
      if (isSelfSigned(c))
        throw invalid(c, `${i === 0 ? 'leaf' : 'intermediate'} certificate is self-signed`);
      const parent = chain[i + 1]!;
      if (!issuedBy(c, parent)) throw invalid(c, `not issued by "${subjectOf(parent)}"`);
    }
    for (let i = 1; i < chain.length; i++) {
      const c = chain[i]!;
      const bc = c.basicConstraints;
      if (!bc?.ca) throw invalid(c, 'basic constraints must be present with cA true');
      if (bc.pathLen !== undefined && bc.pathLen < i - 1)
        throw invalid(c, `path length ${bc.pathLen} exceeded: ${i - 1} certificates below`);
      checkKeyUsage(c, purpose, false);
    }
  }
  if (leaf.basicConstraints?.ca === true && chain.length > 1)
    throw invalid(leaf, 'basic constraints of a leaf must have cA false');
  checkKeyUsage(leaf, purpose, true);
  checkLeafEku(leaf, purpose);
}

// The last chain validated per leaf: a signer's chain arrives with each of its signatures, and
// the result is a pure function of the (memoized, immutable) certificates.
const validated = new WeakMap<Certificate, { chain: readonly Certificate[]; error: unknown }>();

export function validateCodeSigningChain(chain: readonly Certificate[]): void {
  const leaf = chain[0]!;
  const known = validated.get(leaf);
  if (
    known !== undefined &&
    known.chain.length === chain.length &&
    known.chain.every((c, i) => c === chain[i])
  ) {
    if (known.error !== undefined) throw known.error;
    return;
  }
  let error: unknown;
  try {
    validateChain(chain, 'codeSigning');
  } catch (err) {
    error = err;
  }
  validated.set(leaf, { chain: [...chain], error });
  if (error !== undefined) throw error;
}

const endpoints = new WeakMap<Certificate, readonly string[]>();
/** A certificate whose revocation could be checked (OCSP responder or CRL distribution point). */
export function revocationEndpoints(c: Certificate): readonly string[] {
  let out = endpoints.get(c);
  if (out === undefined) {
    out = [
      ...(/^OCSP - URI:/m.test(c.x509.infoAccess ?? '') ? ['OCSP'] : []),
      ...(c.extensions.some((e) => e.oid === OID_CRL_DISTRIBUTION_POINTS) ? ['CRL'] : []),
    ];
    endpoints.set(c, out);
  }
  return out;
}

const validities = new WeakMap<Certificate, { readonly from: number; readonly to: number }>();
/** notBefore and notAfter in epoch milliseconds, memoized. */
export function validityOf(c: Certificate): { readonly from: number; readonly to: number } {
  let v = validities.get(c);
  if (v === undefined) {
    v = { from: c.x509.validFromDate.getTime(), to: c.x509.validToDate.getTime() };
    validities.set(c, v);
  }
  return v;
}

// --- trusted identities -------------------------------------------------------------------

/** Distinguished name attributes by short name, as Go's pkix.Name.String() spells them. */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.6': 'C',
  '2.5.4.8': 'ST',
  '2.5.4.7': 'L',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.9': 'STREET',
  '2.5.4.17': 'POSTALCODE',
};
const MANDATORY = ['C', 'ST', 'O'];
export type DistinguishedName = ReadonlyMap<string, string>;

function dnFromRdns(rdns: NameAttribute[][], what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rdn of rdns) {
    if (rdn.length !== 1)
      throw new NotationError('NOTATION_IDENTITY_MISMATCH', `${what}: multi-valued RDNs are not supported`);
    const { oid, value } = rdn[0]!;
    const type = SHORT_NAMES[oid];
    if (type === undefined)
      throw new NotationError('NOTATION_IDENTITY_MISMATCH', `${what}: unsupported attribute ${oid}`);
    if (out.has(type))
      throw new NotationError('NOTATION_IDENTITY_MISMATCH', `${what}: duplicate attribute ${type}`);
    out.set(type, value);
  }
  for (const m of MANDATORY)
    if (!out.get(m))
      throw new NotationError('NOTATION_IDENTITY_MISMATCH', `${what}: no mandatory attribute ${m}`);
  return out;
}

const subjects = new WeakMap<Certificate, Map<string, string> | NotationError>();
/** The signing certificate's subject as a DN map (notation-go's rules: C, ST, O required). */
export function certificateDn(c: Certificate): DistinguishedName {
  let dn = subjects.get(c);
  if (dn === undefined) {
    try {
      dn = dnFromRdns(certificateSubject(c.der), 'signing certificate subject');
    } catch (err) {
      dn =
        err instanceof NotationError
          ? err
          : new NotationError(
              'NOTATION_IDENTITY_MISMATCH',
              `signing certificate subject: ${(err as Error).message}`,
            );
    }
    subjects.set(c, dn);
  }
  if (dn instanceof NotationError) throw dn;
  return dn;
}

function trustInvalid(detail: string): NotationError {
  return new NotationError('NOTATION_TRUST_INVALID', detail);
}

/** Splits on unescaped `sep`; backslash escapes are kept for unescapeDn(). */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\') {
      cur += ch + (s[i + 1] ?? '');
      i++;
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function unescapeDn(value: string, identity: string): string {
  let out = '';
  const bytes: number[] = [];
  const flush = () => {
    if (bytes.length) out += Buffer.from(bytes).toString('utf8');
    bytes.length = 0;
  };
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch !== '\\') {
      flush();
      out += ch;
      continue;
    }
    const hex = value.slice(i + 1, i + 3);
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (i + 1 < value.length) {
      flush();
      out += value[++i];
    } else throw trustInvalid(`trusted identity ${JSON.stringify(identity)}: dangling escape`);
  }
  flush();
  return out;
}

/** Parses the DN of an `x509.subject:` trusted identity (RFC 4514, Notation's restrictions). */
export function parseIdentityDn(dn: string, identity: string): DistinguishedName {
  if (dn.includes('=#'))
    throw trustInvalid(`trusted identity ${JSON.stringify(identity)}: "=#" values are not supported`);
  const out = new Map<string, string>();
  for (const rdn of splitUnescaped(dn, ',')) {
    if (splitUnescaped(rdn, '+').length > 1)
      throw trustInvalid(`trusted identity ${JSON.stringify(identity)}: multi-valued RDNs are not supported`);
    const eq = rdn.indexOf('=');
    if (eq < 0)
      throw trustInvalid(
        `trusted identity ${JSON.stringify(identity)}: expected TYPE=VALUE, got ${JSON.stringify(rdn.trim())}`,
      );
    let type = rdn.slice(0, eq).trim().toUpperCase();
    if (type === 'S') type = 'ST';
    if (!/^[A-Z][A-Z0-9-]*$/.test(type))
      throw trustInvalid(`trusted identity ${JSON.stringify(identity)}: invalid attribute type`);
    const raw = rdn.slice(eq + 1);
    // Unescaped leading and trailing spaces are not part of the value (RFC 4514).
    const value = unescapeDn(raw.replace(/^ +/, '').replace(/(?<!\\) +$/, ''), identity);
    if (out.has(type))
      throw trustInvalid(`trusted identity ${JSON.stringify(identity)}: duplicate attribute ${type}`);
    out.set(type, value);
  }
  for (const m of MANDATORY)
    if (!out.get(m))
      throw trustInvalid(`trusted identity ${JSON.stringify(identity)}: must contain C, ST (or S) and O`);
  return out;
}

/** True when every attribute of `pattern` has the same value in `dn`. */
export function isSubsetDn(pattern: DistinguishedName, dn: DistinguishedName): boolean {
  for (const [k, v] of pattern) if (dn.get(k) !== v) return false;
  return true;
}
