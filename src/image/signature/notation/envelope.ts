// What JWS and COSE envelopes have in common once decoded, and the integrity checks of the Notary
// Project signature specification that do not depend on the format: critical headers, signing
// scheme and times, content type, the algorithm the signing key dictates, the primitive
// signature, and the certificate requirements on the chain.
import { constants, type KeyObject, verify } from 'node:crypto';
import { type Certificate, knownCertificate, parseCertificateDerCached } from '../sigstore/x509.ts';
import { validateCodeSigningChain } from './certs.ts';
import { NotationError } from './errors.ts';

export const JWS_MEDIA_TYPE = 'application/jose+json';
export const COSE_MEDIA_TYPE = 'application/cose';
export const PAYLOAD_MEDIA_TYPE = 'application/vnd.cncf.notary.payload.v1+json';
/** Envelopes larger than this are rejected before parsing (notation-go: 10 MiB is its blob cap). */
export const MAX_ENVELOPE_BYTES = 256 << 10;
/** Certificates in an envelope's chain, at most. */
export const MAX_CHAIN_LENGTH = 10;
export const MAX_CERTIFICATE_BYTES = 16 << 10;

export const HEADER_SIGNING_SCHEME = 'io.cncf.notary.signingScheme';
export const HEADER_SIGNING_TIME = 'io.cncf.notary.signingTime';
export const HEADER_AUTHENTIC_SIGNING_TIME = 'io.cncf.notary.authenticSigningTime';
export const HEADER_EXPIRY = 'io.cncf.notary.expiry';
export const HEADER_TIMESTAMP_SIGNATURE = 'io.cncf.notary.timestampSignature';
export const HEADER_SIGNING_AGENT = 'io.cncf.notary.signingAgent';
const PLUGIN_HEADERS = new Set([
  'io.cncf.notary.verificationPlugin',
  'io.cncf.notary.verificationPluginMinVersion',
]);
/** Critical headers this verifier processes. */
const UNDERSTOOD = new Set([
  HEADER_SIGNING_SCHEME,
  HEADER_SIGNING_TIME,
  HEADER_AUTHENTIC_SIGNING_TIME,
  HEADER_EXPIRY,
]);

export type SigningScheme = 'notary.x509' | 'notary.x509.signingAuthority';
export type SignatureAlgorithm = 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';

/** A decoded envelope, before any check: what the format-specific parsers produce. */
export interface DecodedEnvelope {
  readonly format: 'jws' | 'cose';
  readonly algorithm: SignatureAlgorithm;
  readonly contentType: unknown;
  /** Protected header names listed in `crit` (COSE integer labels as numbers). */
  readonly critical: readonly (string | number)[];
  /** Names of every protected header present. */
  readonly protectedNames: ReadonlySet<string | number>;
  readonly signingScheme: unknown;
  readonly signingTime: Date | undefined;
  readonly authenticSigningTime: Date | undefined;
  readonly expiry: Date | undefined;
  /** DER certificates, leaf first: bytes, or (JWS) their standard base64, decoded when needed. */
  readonly certificates: readonly (Uint8Array | string)[];
  readonly signature: Uint8Array;
  /** The bytes the primitive signature covers (JWS signing input, COSE Sig_structure). */
  readonly signed: Uint8Array;
  readonly payload: Uint8Array;
  readonly timestampToken: Uint8Array | undefined;
  readonly signingAgent: string | undefined;
}

/** An envelope that passed the integrity checks. */
export interface EnvelopeContent {
  readonly format: 'jws' | 'cose';
  readonly algorithm: SignatureAlgorithm;
  readonly signingScheme: SigningScheme;
  /** The signing time (notary.x509) or the authentic signing time (signingAuthority). */
  readonly signingTime: Date;
  readonly expiry: Date | undefined;
  /** Leaf first, root last. */
  readonly chain: readonly Certificate[];
  readonly signature: Uint8Array;
  readonly payload: Uint8Array;
  readonly timestampToken: Uint8Array | undefined;
  readonly signingAgent: string | undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Der(value: string, i: number): Buffer {
  if (value.length > (MAX_CERTIFICATE_BYTES * 4) / 3 + 4)
    throw new NotationError(
      'NOTATION_TOO_LARGE',
      `certificate ${i}: larger than ${MAX_CERTIFICATE_BYTES} bytes`,
    );
  if (!BASE64.test(value)) throw malformed('signature envelope', `certificate ${i} is not base64`);
  return Buffer.from(value, 'base64');
}

export function malformed(what: string, detail: string, cause?: unknown): NotationError {
  return new NotationError('NOTATION_ENVELOPE_MALFORMED', `${what}: ${detail}`, { cause });
}

const HASH_OF: Record<SignatureAlgorithm, string> = {
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
};
const HASH_BYTES: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

export function hashOf(alg: SignatureAlgorithm): string {
  return HASH_OF[alg];
}

/** The one algorithm the specification allows for a key (Algorithm Selection), if any. */
export function algorithmForKey(key: KeyObject): SignatureAlgorithm | undefined {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') {
    switch (d?.modulusLength) {
      case 2048:
        return 'PS256';
      case 3072:
        return 'PS384';
      case 4096:
        return 'PS512';
      default:
        return undefined;
    }
  }
  if (key.asymmetricKeyType === 'ec') {
    switch (d?.namedCurve) {
      case 'prime256v1':
        return 'ES256';
      case 'secp384r1':
        return 'ES384';
      case 'secp521r1':
        return 'ES512';
      default:
        return undefined;
    }
  }
  return undefined;
}

// X509Certificate.publicKey builds a new KeyObject at every access.
const publicKeys = new WeakMap<Certificate, KeyObject>();
export function publicKeyOf(cert: Certificate): KeyObject {
  let key = publicKeys.get(cert);
  if (key === undefined) {
    key = cert.x509.publicKey;
    publicKeys.set(cert, key);
  }
  return key;
}

/** Verifies a JWS/COSE primitive signature: RSASSA-PSS (salt = hash length) or raw r||s ECDSA. */
export function verifyPrimitive(
  alg: SignatureAlgorithm,
  key: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  const hash = HASH_OF[alg];
  try {
    return alg.startsWith('PS')
      ? verify(
          hash,
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_BYTES[hash] },
          signature,
        )
      : verify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

function checkCritical(e: DecodedEnvelope, scheme: SigningScheme): void {
  const crit = e.critical;
  if (crit.length === 0) throw new NotationError('NOTATION_CRITICAL_HEADER', 'missing "crit" header');
  for (const name of crit) {
    if (typeof name === 'string' && PLUGIN_HEADERS.has(name)) {
      throw new NotationError(
        'NOTATION_PLUGIN_REQUIRED',
        `the signature requires a verification plugin (critical header ${name}); plugins are not supported`,
      );
    }
    if (typeof name !== 'string' || !UNDERSTOOD.has(name)) {
      throw new NotationError(
        'NOTATION_CRITICAL_HEADER',
        `unknown critical header ${JSON.stringify(name).slice(0, 100)}`,
      );
    }
    if (!e.protectedNames.has(name))
      throw new NotationError(
        'NOTATION_CRITICAL_HEADER',
        `header ${name} is marked critical but not present`,
      );
  }
  const mustBeCritical = [
    HEADER_SIGNING_SCHEME,
    ...(e.expiry !== undefined ? [HEADER_EXPIRY] : []),
    ...(scheme === 'notary.x509.signingAuthority' ? [HEADER_AUTHENTIC_SIGNING_TIME] : []),
  ];
  const missing = mustBeCritical.filter((h) => !crit.includes(h));
  if (missing.length > 0) {
    throw new NotationError(
      'NOTATION_CRITICAL_HEADER',
      `required headers not marked critical: ${missing.join(', ')}`,
    );
  }
}

function schemeAndTime(e: DecodedEnvelope): { scheme: SigningScheme; time: Date } {
  const scheme = e.signingScheme;
  if (scheme !== 'notary.x509' && scheme !== 'notary.x509.signingAuthority') {
    throw new NotationError(
      'NOTATION_SIGNING_SCHEME',
      `unsupported signing scheme ${JSON.stringify(scheme)?.slice(0, 100)}`,
    );
  }
  const [own, other] =
    scheme === 'notary.x509'
      ? [e.signingTime, e.authenticSigningTime]
      : [e.authenticSigningTime, e.signingTime];
  const [ownName, otherName] =
    scheme === 'notary.x509'
      ? [HEADER_SIGNING_TIME, HEADER_AUTHENTIC_SIGNING_TIME]
      : [HEADER_AUTHENTIC_SIGNING_TIME, HEADER_SIGNING_TIME];
  if (other !== undefined)
    throw malformed('signature envelope', `${otherName} must not be present for signing scheme ${scheme}`);
  if (own === undefined)
    throw malformed('signature envelope', `${ownName} must be present for signing scheme ${scheme}`);
  return { scheme, time: own };
}

/**
 * The integrity checks on a decoded envelope (notation-core-go's Envelope.Verify): failures are
 * always enforced, whatever the verification level.
 */
export function verifyDecodedEnvelope(e: DecodedEnvelope): EnvelopeContent {
  const { scheme, time } = schemeAndTime(e);
  checkCritical(e, scheme);
  if (e.expiry !== undefined && e.expiry.getTime() <= time.getTime())
    throw malformed('signature envelope', 'expiry must be after the signing time');
  if (e.contentType !== PAYLOAD_MEDIA_TYPE) {
    throw new NotationError(
      'NOTATION_PAYLOAD_INVALID',
      `unsupported payload content type ${JSON.stringify(e.contentType)?.slice(0, 100)}`,
    );
  }
  if (e.certificates.length === 0) throw malformed('signature envelope', 'certificate chain is not present');
  if (e.certificates.length > MAX_CHAIN_LENGTH) {
    throw new NotationError(
      'NOTATION_CHAIN_INVALID',
      `expected at most ${MAX_CHAIN_LENGTH} certificates in the chain, got ${e.certificates.length}`,
    );
  }
  const chain = e.certificates.map((encoded, i) => {
    // The signer's chain comes with every signature: a known one is neither decoded nor parsed.
    const known = typeof encoded === 'string' ? knownCertificate(encoded) : undefined;
    if (known !== undefined) return known;
    const der = typeof encoded === 'string' ? base64Der(encoded, i) : encoded;
    if (der.byteLength > MAX_CERTIFICATE_BYTES)
      throw new NotationError(
        'NOTATION_TOO_LARGE',
        `certificate ${i}: larger than ${MAX_CERTIFICATE_BYTES} bytes`,
      );
    try {
      return parseCertificateDerCached(der, `certificate ${i}`);
    } catch (err) {
      throw new NotationError('NOTATION_CHAIN_INVALID', (err as Error).message, { cause: err });
    }
  });
  const key = publicKeyOf(chain[0]!);
  const keyAlg = algorithmForKey(key);
  if (keyAlg === undefined) {
    throw new NotationError(
      'NOTATION_ALGORITHM',
      `signing certificate key (${key.asymmetricKeyType}) is not one the specification allows`,
    );
  }
  if (keyAlg !== e.algorithm) {
    throw new NotationError(
      'NOTATION_ALGORITHM',
      `expected algorithm ${keyAlg} for the signing certificate's key, got ${e.algorithm}`,
    );
  }
  if (!verifyPrimitive(e.algorithm, key, e.signed, e.signature))
    throw new NotationError(
      'NOTATION_SIGNATURE_INVALID',
      'signature does not verify with the signing certificate',
    );
  validateCodeSigningChain(chain);
  return {
    format: e.format,
    algorithm: e.algorithm,
    signingScheme: scheme,
    signingTime: time,
    expiry: e.expiry,
    chain,
    signature: e.signature,
    payload: e.payload,
    timestampToken: e.timestampToken,
    signingAgent: e.signingAgent,
  };
}
