import { isObject, tryParseJson } from './json.ts';
import {
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  OCI_CONFIG_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from './mediatypes.ts';

const optional = (v: unknown, type: 'string' | 'number' | 'object'): boolean =>
  v === undefined || v === null || (type === 'object' ? isObject(v) : typeof v === type);

const stringArray = (v: unknown): boolean =>
  v === undefined || v === null || (Array.isArray(v) && v.every((s) => s === null || typeof s === 'string'));

const stringMap = (v: unknown): boolean =>
  v === undefined ||
  v === null ||
  (isObject(v) && Object.values(v).every((s) => s === null || typeof s === 'string'));

// Go's decoder fails the whole document when a descriptor field has the wrong JSON type.
function decodesAsDescriptor(d: unknown): boolean {
  if (d === null) return true;
  if (!isObject(d)) return false;
  const platform = d.platform;
  return (
    optional(d.mediaType, 'string') &&
    optional(d.digest, 'string') &&
    optional(d.size, 'number') &&
    (d.size === undefined || d.size === null || Number.isSafeInteger(d.size)) &&
    stringArray(d.urls) &&
    stringMap(d.annotations) &&
    optional(d.data, 'string') &&
    optional(d.artifactType, 'string') &&
    (platform === undefined ||
      platform === null ||
      (isObject(platform) &&
        optional(platform.architecture, 'string') &&
        optional(platform.os, 'string') &&
        optional(platform['os.version'], 'string') &&
        stringArray(platform['os.features']) &&
        optional(platform.variant, 'string')))
  );
}

/**
 * The manifest type the bytes look like, or "" when unrecognized; upstream's GuessMIMEType. This
 * is what tells signed schema1 apart, which manifestDigest needs.
 */
export function guessMIMEType(manifest: Uint8Array | string): string {
  const parsed = tryParseJson(manifest);
  if (parsed === undefined) return '';
  const meta = parsed.value;
  if (meta === null) return '';
  if (!isObject(meta)) return '';
  const { mediaType, schemaVersion, signatures } = meta;
  if (!optional(mediaType, 'string')) return '';
  if (schemaVersion !== undefined && schemaVersion !== null && !Number.isSafeInteger(schemaVersion))
    return '';
  switch (mediaType) {
    case DOCKER_V2_SCHEMA2_MEDIA_TYPE:
    case DOCKER_V2_LIST_MEDIA_TYPE:
    case OCI_MANIFEST_MEDIA_TYPE:
    case OCI_INDEX_MEDIA_TYPE:
      return mediaType;
  }
  switch (schemaVersion) {
    case 1:
      return signatures !== undefined && signatures !== null
        ? DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE
        : DOCKER_V2_SCHEMA1_MEDIA_TYPE;
    case 2: {
      // OCI image-spec < 1.0.2 had no mediaType field: look at the config, then for manifests.
      const config = meta.config;
      if (!optional(config, 'object')) return '';
      const configType = isObject(config) ? config.mediaType : undefined;
      if (!optional(configType, 'string')) return '';
      if (configType === OCI_CONFIG_MEDIA_TYPE) return OCI_MANIFEST_MEDIA_TYPE;
      if (configType === DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE) return DOCKER_V2_SCHEMA2_MEDIA_TYPE;
      const manifests = meta.manifests;
      if (manifests !== undefined && manifests !== null) {
        if (!Array.isArray(manifests) || !manifests.every(decodesAsDescriptor)) return '';
        if (manifests.length !== 0) {
          // Upstream returns the config type here (mixing manifest and config types); kept as is.
          return typeof configType === 'string' && configType !== '' ? configType : OCI_INDEX_MEDIA_TYPE;
        }
      }
      // Most likely an OCI artifact with a custom config type.
      return OCI_MANIFEST_MEDIA_TYPE;
    }
  }
  return '';
}
