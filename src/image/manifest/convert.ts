// Conversions between manifest formats and layer updates after recompression (what the copy
// engine applies before writing a manifest), following containers/image's internal/image.
import { type Digest, digestAlgorithm, digestOf } from '../digest.ts';
import type { BlobInfo } from '../types.ts';
import { layerMediaTypeWithCompression, type WritableCompression } from './compression.ts';
import { ociConfigFromConfig, schema2ConfigFromSchema1 } from './config.ts';
import { ManifestError } from './errors.ts';
import {
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  isListMIMEType,
  OCI_CONFIG_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
  OCI_LAYER_GZIP_MEDIA_TYPE,
  OCI_LAYER_MEDIA_TYPE,
  OCI_LAYER_NONDISTRIBUTABLE_GZIP_MEDIA_TYPE,
  OCI_LAYER_NONDISTRIBUTABLE_MEDIA_TYPE,
  OCI_LAYER_ZSTD_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from './mediatypes.ts';
import { hostPlatform, type WantedPlatform } from './platform.ts';
import { serializeList, serializeManifest } from './serialize.ts';
import type {
  Descriptor,
  Manifest,
  ManifestList,
  OCIManifest,
  Schema1Manifest,
  Schema2Manifest,
} from './types.ts';

const schema2ToOCILayer: Readonly<Record<string, string>> = {
  [DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE]: OCI_LAYER_NONDISTRIBUTABLE_MEDIA_TYPE,
  [DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE]: OCI_LAYER_NONDISTRIBUTABLE_GZIP_MEDIA_TYPE,
  [DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE]: OCI_LAYER_MEDIA_TYPE,
  [DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE]: OCI_LAYER_GZIP_MEDIA_TYPE,
  [DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE]: OCI_LAYER_ZSTD_MEDIA_TYPE,
};
// zstd, encrypted and unknown types have no Docker equivalent.
const ociToSchema2Layer: Readonly<Record<string, string>> = {
  [OCI_LAYER_NONDISTRIBUTABLE_MEDIA_TYPE]: DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE,
  [OCI_LAYER_NONDISTRIBUTABLE_GZIP_MEDIA_TYPE]: DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
  [OCI_LAYER_MEDIA_TYPE]: DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
  [OCI_LAYER_GZIP_MEDIA_TYPE]: DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
};

export interface ConvertOptions {
  /** The source config blob; required from schema2 to OCI (the config is re-encoded). Verified against the manifest. */
  readonly config?: Uint8Array;
  /** Schema1 sources: uncompressed digests of every fsLayer, base first (empty layers included). */
  readonly diffIDs?: readonly Digest[];
  /** Schema1 sources: the layer blobs as written, base first; default: digests as listed, size -1. */
  readonly layers?: readonly BlobInfo[];
}

export interface ConversionResult {
  readonly manifest: Manifest;
  /** The serialized manifest to write, of type `mimeType`. */
  readonly bytes: Uint8Array;
  readonly mimeType: string;
  /** A config blob the conversion created, which the destination must receive before the manifest. */
  readonly config?: { readonly bytes: Uint8Array; readonly descriptor: Descriptor };
}

function unsupported(detail: string): ManifestError {
  return new ManifestError('MANIFEST_CONVERSION_UNSUPPORTED', `converting manifest: ${detail}`);
}

function withoutOCIOnly(d: Descriptor, mediaType: string): Descriptor {
  const out: { -readonly [K in keyof Descriptor]: Descriptor[K] } = {
    mediaType,
    digest: d.digest,
    size: d.size,
  };
  if (d.urls !== undefined) out.urls = d.urls;
  return out;
}

function ociToSchema2(m: OCIManifest): Schema2Manifest {
  if (m.config.mediaType !== OCI_CONFIG_MEDIA_TYPE) {
    throw new ManifestError(
      'MANIFEST_NOT_AN_IMAGE',
      m.config.mediaType === DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE
        ? `invalid mixed OCI image with Docker v2s2 config (${JSON.stringify(m.config.mediaType)})`
        : `unsupported image-specific operation on artifact with type ${JSON.stringify(m.artifactType || m.config.mediaType)}`,
    );
  }
  return {
    kind: 'schema2',
    mimeType: DOCKER_V2_SCHEMA2_MEDIA_TYPE,
    config: withoutOCIOnly(m.config, DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE),
    layers: m.layers.map((l) => {
      const mediaType = ociToSchema2Layer[l.mediaType];
      if (mediaType === undefined) {
        throw unsupported(
          `layer ${l.digest}: media type ${JSON.stringify(l.mediaType)} is not supported in docker images`,
        );
      }
      return withoutOCIOnly(l, mediaType);
    }),
  };
}

function schema2ToOCI(
  m: Schema2Manifest,
  sourceConfig: Uint8Array,
): { manifest: OCIManifest; config: Uint8Array } {
  const config = ociConfigFromConfig(sourceConfig);
  return {
    manifest: {
      kind: 'oci',
      mimeType: OCI_MANIFEST_MEDIA_TYPE,
      hasMediaTypeField: true,
      config: { mediaType: OCI_CONFIG_MEDIA_TYPE, digest: digestOf(config), size: config.byteLength },
      layers: m.layers.map((l) => {
        const mediaType = schema2ToOCILayer[l.mediaType];
        if (mediaType === undefined)
          throw unsupported(`unknown layer media type ${JSON.stringify(l.mediaType)}`);
        return withoutOCIOnly(l, mediaType);
      }),
    },
    config,
  };
}

function schema1ToSchema2(
  m: Schema1Manifest,
  options: ConvertOptions,
): { manifest: Schema2Manifest; config: Uint8Array } {
  const count = m.fsLayers.length;
  const { diffIDs, layers } = options;
  if (diffIDs === undefined) throw unsupported('schema1 images need the diffIDs of their layers');
  if (diffIDs.length !== count)
    throw unsupported(`got ${diffIDs.length} diffIDs for ${count} schema1 layers`);
  if (layers !== undefined && layers.length !== count) {
    throw unsupported(`got ${layers.length} layer updates for ${count} schema1 layers`);
  }
  const kept: Descriptor[] = [];
  const keptDiffIDs: Digest[] = [];
  // fsLayers and v1Compatibility are newest first; schema2 lists the base layer first.
  for (let i = 0; i < count; i++) {
    const v1Index = count - 1 - i;
    if (m.v1Compatibility[v1Index]?.throwaway === true) continue;
    const uploaded = layers?.[i];
    kept.push({
      mediaType: DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
      size: uploaded?.size ?? -1,
      digest: uploaded?.digest ?? m.fsLayers[v1Index]!.blobSum,
    });
    keptDiffIDs.push(diffIDs[i]!);
  }
  const config = schema2ConfigFromSchema1(m, keptDiffIDs);
  return {
    manifest: {
      kind: 'schema2',
      mimeType: DOCKER_V2_SCHEMA2_MEDIA_TYPE,
      config: {
        mediaType: DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE,
        size: config.byteLength,
        digest: digestOf(config),
      },
      layers: kept,
    },
    config,
  };
}

function result(manifest: Schema2Manifest | OCIManifest, config?: Uint8Array): ConversionResult {
  const out = { manifest, bytes: serializeManifest(manifest), mimeType: manifest.mimeType };
  return config === undefined ? out : { ...out, config: { bytes: config, descriptor: manifest.config } };
}

function verifiedConfig(m: Schema2Manifest, options: ConvertOptions): Uint8Array {
  if (options.config === undefined)
    throw unsupported('the source config blob is needed to convert schema2 to OCI');
  if (digestOf(options.config, digestAlgorithm(m.config.digest)) !== m.config.digest) {
    throw new ManifestError(
      'CONFIG_DIGEST_MISMATCH',
      `converting manifest: config blob does not match ${m.config.digest}`,
    );
  }
  return options.config;
}

/**
 * `m` as a `targetMIMEType` manifest (upstream convertToManifestOCI1 / convertToManifestSchema2):
 * schema2 <-> OCI, schema1 -> schema2/OCI. Writing schema1 is not supported. Converting to the
 * same type re-serializes; callers that need the original digest keep the original bytes.
 */
export function convertManifest(
  m: Manifest,
  targetMIMEType: string,
  options: ConvertOptions = {},
): ConversionResult {
  if (isListMIMEType(targetMIMEType)) {
    throw new ManifestError(
      'MANIFEST_KIND_MISMATCH',
      `cannot convert an image manifest to list type ${targetMIMEType}`,
    );
  }
  if (targetMIMEType !== DOCKER_V2_SCHEMA2_MEDIA_TYPE && targetMIMEType !== OCI_MANIFEST_MEDIA_TYPE) {
    throw unsupported(`to ${JSON.stringify(targetMIMEType)} is not supported`);
  }
  switch (m.kind) {
    case 'schema2': {
      if (targetMIMEType === DOCKER_V2_SCHEMA2_MEDIA_TYPE) return result(m);
      const converted = schema2ToOCI(m, verifiedConfig(m, options));
      return result(converted.manifest, converted.config);
    }
    case 'oci':
      return result(targetMIMEType === OCI_MANIFEST_MEDIA_TYPE ? m : ociToSchema2(m));
    case 'schema1': {
      const s2 = schema1ToSchema2(m, options);
      if (targetMIMEType === DOCKER_V2_SCHEMA2_MEDIA_TYPE) return result(s2.manifest, s2.config);
      const oci = schema2ToOCI(s2.manifest, s2.config);
      return result(oci.manifest, oci.config);
    }
    default:
      throw unsupported('unknown manifest kind');
  }
}

/** A layer as written: its digest and size, and its compression when it changed. */
export interface LayerUpdate extends BlobInfo {
  /** The compression of the written blob; undefined = unchanged from the original layer. */
  readonly compression?: WritableCompression;
}

/**
 * `m` with its layers replaced, base first (upstream UpdateLayerInfos). Media types follow the
 * new compression; unset annotations/urls keep the original layer's. Throws
 * MANIFEST_LAYER_COUNT_MISMATCH, MANIFEST_LAYER_COMPRESSION_INCOMPATIBLE (e.g. zstd in schema2).
 */
export function updateLayerInfos(m: Manifest, updates: readonly LayerUpdate[]): Manifest {
  const count = m.kind === 'schema1' ? m.fsLayers.length : m.layers.length;
  if (updates.length !== count) {
    throw new ManifestError(
      'MANIFEST_LAYER_COUNT_MISMATCH',
      `preparing updated manifest: layer count changed from ${count} to ${updates.length}`,
    );
  }
  const mediaTypeFor = (original: string, u: LayerUpdate): string =>
    u.compression === undefined
      ? original
      : layerMediaTypeWithCompression(m.mimeType, original, u.compression);
  switch (m.kind) {
    case 'schema1': {
      for (const u of updates) mediaTypeFor(DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE, u);
      return { ...m, fsLayers: updates.map((u) => ({ blobSum: u.digest })).toReversed() };
    }
    case 'schema2':
    case 'oci': {
      const layers = m.layers.map((original, i) => {
        const u = updates[i]!;
        const d: { -readonly [K in keyof Descriptor]: Descriptor[K] } = {
          ...original,
          mediaType: mediaTypeFor(original.mediaType, u),
          digest: u.digest,
          size: u.size,
        };
        if (u.urls !== undefined) d.urls = u.urls;
        if (u.annotations !== undefined && m.kind === 'oci') d.annotations = u.annotations;
        return d;
      });
      return { ...m, layers };
    }
    default:
      throw new ManifestError('MANIFEST_UNSUPPORTED_TYPE', 'updating layers: unknown manifest kind');
  }
}

export interface ConvertListOptions {
  /** The platform given to OCI entries without one when writing a Docker list; default hostPlatform() (as upstream). */
  readonly host?: WantedPlatform;
}

/** A Docker list as an OCI index or the reverse (upstream ToOCI1Index / ToSchema2List). */
export function convertList(
  list: ManifestList,
  targetMIMEType: string,
  options: ConvertListOptions = {},
): {
  readonly list: ManifestList;
  readonly bytes: Uint8Array;
} {
  let out: ManifestList;
  if (targetMIMEType === OCI_INDEX_MEDIA_TYPE) {
    out =
      list.kind === 'oci-index'
        ? list
        : {
            kind: 'oci-index',
            mimeType: OCI_INDEX_MEDIA_TYPE,
            instances: list.instances.map(({ platform, ...rest }) => {
              if (platform === undefined) return rest;
              const { features: _dropped, ...ociPlatform } = platform;
              return { ...rest, platform: ociPlatform };
            }),
          };
  } else if (targetMIMEType === DOCKER_V2_LIST_MEDIA_TYPE) {
    const host = options.host ?? hostPlatform();
    out =
      list.kind === 'docker-list'
        ? list
        : {
            kind: 'docker-list',
            mimeType: DOCKER_V2_LIST_MEDIA_TYPE,
            instances: list.instances.map((i) => {
              const entry: { -readonly [K in keyof typeof i]: (typeof i)[K] } = {
                digest: i.digest,
                size: i.size,
                mediaType: i.mediaType,
                platform: i.platform ?? { os: host.os, architecture: host.architecture },
              };
              if (i.urls !== undefined) entry.urls = i.urls;
              return entry;
            }),
          };
  } else {
    throw new ManifestError(
      'MANIFEST_KIND_MISMATCH',
      `cannot convert a manifest list to MIME type ${JSON.stringify(targetMIMEType)}, which is not a list type`,
    );
  }
  return { list: out, bytes: serializeList(out) };
}
