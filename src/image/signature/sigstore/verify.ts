// Verification of one cosign-format signature against compiled trust, in containers/image's order:
// signature annotation, trust-specific checks (keys / keys+Rekor / Fulcio+Rekor / PKI), the
// signature over the payload, strict payload parsing, manifest digest, then identity.
import type { KeyObject } from 'node:crypto';
import type { Digest } from '../../digest.ts';
import type { Signature } from '../../types.ts';
import { SigstoreError } from './errors.ts';
import { decodeStdBase64 } from './json.ts';
import { checkKeyType, type PublicKey, verifyWithKey } from './keys.ts';
import { parseSigstorePayload, SIMPLE_SIGNING_MEDIA_TYPE, type SigstorePayload } from './payload.ts';
import { verifyRekorSet } from './rekor.ts';
import type { SigstoreTrust } from './trust.ts';
import {
  type Certificate,
  fulcioIssuer,
  matchesHostname,
  parseCertificatesPem,
  verifyCertificateChain,
} from './x509.ts';

export const ANNOTATION_SIGNATURE = 'dev.cosignproject.cosign/signature';
export const ANNOTATION_CERTIFICATE = 'dev.sigstore.cosign/certificate';
export const ANNOTATION_CHAIN = 'dev.sigstore.cosign/chain';
export const ANNOTATION_BUNDLE = 'dev.sigstore.cosign/bundle';
const MAX_PAYLOAD_BYTES = 4 << 20;
// RSA-4096 signatures are 512 bytes; anything near this is not a signature.
const MAX_SIGNATURE_CHARS = 16 << 10;

/** What the policy engine supplies: the image-relative checks containers/image does last. */
export interface SigstoreExpectations {
  /** True when `digest` identifies the image's manifest (containers/image's manifest.MatchesDigest). */
  matchesManifestDigest(digest: Digest): boolean | Promise<boolean>;
  /** True when the signed reference satisfies the requirement's signedIdentity. */
  matchesDockerReference(signedDockerReference: string): boolean | Promise<boolean>;
  /**
   * True when a signature naming no docker reference (a bundle's in-toto statement binds only
   * the digest) may pass the identity step; absent or false, such a signature is rejected.
   */
  readonly acceptsDigestOnly?: boolean;
  /** Verification time for bring-your-own PKI certificates; default: now. */
  readonly now?: Date;
}

export type SignerDescription =
  | { readonly kind: 'key'; readonly source: string }
  | {
      readonly kind: 'certificate';
      readonly emails: readonly string[];
      readonly uris: readonly string[];
      readonly issuer: string | undefined;
    };

export interface AcceptedSigstoreSignature {
  readonly payload: SigstorePayload;
  readonly signer: SignerDescription;
  /** Rekor integrated time (seconds) when a SET was verified. */
  readonly integratedTime?: number;
}

function annotation(sig: Extract<Signature, { format: 'sigstore-json' }>, name: string): string | undefined {
  return Object.hasOwn(sig.annotations, name) ? sig.annotations[name] : undefined;
}

function requireAnnotation(
  sig: Extract<Signature, { format: 'sigstore-json' }>,
  name: string,
  code: SigstoreError['code'],
): string {
  const v = annotation(sig, name);
  if (v === undefined) throw new SigstoreError(code, `missing ${name} annotation`);
  return v;
}

function singleCertificate(pem: string, context: string): Certificate {
  const certs = parseCertificatesPem(pem, context);
  if (certs.length !== 1) {
    throw new SigstoreError(
      'SIGSTORE_CERTIFICATE_MALFORMED',
      `${context}: expected one certificate, got ${certs.length}`,
    );
  }
  return certs[0]!;
}

function chainIntermediates(sig: Extract<Signature, { format: 'sigstore-json' }>): Certificate[] {
  const chain = annotation(sig, ANNOTATION_CHAIN);
  if (chain === undefined) return [];
  // The last certificate of the chain is its root, which only the policy may trust.
  return parseCertificatesPem(chain, `parsing ${ANNOTATION_CHAIN} annotation`).slice(0, -1);
}

function certificateKey(cert: Certificate): KeyObject {
  const key = cert.x509.publicKey;
  try {
    checkKeyType(key, 'certificate public key');
  } catch (err) {
    throw new SigstoreError('SIGSTORE_CERTIFICATE_MALFORMED', (err as Error).message, { cause: err });
  }
  return key;
}

function describeCertificate(cert: Certificate, issuer: string | undefined): SignerDescription {
  return { kind: 'certificate', emails: cert.san.emails, uris: cert.san.uris, issuer };
}

interface Established {
  readonly key: KeyObject;
  readonly signer: SignerDescription;
  readonly integratedTime?: number;
  /** The signature over the payload was already checked while choosing the key. */
  readonly signatureVerified?: boolean;
}

function establishKeys(
  trust: Extract<SigstoreTrust, { kind: 'keys' }>,
  sig: Extract<Signature, { format: 'sigstore-json' }>,
  signature: Uint8Array,
): Established {
  if (trust.rekorKeys === undefined) {
    const key = trust.keys.find((k) => verifyWithKey(k.key, sig.payload, signature));
    if (key === undefined) throw invalidSignature(trust.keys);
    return { key: key.key, signer: { kind: 'key', source: key.source }, signatureVerified: true };
  }
  const set = requireAnnotation(sig, ANNOTATION_BUNDLE, 'SIGSTORE_MISSING_BUNDLE_ANNOTATION');
  let firstError: unknown;
  for (const key of trust.keys) {
    try {
      const verified = verifyRekorSet(trust.rekorKeys, set, key.spki, signature, sig.payload);
      return {
        key: key.key,
        signer: { kind: 'key', source: key.source },
        integratedTime: verified.integratedTime,
      };
    } catch (err) {
      // A malformed or forged SET fails the same way for every key; a mismatch may be key-specific.
      if (!(err instanceof SigstoreError) || err.code !== 'SIGSTORE_SET_ENTRY_MISMATCH') throw err;
      firstError ??= err;
    }
  }
  throw firstError ?? invalidSignature(trust.keys);
}

function invalidSignature(keys: readonly PublicKey[]): SigstoreError {
  return new SigstoreError(
    'SIGSTORE_SIGNATURE_INVALID',
    `cryptographic signature verification failed: not signed by any of ${keys.length} trusted keys`,
  );
}

function establishFulcio(
  trust: Extract<SigstoreTrust, { kind: 'fulcio' }>,
  sig: Extract<Signature, { format: 'sigstore-json' }>,
  signature: Uint8Array,
): Established {
  const certPem = requireAnnotation(sig, ANNOTATION_CERTIFICATE, 'SIGSTORE_MISSING_CERTIFICATE_ANNOTATION');
  const cert = singleCertificate(certPem, `parsing ${ANNOTATION_CERTIFICATE} annotation`);
  const intermediates = [...trust.intermediates, ...chainIntermediates(sig)];
  const set = requireAnnotation(sig, ANNOTATION_BUNDLE, 'SIGSTORE_MISSING_BUNDLE_ANNOTATION');
  const { integratedTime } = verifyRekorSet(trust.rekorKeys, set, cert.der, signature, sig.payload);
  // Fulcio certificates live minutes; the transparency log vouches for when the signing happened.
  verifyCertificateChain(cert, { roots: trust.roots, intermediates, at: new Date(integratedTime * 1000) });
  const issuer = checkFulcioIdentity(trust, cert, 'fulcio certificate');
  return { key: certificateKey(cert), signer: describeCertificate(cert, issuer), integratedTime };
}

/** The OIDC issuer and subject checks shared by attachments and bundles; returns the issuer. */
export function checkFulcioIdentity(
  trust: Extract<SigstoreTrust, { kind: 'fulcio' }>,
  cert: Certificate,
  context: string,
): string {
  const issuer = fulcioIssuer(cert);
  if (issuer === undefined || !trust.issuer.matches([issuer])) {
    throw new SigstoreError(
      'SIGSTORE_OIDC_ISSUER_MISMATCH',
      `${context}: expected oidc issuer ${trust.issuer.description}, got ${issuer === undefined ? 'no issuer extension' : JSON.stringify(issuer)}`,
    );
  }
  const subjects = trust.subject.includesUris ? [...cert.san.emails, ...cert.san.uris] : cert.san.emails;
  if (!trust.subject.matches(subjects)) {
    throw new SigstoreError(
      'SIGSTORE_SUBJECT_MISMATCH',
      `${context}: expected subject ${trust.subject.description}, got ${JSON.stringify(subjects)}`,
    );
  }
  return issuer;
}

/** containers/image's last two steps: the signed digest, then the signed identity. */
export async function checkPayloadBinding(
  payload: SigstorePayload,
  expectations: SigstoreExpectations,
): Promise<void> {
  if (!(await expectations.matchesManifestDigest(payload.dockerManifestDigest))) {
    throw new SigstoreError(
      'SIGSTORE_DIGEST_MISMATCH',
      `signature for digest ${payload.dockerManifestDigest} does not match the image manifest`,
    );
  }
  if (!(await expectations.matchesDockerReference(payload.dockerReference))) {
    throw new SigstoreError(
      'SIGSTORE_IDENTITY_MISMATCH',
      `signature for identity ${JSON.stringify(payload.dockerReference)} is not accepted`,
    );
  }
}

function establishPki(
  trust: Extract<SigstoreTrust, { kind: 'pki' }>,
  sig: Extract<Signature, { format: 'sigstore-json' }>,
  now: Date,
): Established {
  const certPem = requireAnnotation(sig, ANNOTATION_CERTIFICATE, 'SIGSTORE_MISSING_CERTIFICATE_ANNOTATION');
  const cert = singleCertificate(certPem, `parsing ${ANNOTATION_CERTIFICATE} annotation`);
  const intermediates = [...trust.intermediates, ...chainIntermediates(sig)];
  verifyCertificateChain(cert, { roots: trust.roots, intermediates, at: now });
  if (trust.subjectEmail !== undefined && !cert.san.emails.includes(trust.subjectEmail)) {
    throw new SigstoreError(
      'SIGSTORE_SUBJECT_MISMATCH',
      `pki certificate: expected email ${JSON.stringify(trust.subjectEmail)}, got ${JSON.stringify(cert.san.emails)}`,
    );
  }
  if (trust.subjectHostname !== undefined && !matchesHostname(cert, trust.subjectHostname)) {
    throw new SigstoreError(
      'SIGSTORE_SUBJECT_MISMATCH',
      `pki certificate: not valid for host ${JSON.stringify(trust.subjectHostname)} (dns names ${JSON.stringify(cert.san.dnsNames)})`,
    );
  }
  return { key: certificateKey(cert), signer: describeCertificate(cert, undefined) };
}

function decodeSignature(text: string): Uint8Array {
  if (text.length > MAX_SIGNATURE_CHARS) {
    throw new SigstoreError(
      'SIGSTORE_SIGNATURE_ENCODING',
      `${ANNOTATION_SIGNATURE} annotation: longer than ${MAX_SIGNATURE_CHARS} characters`,
    );
  }
  const bytes = decodeStdBase64(text);
  if (bytes === undefined) {
    throw new SigstoreError(
      'SIGSTORE_SIGNATURE_ENCODING',
      `${ANNOTATION_SIGNATURE} annotation: invalid base64`,
    );
  }
  return bytes;
}

/**
 * The trust-specific checks of one cosign attachment, then its signature over `sig.payload` (the
 * bytes signed: a simple-signing payload, or a DSSE envelope's pre-authentication encoding).
 * Returns who signed; the payload itself is not interpreted.
 */
export function verifyAttachmentSigner(
  trust: SigstoreTrust,
  sig: Extract<Signature, { format: 'sigstore-json' }>,
  now: Date,
): { readonly signer: SignerDescription; readonly integratedTime?: number } {
  const signature = decodeSignature(
    requireAnnotation(sig, ANNOTATION_SIGNATURE, 'SIGSTORE_MISSING_SIGNATURE_ANNOTATION'),
  );
  let established: Established;
  switch (trust.kind) {
    case 'keys':
      established = establishKeys(trust, sig, signature);
      break;
    case 'fulcio':
      established = establishFulcio(trust, sig, signature);
      break;
    case 'pki':
      established = establishPki(trust, sig, now);
      break;
    default:
      throw new SigstoreError('SIGSTORE_TRUST_INVALID', 'unknown trust kind');
  }
  if (!established.signatureVerified && !verifyWithKey(established.key, sig.payload, signature)) {
    throw new SigstoreError('SIGSTORE_SIGNATURE_INVALID', 'cryptographic signature verification failed');
  }
  const { signer, integratedTime } = established;
  return integratedTime === undefined ? { signer } : { signer, integratedTime };
}

/**
 * Verifies one signature. Resolves with what was accepted; rejects with a SigstoreError whose code
 * says why. Never resolves for a signature that is not fully verified.
 */
export async function verifySigstoreSignature(
  trust: SigstoreTrust,
  sig: Signature,
  expectations: SigstoreExpectations,
): Promise<AcceptedSigstoreSignature> {
  if (sig.format !== 'sigstore-json') {
    throw new SigstoreError('SIGSTORE_NOT_A_SIGNATURE', `expected a sigstore signature, got ${sig.format}`);
  }
  if (sig.mimeType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    throw new SigstoreError(
      'SIGSTORE_NOT_A_SIGNATURE',
      `unsupported sigstore attachment mime type ${JSON.stringify(sig.mimeType)}`,
    );
  }
  if (sig.payload.length > MAX_PAYLOAD_BYTES) {
    throw new SigstoreError('SIGSTORE_PAYLOAD_INVALID', `payload larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }
  const { signer, integratedTime } = verifyAttachmentSigner(trust, sig, expectations.now ?? new Date());
  const payload = parseSigstorePayload(sig.payload);
  await checkPayloadBinding(payload, expectations);
  return integratedTime === undefined ? { payload, signer } : { payload, signer, integratedTime };
}
