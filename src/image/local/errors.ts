import { BaseError } from '../errors.ts';

export type LocalTransportErrorCode =
  | 'REFERENCE_INVALID'
  | 'SCOPE_INVALID'
  | 'IMAGE_NOT_FOUND'
  | 'BLOB_NOT_FOUND'
  | 'MORE_THAN_ONE_IMAGE'
  | 'NOT_IMAGE_DIRECTORY'
  | 'UNSUPPORTED_VERSION'
  | 'CORRUPT_IMAGE'
  | 'READ_ONLY'
  | 'NOT_SUPPORTED'
  | 'SIGNATURES_NOT_SUPPORTED'
  | 'LISTS_NOT_SUPPORTED'
  | 'MANIFEST_TYPE_REJECTED'
  | 'TOOL_MISSING'
  | 'TOO_LARGE'
  | 'NOT_COMMITTED';

/** Errors of the local (file-based) transports: dir, oci, oci-archive, docker-archive, sif, tarball. */
export class LocalTransportError extends BaseError<LocalTransportErrorCode> {}
