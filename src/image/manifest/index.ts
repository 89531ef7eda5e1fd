// Manifests: parsing, validation, digests, platform choice, inspection and conversion.
export {
  COMPRESSION_MAGIC_MAX,
  type Compression,
  canChangeLayerCompression,
  compressionOfMediaType,
  detectCompression,
  detectStreamCompression,
  layerMediaTypeWithCompression,
  mimeTypeSupportsCompression,
  type WritableCompression,
} from './compression.ts';
export {
  GO_ZERO_TIME,
  goTime,
  ociConfigFromConfig,
  ociConfigFromSchema1,
  schema2ConfigFromSchema1,
} from './config.ts';
export {
  type ConversionResult,
  type ConvertListOptions,
  type ConvertOptions,
  convertList,
  convertManifest,
  type LayerUpdate,
  updateLayerInfos,
} from './convert.ts';
export { manifestDigest, matchesDigest, schema1SignedPayload } from './digest.ts';
export { ManifestError, type ManifestErrorCode } from './errors.ts';
export { goMarshalIndent } from './gojson.ts';
export { guessMIMEType } from './guess.ts';
export {
  configInfo,
  type ImageInspectInfo,
  type ImageInspectLayer,
  type InspectIdentity,
  imageInspectInfo,
  layerInfos,
  skopeoInspectOutput,
} from './inspect.ts';
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
export { serializeList, serializeManifest } from './serialize.ts';
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
