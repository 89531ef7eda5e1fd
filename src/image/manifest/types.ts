import type { Digest } from '../digest.ts';
import type { BlobInfo } from '../types.ts';
import type { ListMIMEType } from './mediatypes.ts';

/** A layer as listed by a manifest, base layer first. */
export interface LayerInfo extends BlobInfo {
  /** A schema1 "throwaway" entry: history only, its blob is the empty tar. Always false elsewhere. */
  readonly emptyLayer: boolean;
}

/** A descriptor as OCI manifests and indexes write it (mediaType is required there). */
export interface Descriptor extends BlobInfo {
  readonly mediaType: string;
  readonly artifactType?: string;
  /** Base64 embedded content (OCI 1.1 `data`), kept verbatim. */
  readonly data?: string;
  /**
   * OCI descriptors may carry a platform; in lists it is what instance choice matches. Always set
   * in Docker lists, optional in OCI indexes (an entry without one matches any platform).
   */
  readonly platform?: ImagePlatform;
}

/** The v1Compatibility fields of a schema1 history entry that upstream reads. */
export interface Schema1V1Compatibility {
  readonly id: string;
  readonly parent?: string;
  readonly comment?: string;
  readonly created?: string;
  readonly author?: string;
  readonly throwaway: boolean;
  readonly containerConfigCmd?: readonly string[];
}

export interface Schema1Manifest {
  readonly kind: 'schema1';
  readonly mimeType: string;
  readonly name: string;
  readonly tag: string;
  readonly architecture: string;
  /** As in the manifest: newest layer first, consecutive duplicate IDs removed (upstream fixManifestLayers). */
  readonly fsLayers: readonly { readonly blobSum: Digest }[];
  /** Raw v1Compatibility strings, same order and length as fsLayers. */
  readonly history: readonly { readonly v1Compatibility: string }[];
  readonly v1Compatibility: readonly Schema1V1Compatibility[];
}

export interface Schema2Manifest {
  readonly kind: 'schema2';
  readonly mimeType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export interface OCIManifest {
  readonly kind: 'oci';
  readonly mimeType: string;
  /** Whether the document carried `mediaType` (image-spec < 1.0.2 omitted it). */
  readonly hasMediaTypeField: boolean;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A single-image manifest, discriminated by `kind`. */
export type Manifest = Schema1Manifest | Schema2Manifest | OCIManifest;

/** os/architecture/variant plus the OCI extras, as list and index entries carry them. */
export interface ImagePlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly osVersion?: string;
  readonly osFeatures?: readonly string[];
  /** Docker lists only; dropped by OCI (as upstream). */
  readonly features?: readonly string[];
}

/** An entry of a manifest list or index. */
export type ListInstance = Descriptor;

export interface ManifestList {
  readonly kind: 'docker-list' | 'oci-index';
  readonly mimeType: ListMIMEType;
  readonly instances: readonly ListInstance[];
  /** OCI index only. */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly subject?: Descriptor;
  readonly artifactType?: string;
}
