// The docker transport's errors and the translation of what registries and the network answer
// into them.
import { BaseError } from '../../errors.ts';
import { truncate } from '../../text.ts';
import type { HttpResponse } from './http.ts';

/** How much of an error body is read. */
export const MAX_ERROR_BODY = 64 << 10;
/** How much of a registry's error code and message an error repeats. */
const ERROR_DETAIL_MAX = 240;

/**
 * What a registry answered: the codes of the Distribution error JSON, spelled as the registry
 * sends them (distribution-spec "Error Codes", plus Docker Hub's TOOMANYREQUESTS).
 */
const DISTRIBUTION_CODES = [
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
] as const;
export type DistributionErrorCode = (typeof DISTRIBUTION_CODES)[number];

/**
 * What the client decided: an answer without a Distribution code (classified by its status),
 * a network or TLS failure, a bound exceeded, a check failed, or an operation this transport or
 * its configuration cannot do (OPERATION_NOT_POSSIBLE).
 */
export type ClientErrorCode =
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
  /** Background work found the request budget down to the reserve it leaves to admissions. */
  | 'BUDGET_RESERVED'
  | 'INSECURE_NOT_ALLOWED'
  | 'SIGNATURE_INVALID'
  | 'OPERATION_NOT_POSSIBLE';

/** `temporary` failures (5xx, 429, resets, timeouts) are the only ones retried. */
export type DockerErrorCode = DistributionErrorCode | ClientErrorCode;

const distributionCodes: ReadonlySet<string> = new Set(DISTRIBUTION_CODES);

/** A registry's "no such manifest or repository": what a puller answers with "not found". */
export function isManifestAbsent(err: unknown): boolean {
  return err instanceof DockerError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN');
}

function isDistributionCode(code: string): code is DistributionErrorCode {
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

/** Parses a Retry-After value (seconds or HTTP date) into seconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * The typed error of a registry's non-2xx answer to `what`, from its status, headers and the
 * first bytes of its body (at most MAX_ERROR_BODY): the Distribution error JSON's code when it has
 * one, else one the status implies (`notFound` for a 404 whose body does not say).
 */
export function registryError(
  res: Pick<HttpResponse, 'status' | 'headers'>,
  body: Buffer,
  what: string,
  notFound?: DockerErrorCode,
): DockerError {
  const retryAfter = parseRetryAfter(res.headers['retry-after']);
  const temporary = res.status >= 500 || res.status === 429 || res.status === 408;
  const ctype = res.headers['content-type'] ?? '';
  let code: DockerErrorCode | undefined;
  let detail = '';
  if (ctype.includes('json') || body[0] === 0x7b) {
    try {
      const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
      const first = doc.errors?.[0];
      if (first !== undefined && typeof first.code === 'string') {
        if (isDistributionCode(first.code)) code = first.code;
        detail = truncate(
          `${first.code}${typeof first.message === 'string' ? `: ${first.message}` : ''}`,
          ERROR_DETAIL_MAX,
        );
      }
    } catch {
      // not JSON after all: classified by status below
    }
  }
  if (code === undefined) {
    if (res.status === 401) code = 'UNAUTHORIZED';
    else if (res.status === 403) code = 'DENIED';
    else if (res.status === 404) code = notFound ?? 'NAME_UNKNOWN';
    else if (res.status === 429) code = 'TOOMANYREQUESTS';
    else if (res.status >= 500) code = 'SERVER_ERROR';
    else code = 'HTTP_ERROR';
    if (/^\s*</.test(body.toString('utf8', 0, 64))) detail = 'HTML error page';
  }
  const suffix = detail === '' ? '' : ` (${detail})`;
  return new DockerError(code, `${what}: status ${res.status}${suffix}`, {
    status: res.status,
    temporary,
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  });
}

/**
 * What an operation fails with when its caller's signal aborted (whatever the signal's reason):
 * TIMEOUT, and not temporary, since the caller no longer waits.
 */
export function abortError(where: string, cause?: unknown): DockerError {
  return new DockerError('TIMEOUT', `${where}: aborted`, cause === undefined ? {} : { cause });
}

/** An abort by a signal, as undici and Node report it (`abort()`, `AbortSignal.timeout()`). */
function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

const timeoutCodes: ReadonlySet<string> = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Maps undici/network failures of the exchange `where` (its URL without a query) onto typed errors. */
export function networkError(err: unknown, where: string): DockerError {
  if (err instanceof DockerError) return err;
  if (err instanceof Error && timeoutCodes.has((err as { code?: unknown }).code as string)) {
    return new DockerError('TIMEOUT', `${where}: ${err.message}`, { cause: err, temporary: true });
  }
  if (isAbort(err)) return abortError(where, err);
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    // What OpenSSL says when the server speaks plain HTTP; skopeo says it in words too.
    return new DockerError(
      'TLS_ERROR',
      `${where}: the registry answered in plain HTTP, not TLS (plain HTTP is used only with --tls-verify=false or insecure = true in registries.conf)`,
      { cause: err },
    );
  }
  if (
    typeof code === 'string' &&
    (tlsErrorCodes.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'))
  ) {
    // A certificate problem will not go away by retrying.
    return new DockerError('TLS_ERROR', `${where}: ${message}`, { cause: err });
  }
  return new DockerError('NETWORK', `${where}: ${message}`, { cause: err, temporary: true });
}

const tlsErrorCodes: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'EPROTO',
]);

/** A failure while reading a response body: a timeout, or a body cut short. */
export function bodyError(err: unknown, what: string): DockerError {
  if (err instanceof DockerError) return err;
  if (isAbort(err)) return abortError(what, err);
  if (err instanceof Error && (err as { code?: unknown }).code === 'UND_ERR_BODY_TIMEOUT') {
    return new DockerError('TIMEOUT', `${what}: ${err.message}`, { cause: err, temporary: true });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new DockerError('SHORT_BODY', `${what}: body ended early: ${message}`, {
    cause: err,
    temporary: true,
  });
}
