import { BaseError } from '../errors.ts';

export type SignatureErrorCode =
  /** A policy file could not be read. */
  | 'POLICY_FILE_UNREADABLE'
  /** A simple-signing blob is not a valid, trusted "atomic container signature". */
  | 'SIGNATURE_INVALID'
  /** Signature or key material over its size cap. */
  | 'SIGNATURE_TOO_LARGE'
  /** Key material that is not an OpenPGP key (ring) or has no usable key. */
  | 'KEY_INVALID'
  /** A signing key named by fingerprint is not in the keyring. */
  | 'KEY_NOT_FOUND'
  /** The secret key could not be unlocked or used. */
  | 'SIGNING_FAILED'
  /** A valid signature by a key the requirement does not trust. */
  | 'SIGNATURE_KEY_NOT_ACCEPTED'
  /** The signature names another manifest digest. */
  | 'SIGNATURE_DIGEST_MISMATCH'
  /** The signature's docker-reference is not accepted by signedIdentity. */
  | 'SIGNATURE_IDENTITY_REJECTED'
  /** The manifest digest could not be computed (e.g. broken schema1 JWS). */
  | 'MANIFEST_DIGEST_FAILED';

/** Errors of the signature layer that are not policy.json format errors (those are JsonError). */
export class SignatureError extends BaseError<SignatureErrorCode> {}
