import { BaseError } from '../errors.ts';

export type DockerReferenceErrorCode =
  | 'NAME_EMPTY'
  | 'NAME_CONTAINS_UPPERCASE'
  | 'NAME_TOO_LONG'
  | 'NAME_NOT_CANONICAL'
  | 'NAME_IS_IDENTIFIER'
  | 'REFERENCE_INVALID_FORMAT'
  | 'REFERENCE_TOO_LONG'
  | 'TAG_INVALID_FORMAT'
  | 'DIGEST_INVALID_FORMAT'
  | 'DIGEST_INVALID_LENGTH'
  | 'DIGEST_UNSUPPORTED'
  | 'PATTERN_INVALID';

export class DockerReferenceError extends BaseError<DockerReferenceErrorCode> {}
