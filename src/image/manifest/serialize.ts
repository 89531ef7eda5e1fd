// Manifests and lists written as containers/image writes them (Go struct field order).
import { ManifestError } from './errors.ts';
import { goMap, goMarshal } from './gojson.ts';
import {
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from './mediatypes.ts';
import type { Descriptor, ImagePlatform, Manifest, ManifestList } from './types.ts';

const nonEmpty = <T>(items: readonly T[] | undefined): readonly T[] | undefined =>
  items === undefined || items.length === 0 ? undefined : items;

function schema2Descriptor(d: Descriptor): object {
  return { mediaType: d.mediaType, size: d.size, digest: d.digest, urls: nonEmpty(d.urls) };
}

function ociPlatform(p: ImagePlatform): object {
  return {
    architecture: p.architecture,
    os: p.os,
    'os.version': p.osVersion || undefined,
    'os.features': nonEmpty(p.osFeatures),
    variant: p.variant || undefined,
  };
}

function ociDescriptor(d: Descriptor): object {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    urls: nonEmpty(d.urls),
    annotations: goMap(d.annotations),
    data: d.data || undefined,
    platform: d.platform === undefined ? undefined : ociPlatform(d.platform),
    artifactType: d.artifactType || undefined,
  };
}

/** The manifest's JSON. Schema1 is not written (it needs a JWS signature): MANIFEST_CONVERSION_UNSUPPORTED. */
export function serializeManifest(m: Manifest): Uint8Array {
  switch (m.kind) {
    case 'schema2':
      return Buffer.from(
        goMarshal({
          schemaVersion: 2,
          mediaType: DOCKER_V2_SCHEMA2_MEDIA_TYPE,
          config: schema2Descriptor(m.config),
          layers: m.layers.map(schema2Descriptor),
        }),
      );
    case 'oci':
      return Buffer.from(
        goMarshal({
          schemaVersion: 2,
          mediaType: m.hasMediaTypeField ? OCI_MANIFEST_MEDIA_TYPE : undefined,
          artifactType: m.artifactType || undefined,
          config: ociDescriptor(m.config),
          layers: m.layers.map(ociDescriptor),
          subject: m.subject === undefined ? undefined : ociDescriptor(m.subject),
          annotations: goMap(m.annotations),
        }),
      );
    case 'schema1':
      throw new ManifestError(
        'MANIFEST_CONVERSION_UNSUPPORTED',
        'writing schema1 manifests is not supported',
      );
    default:
      throw new ManifestError('MANIFEST_UNSUPPORTED_TYPE', 'serializing manifest: unknown kind');
  }
}

export function serializeList(list: ManifestList): Uint8Array {
  switch (list.kind) {
    case 'docker-list':
      return Buffer.from(
        goMarshal({
          schemaVersion: 2,
          mediaType: DOCKER_V2_LIST_MEDIA_TYPE,
          manifests: list.instances.map((i) => ({
            ...schema2Descriptor(i),
            platform: {
              ...ociPlatform(i.platform ?? { os: '', architecture: '' }),
              features: nonEmpty(i.platform?.features),
            },
          })),
        }),
      );
    case 'oci-index':
      return Buffer.from(
        goMarshal({
          schemaVersion: 2,
          mediaType: OCI_INDEX_MEDIA_TYPE,
          artifactType: list.artifactType || undefined,
          manifests: list.instances.map(ociDescriptor),
          subject: list.subject === undefined ? undefined : ociDescriptor(list.subject),
          annotations: goMap(list.annotations),
        }),
      );
    default:
      throw new ManifestError('MANIFEST_UNSUPPORTED_TYPE', 'serializing manifest list: unknown kind');
  }
}
