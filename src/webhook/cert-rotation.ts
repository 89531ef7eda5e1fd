// Self-managed certificates: what the Lease holder writes into the certificate Secret, and what
// every replica accepts from it. Pure: the Secret's data and the clock in, a plan out.
//
// The Secret holds ca.crt (every CA the webhook configurations trust: the signing CA first, then
// older ones until they expire), ca.key (the signing CA's key), tls.crt and tls.key (the serving
// certificate, signed by a CA of ca.crt). A rotation never leaves a replica serving a certificate
// the API server does not trust:
//   1. A new CA joins ca.crt (and so caBundle) beside the old one; tls.crt stays as it is.
//   2. Only once the new CA has been in every webhook configuration's caBundle for the bundle
//      delay does it sign a new tls.crt, which the replicas then load from the Secret.
//   3. An old CA leaves ca.crt when it expires: no certificate it signed is valid past that
//      (serving certificates never outlive their CA), so no replica can still serve one.
import type { X509Certificate } from 'node:crypto';
import {
  certificateFingerprint,
  createCertificateAuthority,
  isSelfSignedCa,
  issuedBy,
  issueServingCertificate,
  type PemPair,
  parseCertificates,
  parsePrivateKey,
  uncoveredHosts,
} from './certificates.ts';
import { WebhookError } from './review.ts';

/** The keys of the certificate Secret. */
export const SECRET_KEYS = ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];
export type SecretData = Readonly<Partial<Record<string, Buffer>>>;

export interface RotationSettings {
  /** DNS names and IP addresses the serving certificate must cover (the Service's names). */
  readonly hosts: readonly string[];
  /** Common name of the CAs. */
  readonly caName: string;
  readonly caValidityMs: number;
  /** A CA is replaced this long before it expires. */
  readonly caRenewBeforeMs: number;
  readonly certValidityMs: number;
  /** The serving certificate is replaced this long before it expires. */
  readonly certRenewBeforeMs: number;
  /** How long a new CA is in every caBundle before a certificate it signed is served. */
  readonly bundleDelayMs: number;
}

export interface RotationPlan {
  /** The Secret's new data (PEM per key); undefined when the Secret is right as it is. */
  readonly write: Readonly<Record<SecretKey, string>> | undefined;
  /** PEM of every trusted CA: what each webhook's caBundle must be. */
  readonly caBundle: string;
  /** SHA-256 fingerprint of each CA in caBundle, the signing CA first. */
  readonly cas: readonly string[];
  /** What was wrong with the Secret and what the plan changes, one line each, for the log. */
  readonly notes: readonly string[];
  /** Plan again at this time at the latest. */
  readonly nextCheck: Date;
}

/** A serving certificate from the Secret that passed every check. */
export interface ServingPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly fingerprint: string;
  readonly notAfter: Date;
}

/** Clock skew allowance: certificates start this much before they are made (at most 5 minutes). */
const backdate = (validityMs: number) => Math.min(5 * 60_000, Math.floor(validityMs / 10));
/** Time past which no plan waits: a Secret edited by hand is looked at again within this. */
const MAX_RECHECK_MS = 60 * 60_000;
const MIN_RECHECK_MS = 100;

const describe = (cert: X509Certificate) =>
  `${certificateFingerprint(cert).slice(0, 16)} (${cert.subject.replaceAll('\n', ', ')})`;

/**
 * Checks the serving pair of `data` as a replica must before serving it: both keys present and
 * parsing, the key matching the certificate, signed by a CA of ca.crt, covering every host, and
 * valid now. Throws WebhookError TLS_INVALID with the precise reason.
 */
export function checkServingPair(data: SecretData, hosts: readonly string[], now: Date): ServingPair {
  const certPem = data['tls.crt'];
  const keyPem = data['tls.key'];
  if (certPem === undefined || certPem.length === 0)
    throw new WebhookError('TLS_INVALID', 'tls.crt: missing');
  if (keyPem === undefined || keyPem.length === 0) throw new WebhookError('TLS_INVALID', 'tls.key: missing');
  const [leaf] = parseCertificates(certPem, 'tls.crt');
  if (leaf === undefined) throw new WebhookError('TLS_INVALID', 'tls.crt: no PEM certificate found');
  const key = parsePrivateKey(keyPem, 'tls.key');
  if (!leaf.checkPrivateKey(key)) {
    throw new WebhookError('TLS_INVALID', `tls.key is not the key of tls.crt ${describe(leaf)}`);
  }
  const caPem = data['ca.crt'];
  if (caPem === undefined || caPem.length === 0) throw new WebhookError('TLS_INVALID', 'ca.crt: missing');
  const cas = parseCertificates(caPem, 'ca.crt');
  if (!cas.some((ca) => issuedBy(leaf, ca))) {
    throw new WebhookError(
      'TLS_INVALID',
      `tls.crt ${describe(leaf)} is not signed by any CA in ca.crt (${cas.map(describe).join('; ')})`,
    );
  }
  const missing = uncoveredHosts(leaf, hosts);
  if (missing.length > 0) {
    throw new WebhookError(
      'TLS_INVALID',
      `tls.crt ${describe(leaf)} does not cover ${missing.join(', ')} (it names ${leaf.subjectAltName ?? 'no subjectAltName'})`,
    );
  }
  const notBefore = leaf.validFromDate;
  const notAfter = leaf.validToDate;
  if (now < notBefore) {
    throw new WebhookError(
      'TLS_INVALID',
      `tls.crt ${describe(leaf)} is not valid before ${notBefore.toISOString()}`,
    );
  }
  if (now >= notAfter) {
    throw new WebhookError('TLS_INVALID', `tls.crt ${describe(leaf)} expired at ${notAfter.toISOString()}`);
  }
  return { cert: certPem, key: keyPem, fingerprint: certificateFingerprint(leaf), notAfter };
}

interface TrustedCa {
  readonly cert: X509Certificate;
  readonly pem: string;
}

/** The CAs of ca.crt that can still be trusted; what was dropped and why goes to `notes`. */
function trustedCas(data: SecretData, now: Date, notes: string[]): TrustedCa[] {
  const pem = data['ca.crt'];
  if (pem === undefined || pem.length === 0) return [];
  let certs: X509Certificate[];
  try {
    certs = parseCertificates(pem, 'ca.crt');
  } catch (err) {
    notes.push(`${(err as Error).message}: replaced`);
    return [];
  }
  const out: TrustedCa[] = [];
  for (const cert of certs) {
    if (!isSelfSignedCa(cert)) notes.push(`ca.crt: ${describe(cert)} is not a self-signed CA: dropped`);
    else if (now >= cert.validToDate) notes.push(`ca.crt: ${describe(cert)} expired: dropped`);
    else if (!out.some((c) => c.cert.fingerprint256 === cert.fingerprint256))
      out.push({ cert, pem: cert.toString() });
  }
  return out;
}

/** The CA of `cas` that ca.key belongs to, with the key's PEM. */
function signingCa(
  data: SecretData,
  cas: readonly TrustedCa[],
  notes: string[],
): (TrustedCa & { keyPem: string }) | undefined {
  const keyPem = data['ca.key'];
  if (keyPem === undefined || keyPem.length === 0) return undefined;
  try {
    const key = parsePrivateKey(keyPem, 'ca.key');
    const ca = cas.find((c) => c.cert.checkPrivateKey(key));
    if (ca === undefined) {
      notes.push('ca.key belongs to no valid CA of ca.crt: a new CA is made');
      return undefined;
    }
    return { ...ca, keyPem: keyPem.toString('utf8') };
  } catch (err) {
    notes.push(`${(err as Error).message}: a new CA is made`);
    return undefined;
  }
}

/**
 * What the Lease holder does with the Secret at `now`. `propagated(fp)` tells whether the CA with
 * that fingerprint has been in every webhook configuration's caBundle for the bundle delay.
 */
export function planRotation(
  data: SecretData,
  settings: RotationSettings,
  now: Date,
  propagated: (caFingerprint: string) => boolean,
): RotationPlan {
  const notes: string[] = [];
  const t = now.getTime();
  const wakeUps: number[] = [t + MAX_RECHECK_MS];
  let cas = trustedCas(data, now, notes);
  let signer = signingCa(data, cas, notes);
  let caKeyPem = signer?.keyPem;
  if (signer === undefined || t >= signer.cert.validToDate.getTime() - settings.caRenewBeforeMs) {
    if (signer !== undefined)
      notes.push(`CA ${describe(signer.cert)} is due for renewal: a new CA joins ca.crt`);
    else if (data['ca.crt'] === undefined && data['ca.key'] === undefined)
      notes.push('no CA yet: a new CA is made');
    const made: PemPair = createCertificateAuthority(settings.caName, {
      notBefore: new Date(t - backdate(settings.caValidityMs)),
      notAfter: new Date(t + settings.caValidityMs),
    });
    const fresh = parseCertificates(made.certPem, 'new CA')[0] as X509Certificate;
    signer = { cert: fresh, pem: made.certPem, keyPem: made.keyPem };
    caKeyPem = made.keyPem;
  }
  const current = signer;
  cas = [current, ...cas.filter((c) => c.cert.fingerprint256 !== current.cert.fingerprint256)];
  wakeUps.push(current.cert.validToDate.getTime() - settings.caRenewBeforeMs);
  for (const old of cas.slice(1)) wakeUps.push(old.cert.validToDate.getTime());

  // The serving certificate: checked as a replica checks it, against the CAs kept above.
  const bundlePem = cas.map((c) => c.pem).join('');
  let serving = {
    certPem: data['tls.crt']?.toString('utf8') ?? '',
    keyPem: data['tls.key']?.toString('utf8') ?? '',
  };
  let problem: string | undefined;
  let leaf: X509Certificate | undefined;
  try {
    checkServingPair({ ...data, 'ca.crt': Buffer.from(bundlePem) }, settings.hosts, now);
    leaf = parseCertificates(serving.certPem, 'tls.crt')[0];
  } catch (err) {
    problem = (err as Error).message;
  }
  const signerReady = propagated(certificateFingerprint(current.cert));
  let issue: string | undefined;
  if (leaf === undefined) issue = problem;
  else if (!issuedBy(leaf, current.cert)) {
    if (signerReady) issue = `tls.crt ${describe(leaf)} is re-signed by the new CA ${describe(current.cert)}`;
  } else if (t >= leaf.validToDate.getTime() - settings.certRenewBeforeMs) {
    if (signerReady) issue = `tls.crt ${describe(leaf)} is due for renewal`;
  } else {
    wakeUps.push(leaf.validToDate.getTime() - settings.certRenewBeforeMs);
  }
  if (leaf !== undefined && issue === undefined && !signerReady) wakeUps.push(t + settings.bundleDelayMs);
  if (issue !== undefined) {
    notes.push(issue);
    serving = issueServingCertificate({ certPem: current.pem, keyPem: current.keyPem }, settings.hosts, {
      notBefore: new Date(t - backdate(settings.certValidityMs)),
      notAfter: new Date(Math.min(t + settings.certValidityMs, current.cert.validToDate.getTime())),
    });
    const renewed = parseCertificates(serving.certPem, 'new tls.crt')[0] as X509Certificate;
    wakeUps.push(renewed.validToDate.getTime() - settings.certRenewBeforeMs);
  }

  const next: Record<SecretKey, string> = {
    'ca.crt': bundlePem,
    'ca.key': caKeyPem ?? '',
    'tls.crt': serving.certPem,
    'tls.key': serving.keyPem,
  };
  const unchanged = SECRET_KEYS.every((k) => (data[k]?.toString('utf8') ?? '') === next[k]);
  return {
    write: unchanged ? undefined : next,
    caBundle: bundlePem,
    cas: cas.map((c) => certificateFingerprint(c.cert)),
    notes,
    nextCheck: new Date(Math.max(t + MIN_RECHECK_MS, Math.min(...wakeUps))),
  };
}
