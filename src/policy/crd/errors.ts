import { BaseError } from '../../image/index.ts';

export type CrdErrorCode =
  /** The object does not have the shape of a policy CRD (what the CRD schema would refuse). */
  | 'CRD_INVALID'
  /** A keySecretRef/keyConfigMapRef names a Secret or ConfigMap that does not exist. */
  | 'REF_NOT_FOUND'
  /** The referenced Secret or ConfigMap exists but lacks the named key. */
  | 'REF_KEY_NOT_FOUND'
  /** A reference cannot be resolved in this context (e.g. exporting without a cluster). */
  | 'REF_UNRESOLVED'
  /** The policy.json the CRD converts to is refused by the policy parser. */
  | 'POLICY_INVALID'
  /** A policy.json cannot be expressed as a CRD (e.g. a key file that cannot be read). */
  | 'EXPORT_FAILED';

/** Errors of the CRD <-> policy.json conversion; `field` is the offending path (`spec.default[0].keyData`). */
export class CrdError extends BaseError<CrdErrorCode> {
  readonly field: string | undefined;

  constructor(code: CrdErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(code, message, options);
    this.field = options?.field;
  }
}
