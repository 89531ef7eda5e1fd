// What `skopeo inspect` reports about an image, from its manifest and config.
import { type Digest, digestAlgorithm, digestOf } from '../digest.ts';
import { configReader, GO_ZERO_TIME, type ImageConfigSummary, summarizeConfig } from './config.ts';
import { ManifestError } from './errors.ts';
import { DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE, OCI_CONFIG_MEDIA_TYPE } from './mediatypes.ts';
import type { Descriptor, LayerInfo, Manifest } from './types.ts';

/** The config blob of an image; undefined for schema1, which has none. */
export function configInfo(m: Manifest): Descriptor | undefined {
  return m.kind === 'schema1' ? undefined : m.config;
}

/** The layers, base first; schema1 throwaway entries included (marked emptyLayer), as upstream. */
export function layerInfos(m: Manifest): LayerInfo[] {
  if (m.kind === 'schema1') {
    return m.fsLayers
      .map((l, i) => ({ digest: l.blobSum, size: -1, emptyLayer: m.v1Compatibility[i]?.throwaway ?? false }))
      .toReversed();
  }
  return m.layers.map((l) => ({ ...l, emptyLayer: false }));
}

/** types.ImageInspectLayer, with Go's JSON field names. */
export interface ImageInspectLayer {
  readonly MIMEType: string;
  readonly Digest: Digest;
  readonly Size: number;
  readonly Annotations: Readonly<Record<string, string>> | null;
}

/** types.ImageInspectInfo: nulls where Go has nil pointers, maps and slices. */
export interface ImageInspectInfo {
  readonly Tag: string;
  readonly Created: string | null;
  readonly DockerVersion: string;
  readonly Labels: Readonly<Record<string, string>> | null;
  readonly Architecture: string;
  readonly Variant: string;
  readonly Os: string;
  readonly Layers: readonly string[];
  readonly LayersData: readonly ImageInspectLayer[];
  readonly Env: readonly string[] | null;
  readonly Author: string;
}

function notAnImage(m: Manifest & { kind: 'oci' }): ManifestError {
  const type = m.artifactType || m.config.mediaType;
  return new ManifestError(
    'MANIFEST_NOT_AN_IMAGE',
    type === DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE
      ? `invalid mixed OCI image with Docker v2s2 config (${JSON.stringify(type)})`
      : `unsupported image-specific operation on artifact with type ${JSON.stringify(type)}`,
  );
}

/**
 * The information `skopeo inspect` prints for an image (upstream Manifest.Inspect). `config` is the
 * config blob for schema2/OCI (verified against the manifest), unused for schema1, whose newest
 * v1Compatibility entry plays that role. OCI artifacts: MANIFEST_NOT_AN_IMAGE.
 */
export function imageInspectInfo(m: Manifest, config?: Uint8Array): ImageInspectInfo {
  let summary: ImageConfigSummary;
  let created: string | null;
  switch (m.kind) {
    case 'schema1': {
      const top = m.history[0]?.v1Compatibility ?? '{}';
      summary = summarizeConfig(configReader('inspecting schema1 image: v1Compatibility', top));
      created = summary.created ?? GO_ZERO_TIME;
      break;
    }
    case 'schema2':
    case 'oci': {
      if (m.kind === 'oci' && m.config.mediaType !== OCI_CONFIG_MEDIA_TYPE) throw notAnImage(m);
      if (config === undefined) {
        throw new ManifestError(
          'CONFIG_INVALID',
          `inspecting image: the config blob ${m.config.digest} is needed`,
        );
      }
      if (digestOf(config, digestAlgorithm(m.config.digest)) !== m.config.digest) {
        throw new ManifestError(
          'CONFIG_DIGEST_MISMATCH',
          `inspecting image: config blob does not match ${m.config.digest}`,
        );
      }
      summary = summarizeConfig(configReader(`inspecting image: config ${m.config.digest}`, config));
      // Docker configs decode into a time.Time (zero when absent), OCI ones into a *time.Time.
      created = summary.created ?? (m.kind === 'schema2' ? GO_ZERO_TIME : null);
      break;
    }
    default:
      throw new ManifestError('MANIFEST_UNSUPPORTED_TYPE', 'inspecting image: unknown manifest kind');
  }
  const layers = layerInfos(m);
  return {
    Tag: m.kind === 'schema1' ? m.tag : '',
    Created: created,
    DockerVersion: summary.dockerVersion ?? '',
    Labels: summary.labels ?? null,
    Architecture: summary.architecture ?? '',
    Variant: summary.variant ?? '',
    Os: summary.os ?? '',
    Layers: layers.map((l) => l.digest),
    LayersData: layers.map((l) => ({
      MIMEType: l.mediaType ?? '',
      Digest: l.digest,
      Size: l.size,
      Annotations: l.annotations ?? null,
    })),
    Env: summary.env ?? null,
    Author: summary.author ?? '',
  };
}

/** What identifies the image in `skopeo inspect` output besides the inspect info. */
export interface InspectIdentity {
  /** The docker reference name, without tag or digest; omitted when empty. */
  readonly name?: string;
  readonly digest: Digest;
  /** Tags of the repository; [] for transports without tags. */
  readonly repoTags: readonly string[];
}

/** `skopeo inspect` JSON output object (skopeo inspect.Output), fields in skopeo's order. */
export function skopeoInspectOutput(
  identity: InspectIdentity,
  info: ImageInspectInfo,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (identity.name !== undefined && identity.name !== '') out.Name = identity.name;
  if (info.Tag !== '') out.Tag = info.Tag;
  return {
    ...out,
    Digest: identity.digest,
    RepoTags: identity.repoTags,
    Created: info.Created,
    DockerVersion: info.DockerVersion,
    Labels: info.Labels,
    Architecture: info.Architecture,
    Os: info.Os,
    Layers: info.Layers,
    LayersData: info.LayersData,
    Env: info.Env,
  };
}
