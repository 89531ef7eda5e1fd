import { BaseError } from '../errors.ts';

export type ManifestErrorCode =
  /** Not JSON, wrong field types, missing or malformed required fields. */
  | 'MANIFEST_INVALID'
  /** Fields of another manifest format are present (upstream "rejecting ambiguous manifest"). */
  | 'MANIFEST_AMBIGUOUS'
  /** The MIME type (declared or guessed) is not one this module handles for the operation. */
  | 'MANIFEST_UNSUPPORTED_TYPE'
  | 'MANIFEST_TOO_LARGE'
  /** A schema1 JWS signature block that cannot be parsed, so the payload cannot be recovered. */
  | 'MANIFEST_SIGNATURE_INVALID'
  /** A list/index was given where a single image manifest was expected, or the reverse. */
  | 'MANIFEST_KIND_MISMATCH'
  | 'NO_MATCHING_PLATFORM'
  /** An image-only operation (inspect, conversion) on an OCI artifact. */
  | 'MANIFEST_NOT_AN_IMAGE'
  /** The target format cannot express what the source holds (layer types, compression, encryption). */
  | 'MANIFEST_CONVERSION_UNSUPPORTED'
  /** A layer update asks for a compression the format cannot represent (retry another format). */
  | 'MANIFEST_LAYER_COMPRESSION_INCOMPATIBLE'
  /** updateLayerInfos got a different number of layers than the manifest has. */
  | 'MANIFEST_LAYER_COUNT_MISMATCH'
  /** The image configuration blob is not valid JSON of the expected shape. */
  | 'CONFIG_INVALID'
  /** The config blob given does not hash to the manifest's config digest. */
  | 'CONFIG_DIGEST_MISMATCH';

export class ManifestError extends BaseError<ManifestErrorCode> {}
