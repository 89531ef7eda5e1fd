import { BaseError } from '../../errors.ts';

export type SigstoreErrorCode =
  /** The requirement's trust material is unusable (bad PEM, wrong key type, unreadable file). */
  | 'SIGSTORE_TRUST_INVALID'
  /** Not a cosign image signature (an attestation, another attachment, an empty referrer). */
  | 'SIGSTORE_NOT_A_SIGNATURE'
  | 'SIGSTORE_MISSING_SIGNATURE_ANNOTATION'
  | 'SIGSTORE_SIGNATURE_ENCODING'
  /** No trusted key (or certificate key) verifies the signature over the payload. */
  | 'SIGSTORE_SIGNATURE_INVALID'
  | 'SIGSTORE_MISSING_BUNDLE_ANNOTATION'
  /** The Rekor SET annotation is not the expected JSON. */
  | 'SIGSTORE_SET_MALFORMED'
  /** No trusted Rekor key signed the SET. */
  | 'SIGSTORE_SET_SIGNATURE_INVALID'
  /** The SET is valid but records another key, signature or payload. */
  | 'SIGSTORE_SET_ENTRY_MISMATCH'
  | 'SIGSTORE_MISSING_CERTIFICATE_ANNOTATION'
  | 'SIGSTORE_CERTIFICATE_MALFORMED'
  /** No chain to a trusted root at the verification time. */
  | 'SIGSTORE_CERTIFICATE_UNTRUSTED'
  | 'SIGSTORE_CERTIFICATE_USAGE'
  | 'SIGSTORE_OIDC_ISSUER_MISMATCH'
  | 'SIGSTORE_SUBJECT_MISMATCH'
  | 'SIGSTORE_PAYLOAD_INVALID'
  | 'SIGSTORE_DIGEST_MISMATCH'
  | 'SIGSTORE_IDENTITY_MISMATCH'
  /** The signature names no docker reference (it binds only the digest) and the policy wants one. */
  | 'SIGSTORE_IDENTITY_MISSING'
  | 'SIGSTORE_BUNDLE_INVALID'
  | 'SIGSTORE_BUNDLE_TOO_LARGE'
  | 'SIGSTORE_PRIVATE_KEY_INVALID'
  | 'SIGSTORE_PASSPHRASE_WRONG'
  | 'SIGSTORE_JSON_INVALID'
  /** A DSSE envelope that is not one (no payload, no signatures, bad base64). */
  | 'SIGSTORE_ENVELOPE_INVALID'
  /** A DSSE payload type other than in-toto's. */
  | 'SIGSTORE_PAYLOAD_TYPE'
  /** A DSSE payload that is not an in-toto statement. */
  | 'SIGSTORE_STATEMENT_INVALID'
  /** A statement (or the envelope or bundle holding it) over the size cap. */
  | 'SIGSTORE_STATEMENT_TOO_LARGE'
  /** A statement nested deeper than allowed. */
  | 'SIGSTORE_STATEMENT_TOO_DEEP'
  /** A verified attestation whose statement's subjects do not name the image's digest. */
  | 'SIGSTORE_STATEMENT_SUBJECT_MISMATCH'
  /** A verified statement of another predicate type than the one required. */
  | 'SIGSTORE_PREDICATE_TYPE_MISMATCH'
  /** A bundle that signs a message, not a DSSE statement: a signature, not an attestation. */
  | 'SIGSTORE_NOT_AN_ATTESTATION';

/** Every rejection of a sigstore signature; `code` says why, the message says exactly what. */
export class SigstoreError extends BaseError<SigstoreErrorCode> {}
