// MIME types of manifests, configs and layers (Docker distribution and OCI image-spec), as
// containers/image names them.

export const DOCKER_V2_SCHEMA1_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE =
  'application/vnd.docker.distribution.manifest.v1+prettyjws';
export const DOCKER_V2_SCHEMA2_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_V2_LIST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_V2_SCHEMA2_CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar';
/** Not in the Docker spec, but seen in the wild; upstream supports it partially. */
export const DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.zstd';
export const DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE =
  'application/vnd.docker.image.rootfs.foreign.diff.tar';
export const DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE =
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const OCI_DESCRIPTOR_MEDIA_TYPE = 'application/vnd.oci.descriptor.v1+json';
export const OCI_LAYOUT_HEADER_MEDIA_TYPE = 'application/vnd.oci.layout.header.v1+json';
export const OCI_LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** Deprecated by image-spec 1.1, still found in pre-existing (Windows) images. */
export const OCI_LAYER_NONDISTRIBUTABLE_MEDIA_TYPE =
  'application/vnd.oci.image.layer.nondistributable.v1.tar';
export const OCI_LAYER_NONDISTRIBUTABLE_GZIP_MEDIA_TYPE =
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
export const OCI_LAYER_NONDISTRIBUTABLE_ZSTD_MEDIA_TYPE =
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';
/** ocicrypt encrypted layers. */
export const OCI_LAYER_ENCRYPTED_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+encrypted';
export const OCI_LAYER_GZIP_ENCRYPTED_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted';

/** The OCI 1.1 empty descriptor: the two bytes `{}`. */
export const OCI_EMPTY_JSON_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const OCI_EMPTY_JSON_DIGEST =
  'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
export const OCI_EMPTY_JSON_SIZE = 2;

/** cosign's payload layers ("simple signing" JSON) in `sha256-<hex>.sig` images. */
export const COSIGN_SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGSTORE_BUNDLE_V01_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.1';
export const SIGSTORE_BUNDLE_V02_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.2';
export const SIGSTORE_BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** Annotation upstream sets on zstd instances of an OCI index (used by instance choice). */
export const OCI_INSTANCE_ZSTD_ANNOTATION = 'io.github.containers.compression.zstd';

/**
 * The manifest types a source requests (HTTP Accept) unless told otherwise: every type this module
 * parses, in upstream's order (DefaultRequestedManifestMIMETypes).
 */
export const DEFAULT_REQUESTED_MANIFEST_MIME_TYPES: readonly string[] = Object.freeze([
  OCI_MANIFEST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_MEDIA_TYPE,
  DOCKER_V2_LIST_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
]);

export type SingleManifestMIMEType =
  | typeof DOCKER_V2_SCHEMA1_MEDIA_TYPE
  | typeof DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE
  | typeof DOCKER_V2_SCHEMA2_MEDIA_TYPE
  | typeof OCI_MANIFEST_MEDIA_TYPE;
export type ListMIMEType = typeof DOCKER_V2_LIST_MEDIA_TYPE | typeof OCI_INDEX_MEDIA_TYPE;
export type ManifestMIMEType = SingleManifestMIMEType | ListMIMEType;

const knownManifestTypes: ReadonlySet<string> = new Set(DEFAULT_REQUESTED_MANIFEST_MIME_TYPES);

export function isManifestMIMEType(mimeType: string): mimeType is ManifestMIMEType {
  return knownManifestTypes.has(mimeType);
}

/** True for the multi-image types (Docker manifest list, OCI index). */
export function isListMIMEType(mimeType: string): mimeType is ListMIMEType {
  return mimeType === DOCKER_V2_LIST_MEDIA_TYPE || mimeType === OCI_INDEX_MEDIA_TYPE;
}

export function isSchema1MIMEType(mimeType: string): boolean {
  return mimeType === DOCKER_V2_SCHEMA1_MEDIA_TYPE || mimeType === DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE;
}

/** Only OCI manifests can describe encrypted layers. */
export function mimeTypeSupportsEncryption(mimeType: string): boolean {
  return mimeType === OCI_MANIFEST_MEDIA_TYPE;
}

/**
 * The effective manifest type of a Content-Type a server returned, as upstream's
 * NormalizedMIMEType: `application/json` and anything unrecognized (CDNs answering text/plain)
 * mean schema1, per the Distribution spec.
 */
export function normalizedMIMEType(input: string): ManifestMIMEType {
  if (isManifestMIMEType(input)) return input;
  return DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE;
}

/** The media type without parameters, lowercased (`Content-Type` headers carry `; charset=`). */
export function bareMediaType(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}
