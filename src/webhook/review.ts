// AdmissionReview admission.k8s.io/v1: the request we accept and the response we give.
import { BaseError, truncate } from '../image/index.ts';

export type WebhookErrorCode =
  | 'REVIEW_INVALID'
  | 'BODY_TOO_LARGE'
  | 'MEDIA_TYPE_UNSUPPORTED'
  /** A certificate, key or CA bundle that cannot serve (garbage, wrong names, foreign CA, expired). */
  | 'TLS_INVALID'
  | 'INTERNAL';

export class WebhookError extends BaseError<WebhookErrorCode> {}

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** The default body limit: two objects at etcd's 1.5 MiB each (UPDATE) plus the review envelope. */
export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

/** The longest status message an answer carries (kubectl prints it after "denied the request: "). */
export const STATUS_MESSAGE_MAX = 4096;
/** The API server's uids are UUIDs; a longer one is not from an API server and is not echoed. */
const UID_MAX = 128;

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly subResource: string;
  readonly operation: string;
  readonly namespace: string;
  readonly name: string;
  readonly dryRun: boolean;
  readonly object: unknown;
  readonly oldObject: unknown;
}

export interface Status {
  readonly code: number;
  readonly message: string;
  readonly reason?: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: Status;
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
  readonly patchType?: 'JSONPatch';
  readonly patch?: string;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(record: Record<string, unknown>, key: string, where: string): string {
  const value = record[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') {
    throw new WebhookError('REVIEW_INVALID', `${where}.${key}: expected a string, got ${typeof value}`);
  }
  return value;
}

/** The uid of whatever was sent, when it has one: lets even a rejection of bad input name its request. */
export function salvageUid(body: unknown): string {
  if (!isRecord(body) || !isRecord(body.request)) return '';
  const uid = body.request.uid;
  return typeof uid === 'string' && uid.length <= UID_MAX ? uid : '';
}

/** Validates the envelope strictly; the object itself is examined by the image extractor. */
export function parseReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) {
    throw new WebhookError(
      'REVIEW_INVALID',
      `admission review: expected a JSON object, got ${describe(body)}`,
    );
  }
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== 'AdmissionReview') {
    throw new WebhookError(
      'REVIEW_INVALID',
      `admission review: expected apiVersion ${ADMISSION_API_VERSION} and kind AdmissionReview, got ${shown(body.apiVersion)} and ${shown(body.kind)}`,
    );
  }
  const request = body.request;
  if (!isRecord(request)) {
    throw new WebhookError(
      'REVIEW_INVALID',
      `admission review: expected a request object, got ${describe(request)}`,
    );
  }
  const uid = optionalString(request, 'uid', 'request');
  if (uid === '') throw new WebhookError('REVIEW_INVALID', 'admission review: request.uid is missing');
  if (uid.length > UID_MAX) {
    throw new WebhookError(
      'REVIEW_INVALID',
      `admission review: request.uid: expected at most ${UID_MAX} characters, got ${uid.length}`,
    );
  }
  const kind = request.kind;
  if (!isRecord(kind) || typeof kind.kind !== 'string' || kind.kind === '') {
    throw new WebhookError('REVIEW_INVALID', 'admission review: request.kind.kind is missing');
  }
  const operation = optionalString(request, 'operation', 'request');
  if (operation === '')
    throw new WebhookError('REVIEW_INVALID', 'admission review: request.operation is missing');
  const dryRun = request.dryRun;
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') {
    throw new WebhookError(
      'REVIEW_INVALID',
      `admission review: request.dryRun: expected a boolean, got ${describe(dryRun)}`,
    );
  }
  return {
    uid,
    kind: {
      group: optionalString(kind, 'group', 'request.kind'),
      version: optionalString(kind, 'version', 'request.kind'),
      kind: kind.kind,
    },
    subResource: optionalString(request, 'subResource', 'request'),
    operation,
    namespace: optionalString(request, 'namespace', 'request'),
    name: optionalString(request, 'name', 'request'),
    dryRun: dryRun === true,
    object: request.object ?? undefined,
    oldObject: request.oldObject ?? undefined,
  };
}

/** A short JSON rendering of a value the request sent where it should not have. */
function shown(value: unknown): string {
  return truncate(JSON.stringify(value ?? null), 64);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

export function reviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

/** The answer to a request we could not read: never admitted, and shaped as the API server expects. */
export function rejection(uid: string, code: number, message: string): AdmissionReviewResponse {
  return reviewResponse({
    uid,
    allowed: false,
    status: {
      code,
      message: truncate(message, STATUS_MESSAGE_MAX),
      reason: code === 413 ? 'RequestEntityTooLarge' : 'BadRequest',
    },
  });
}
