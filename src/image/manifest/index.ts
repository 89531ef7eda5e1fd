// Manifests: parsing, validation, digests, platform choice, inspection and conversion.
export { manifestDigest, matchesDigest, schema1SignedPayload } from './digest.ts';
export { ManifestError, type ManifestErrorCode } from './errors.ts';
export { guessMIMEType } from './guess.ts';
export { CONFIG_SIZE_MAX, MANIFEST_SIZE_MAX } from './json.ts';
export * from './mediatypes.ts';
export { parseList, parseManifest, SCHEMA2_LAYER_MEDIA_TYPES } from './parse.ts';
export {
  type ChooseInstanceOptions,
  chooseInstance,
  formatPlatform,
  hostPlatform,
  normalizeArchitecture,
  type WantedPlatform,
  wantedPlatforms,
} from './platform.ts';
export type {
  Descriptor,
  ImagePlatform,
  LayerInfo,
  ListInstance,
  Manifest,
  ManifestList,
  OCIManifest,
  Schema1Manifest,
  Schema1V1Compatibility,
  Schema2Manifest,
} from './types.ts';
