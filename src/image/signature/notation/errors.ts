import { BaseError } from '../../errors.ts';

export type NotationErrorCode =
  /** The requirement's trust material or verification settings are unusable. */
  | 'NOTATION_TRUST_INVALID'
  /** An envelope, a timestamp token or a referrer is larger than its bound. */
  | 'NOTATION_TOO_LARGE'
  /** The envelope's media type is neither application/jose+json nor application/cose. */
  | 'NOTATION_UNSUPPORTED_ENVELOPE'
  /** The envelope does not parse (JSON, CBOR, base64, header types). */
  | 'NOTATION_ENVELOPE_MALFORMED'
  /** `crit` lists a header this verifier does not process, or omits one that must be critical. */
  | 'NOTATION_CRITICAL_HEADER'
  /** The signature names a verification plugin, which this verifier does not run. */
  | 'NOTATION_PLUGIN_REQUIRED'
  | 'NOTATION_SIGNING_SCHEME'
  /** `alg` is unsupported or does not match the signing certificate's key. */
  | 'NOTATION_ALGORITHM'
  /** The primitive signature does not verify (integrity). */
  | 'NOTATION_SIGNATURE_INVALID'
  | 'NOTATION_PAYLOAD_INVALID'
  /** The payload's target artifact is not the image (digest, size or media type). */
  | 'NOTATION_DIGEST_MISMATCH'
  /** The envelope's certificate chain breaks the Notary Project certificate requirements. */
  | 'NOTATION_CHAIN_INVALID'
  /** No certificate of the chain is in the trust store (authenticity). */
  | 'NOTATION_UNTRUSTED'
  /** The signing certificate's subject matches no trusted identity. */
  | 'NOTATION_IDENTITY_MISMATCH'
  /** The signature's expiry time has passed. */
  | 'NOTATION_EXPIRED'
  /** A certificate was not valid at the verification, timestamp or authentic signing time. */
  | 'NOTATION_CERTIFICATE_EXPIRED'
  | 'NOTATION_TIMESTAMP_INVALID'
  /** A certificate names OCSP or CRL endpoints, which are never contacted (revocation unknown). */
  | 'NOTATION_REVOCATION_UNKNOWN';

/** Every rejection of a Notation signature; `code` says why, the message says exactly what. */
export class NotationError extends BaseError<NotationErrorCode> {}
