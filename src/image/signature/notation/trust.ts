// A Notation trust policy statement, compiled: trust stores (CA, signing authority, TSA
// certificates), trusted identities, and the verification level with its overrides resolved to
// one action per check (trust-store-trust-policy.md, "Signature Verification details").
import { createHash } from 'node:crypto';
import { type Certificate, parseCertificateDer, parseCertificatesPem } from '../sigstore/x509.ts';
import { type DistinguishedName, isSubsetDn, parseIdentityDn } from './certs.ts';
import { NotationError } from './errors.ts';

export type VerificationCheck = 'integrity' | 'authenticity' | 'authenticTimestamp' | 'expiry' | 'revocation';
export type VerificationAction = 'enforce' | 'log' | 'skip';
export type VerificationLevel = 'strict' | 'permissive' | 'audit' | 'skip';
export type OverridableCheck = Exclude<VerificationCheck, 'integrity'>;

/** What a trust policy statement says besides its trust stores. */
export interface NotationSettings {
  /** `*`, or `x509.subject: C=…, ST=…, O=…[, …]` patterns. */
  readonly trustedIdentities: readonly string[];
  readonly level: VerificationLevel;
  readonly override?: Readonly<Partial<Record<OverridableCheck, VerificationAction>>>;
  /** `always` (default) or `afterCertExpiry`. */
  readonly verifyTimestamp?: 'always' | 'afterCertExpiry';
}

export interface CompiledSettings {
  readonly level: VerificationLevel;
  readonly actions: Readonly<Record<VerificationCheck, VerificationAction>>;
  /** undefined: any identity (`*`). */
  readonly identities: readonly DistinguishedName[] | undefined;
  readonly verifyTimestamp: 'always' | 'afterCertExpiry';
}

export interface NotationTrustInput extends NotationSettings {
  /** Contents of certificate files (PEM or DER, one or more certificates each): `ca` trust store. */
  readonly ca?: readonly Uint8Array[];
  /** The `signingAuthority` trust store (signing scheme notary.x509.signingAuthority). */
  readonly signingAuthority?: readonly Uint8Array[];
  /** The `tsa` trust store: timestamps are verified only when it has certificates. */
  readonly tsa?: readonly Uint8Array[];
}

export interface NotationTrust extends CompiledSettings {
  readonly ca: readonly Certificate[];
  readonly signingAuthority: readonly Certificate[];
  readonly tsa: readonly Certificate[];
  /** SHA-256 fingerprints of ca / signingAuthority certificates. */
  readonly caFingerprints: ReadonlySet<string>;
  readonly signingAuthorityFingerprints: ReadonlySet<string>;
}

const LEVELS: Record<VerificationLevel, Record<VerificationCheck, VerificationAction>> = {
  strict: {
    integrity: 'enforce',
    authenticity: 'enforce',
    authenticTimestamp: 'enforce',
    expiry: 'enforce',
    revocation: 'enforce',
  },
  permissive: {
    integrity: 'enforce',
    authenticity: 'enforce',
    authenticTimestamp: 'log',
    expiry: 'log',
    revocation: 'log',
  },
  audit: {
    integrity: 'enforce',
    authenticity: 'log',
    authenticTimestamp: 'log',
    expiry: 'log',
    revocation: 'log',
  },
  skip: {
    integrity: 'skip',
    authenticity: 'skip',
    authenticTimestamp: 'skip',
    expiry: 'skip',
    revocation: 'skip',
  },
};
const OVERRIDABLE: Record<OverridableCheck, readonly VerificationAction[]> = {
  authenticity: ['enforce', 'log'],
  authenticTimestamp: ['enforce', 'log'],
  expiry: ['enforce', 'log'],
  revocation: ['enforce', 'log', 'skip'],
};
export const MAX_TRUSTED_IDENTITIES = 64;
const MAX_STORE_CERTIFICATES = 256;
const X509_SUBJECT = 'x509.subject:';

function invalid(detail: string, cause?: unknown): NotationError {
  return new NotationError('NOTATION_TRUST_INVALID', detail, { cause });
}

const fingerprints = new WeakMap<Certificate, string>();
/** The certificate's SHA-256 fingerprint (hex), memoized. */
export function fingerprintOf(c: Certificate): string {
  let f = fingerprints.get(c);
  if (f === undefined) {
    f = createHash('sha256').update(c.der).digest('hex');
    fingerprints.set(c, f);
  }
  return f;
}

function certificates(files: readonly Uint8Array[] | undefined, store: string): Certificate[] {
  const out: Certificate[] = [];
  for (const [i, bytes] of (files ?? []).entries()) {
    const context = `${store} trust store file ${i}`;
    const text = Buffer.from(bytes).toString('latin1');
    try {
      out.push(
        ...(text.includes('-----BEGIN')
          ? parseCertificatesPem(text, context)
          : [parseCertificateDer(bytes, context)]),
      );
    } catch (err) {
      throw invalid(`${context}: ${(err as Error).message}`, err);
    }
    if (out.length > MAX_STORE_CERTIFICATES)
      throw invalid(`${store} trust store: more than ${MAX_STORE_CERTIFICATES} certificates`);
  }
  return out;
}

function identities(list: readonly string[]): DistinguishedName[] | undefined {
  if (list.length === 0) throw invalid('trustedIdentities must not be empty');
  if (list.length > MAX_TRUSTED_IDENTITIES)
    throw invalid(`more than ${MAX_TRUSTED_IDENTITIES} trusted identities`);
  if (list.includes('*')) {
    if (list.length > 1) throw invalid('trusted identity "*" must be the only one');
    return undefined;
  }
  const dns = list.map((identity) => {
    if (!identity.startsWith(X509_SUBJECT))
      throw invalid(
        `trusted identity ${JSON.stringify(identity)}: expected "*" or an x509.subject: identity`,
      );
    const dn = identity.slice(X509_SUBJECT.length);
    if (dn.trim() === '') throw invalid(`trusted identity ${JSON.stringify(identity)} has no value`);
    return parseIdentityDn(dn, identity);
  });
  for (let i = 0; i < dns.length; i++)
    for (let j = i + 1; j < dns.length; j++)
      if (isSubsetDn(dns[i]!, dns[j]!) || isSubsetDn(dns[j]!, dns[i]!))
        throw invalid(`trusted identities ${JSON.stringify(list[i])} and ${JSON.stringify(list[j])} overlap`);
  return dns;
}

/** Validates the level, overrides and identities of a statement; throws NOTATION_TRUST_INVALID. */
export function compileNotationSettings(input: NotationSettings): CompiledSettings {
  const base = LEVELS[input.level];
  if (base === undefined) throw invalid(`unknown verification level ${JSON.stringify(input.level)}`);
  const actions = { ...base };
  for (const [check, action] of Object.entries(input.override ?? {})) {
    const allowed = OVERRIDABLE[check as OverridableCheck];
    if (allowed === undefined) throw invalid(`override: ${JSON.stringify(check)} cannot be overridden`);
    if (input.level === 'skip') throw invalid('override: the skip level cannot be customized');
    if (!allowed.includes(action as VerificationAction))
      throw invalid(`override: ${check} must be one of ${allowed.join(', ')}, got ${JSON.stringify(action)}`);
    actions[check as OverridableCheck] = action as VerificationAction;
  }
  const verifyTimestamp = input.verifyTimestamp ?? 'always';
  if (verifyTimestamp !== 'always' && verifyTimestamp !== 'afterCertExpiry')
    throw invalid(
      `verifyTimestamp must be always or afterCertExpiry, got ${JSON.stringify(verifyTimestamp)}`,
    );
  const skipWithout = input.level === 'skip' && input.trustedIdentities.length === 0;
  return {
    level: input.level,
    actions,
    identities: skipWithout ? undefined : identities(input.trustedIdentities),
    verifyTimestamp,
  };
}

/** Validates and compiles a trust policy statement; throws NOTATION_TRUST_INVALID. */
export function compileNotationTrust(input: NotationTrustInput): NotationTrust {
  const settings = compileNotationSettings(input);
  const ca = certificates(input.ca, 'ca');
  const signingAuthority = certificates(input.signingAuthority, 'signingAuthority');
  const tsa = certificates(input.tsa, 'tsa');
  if (input.level !== 'skip' && ca.length + signingAuthority.length === 0)
    throw invalid('no ca or signingAuthority certificates: nothing could be trusted');
  return {
    ...settings,
    ca,
    signingAuthority,
    tsa,
    caFingerprints: new Set(ca.map(fingerprintOf)),
    signingAuthorityFingerprints: new Set(signingAuthority.map(fingerprintOf)),
  };
}
