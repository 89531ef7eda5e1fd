import { BaseError } from '../../errors.ts';

/**
 * Distribution error codes (from the registry's error JSON) plus what the client itself detects.
 * `temporary` failures (5xx, 429, resets, timeouts) are the only ones retried.
 */
export type DockerErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DENIED'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'TOOMANYREQUESTS'
  | 'UNAUTHORIZED'
  | 'UNSUPPORTED'
  | 'SERVER_ERROR'
  | 'HTTP_ERROR'
  | 'BAD_RESPONSE'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'TLS_ERROR'
  | 'TOO_LARGE'
  | 'SHORT_BODY'
  | 'DIGEST_MISMATCH'
  | 'REDIRECT_LOOP'
  | 'AUTH_FAILED'
  | 'REFERENCE_INVALID'
  | 'BLOCKED'
  /** This process's own request budget for the registry is spent until after the deadline. */
  | 'BUDGET_EXHAUSTED'
  | 'INSECURE_NOT_ALLOWED'
  | 'SIGNATURE_INVALID'
  | 'NOT_SUPPORTED';

const distributionCodes: ReadonlySet<string> = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DENIED',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'TOOMANYREQUESTS',
  'UNAUTHORIZED',
  'UNSUPPORTED',
]);

/** A registry's "no such manifest or repository": what a puller answers with "not found". */
export function isManifestAbsent(err: unknown): boolean {
  return err instanceof DockerError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN');
}

export function isDistributionCode(code: string): code is DockerErrorCode {
  return distributionCodes.has(code);
}

export class DockerError extends BaseError<DockerErrorCode> {
  /** The HTTP status, when the error came from a response. */
  readonly status: number | undefined;
  /** True when repeating the same request may succeed. */
  readonly temporary: boolean;
  /** Seconds the server asked us to wait (Retry-After), if any. */
  readonly retryAfter: number | undefined;

  constructor(
    code: DockerErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; temporary?: boolean; retryAfter?: number } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.temporary = options.temporary ?? false;
    this.retryAfter = options.retryAfter;
  }
}
