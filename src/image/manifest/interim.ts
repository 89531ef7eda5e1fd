// INTERIM: the few manifest functions the local transports and the copy engine need until the
// manifest module (branch `manifest`) lands; replaced by it at merge.
import type { Digest } from '../digest.ts';
import { BaseError } from '../errors.ts';
import type { BlobInfo, Platform } from '../types.ts';

export class InterimManifestError extends BaseError<'MANIFEST_INVALID' | 'MANIFEST_UNSUPPORTED'> {}

export const DOCKER_V2S1 = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_V2S1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
export const DOCKER_V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_V2_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_LAYER_ZSTD = 'application/vnd.docker.image.rootfs.diff.tar.zstd';
export const DOCKER_LAYER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

const MAX_MANIFEST = 4 * 1024 * 1024;

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength > MAX_MANIFEST) {
    throw new InterimManifestError('MANIFEST_INVALID', `manifest larger than ${MAX_MANIFEST} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new InterimManifestError('MANIFEST_INVALID', 'parsing manifest: invalid JSON', { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InterimManifestError('MANIFEST_INVALID', 'parsing manifest: expected a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The MIME type of a manifest whose type was not stored alongside it (upstream GuessMIMEType). */
export function guessMIMEType(bytes: Uint8Array): string {
  let m: Record<string, unknown>;
  try {
    m = parseObject(bytes);
  } catch {
    return '';
  }
  if (typeof m.mediaType === 'string' && m.mediaType !== '') return m.mediaType;
  if (m.schemaVersion === 1) return 'signatures' in m ? DOCKER_V2S1_SIGNED : DOCKER_V2S1;
  if (m.schemaVersion === 2) {
    if (Array.isArray(m.manifests)) return OCI_INDEX;
    if (typeof m.config === 'object' && m.config !== null) {
      const cfg = (m.config as Record<string, unknown>).mediaType;
      return cfg === DOCKER_CONFIG ? DOCKER_V2S2 : OCI_MANIFEST;
    }
  }
  return '';
}

export function isListMIMEType(mime: string): boolean {
  return mime === DOCKER_V2_LIST || mime === OCI_INDEX;
}

function descriptor(v: unknown, what: string): BlobInfo {
  if (typeof v !== 'object' || v === null)
    throw new InterimManifestError('MANIFEST_INVALID', `${what}: not an object`);
  const d = v as Record<string, unknown>;
  if (typeof d.digest !== 'string' || typeof d.size !== 'number') {
    throw new InterimManifestError('MANIFEST_INVALID', `${what}: missing digest or size`);
  }
  return {
    digest: d.digest as Digest,
    size: d.size,
    ...(typeof d.mediaType === 'string' ? { mediaType: d.mediaType } : {}),
    ...(Array.isArray(d.urls) ? { urls: d.urls as string[] } : {}),
    ...(typeof d.annotations === 'object' && d.annotations !== null
      ? { annotations: d.annotations as Record<string, string> }
      : {}),
  };
}

export interface ImageManifestView {
  readonly config: BlobInfo;
  readonly layers: readonly BlobInfo[];
}

/** Config and layers of a single-image schema2 or OCI manifest. */
export function imageManifestView(bytes: Uint8Array, mime: string): ImageManifestView {
  if (mime !== DOCKER_V2S2 && mime !== OCI_MANIFEST) {
    throw new InterimManifestError(
      'MANIFEST_UNSUPPORTED',
      `unsupported manifest type ${JSON.stringify(mime)}`,
    );
  }
  const m = parseObject(bytes);
  if (!Array.isArray(m.layers))
    throw new InterimManifestError('MANIFEST_INVALID', 'manifest: missing layers');
  return {
    config: descriptor(m.config, 'manifest config'),
    layers: m.layers.map((l, i) => descriptor(l, `manifest layer ${i}`)),
  };
}

export interface ListInstance extends BlobInfo {
  readonly platform?: Platform;
}

export function listInstances(bytes: Uint8Array): ListInstance[] {
  const m = parseObject(bytes);
  if (!Array.isArray(m.manifests))
    throw new InterimManifestError('MANIFEST_INVALID', 'manifest list: no manifests');
  return m.manifests.map((entry, i) => {
    const d = descriptor(entry, `manifest list entry ${i}`);
    const p = (entry as Record<string, unknown>).platform as Platform | undefined;
    return p === undefined ? d : { ...d, platform: p };
  });
}

/** The instance for `want` (os/architecture/variant), upstream-style: exact variant preferred. */
export function chooseInstance(
  instances: readonly ListInstance[],
  want: Required<Pick<Platform, 'os' | 'architecture'>> & Platform,
): ListInstance | undefined {
  const candidates = instances.filter(
    (i) => i.platform?.os === want.os && i.platform?.architecture === want.architecture,
  );
  return (
    candidates.find((i) => (i.platform?.variant ?? '') === (want.variant ?? '')) ??
    candidates.find((i) => i.platform?.variant === undefined) ??
    candidates[0]
  );
}

const toOci: Record<string, string> = {
  [DOCKER_CONFIG]: OCI_CONFIG,
  [DOCKER_LAYER_GZIP]: OCI_LAYER_GZIP,
  [DOCKER_LAYER_ZSTD]: OCI_LAYER_ZSTD,
  'application/vnd.docker.image.rootfs.diff.tar': OCI_LAYER,
};
const toDocker: Record<string, string> = Object.fromEntries(Object.entries(toOci).map(([k, v]) => [v, k]));

/** Converts schema2 <-> OCI manifest, or list <-> index; throws MANIFEST_UNSUPPORTED when impossible. */
export function convertManifest(bytes: Uint8Array, from: string, to: string): Uint8Array {
  if (from === to) return bytes;
  const m = parseObject(bytes);
  const mapType = (mt: unknown, table: Record<string, string>): string => {
    const out = typeof mt === 'string' ? table[mt] : undefined;
    if (out === undefined) {
      throw new InterimManifestError(
        'MANIFEST_UNSUPPORTED',
        `cannot convert media type ${JSON.stringify(mt)} to ${to}`,
      );
    }
    return out;
  };
  if ((from === DOCKER_V2S2 && to === OCI_MANIFEST) || (from === OCI_MANIFEST && to === DOCKER_V2S2)) {
    const table = to === OCI_MANIFEST ? toOci : toDocker;
    const config = { ...(m.config as Record<string, unknown>) };
    config.mediaType = mapType(config.mediaType, table);
    const layers = (m.layers as Record<string, unknown>[]).map((l) => ({
      ...l,
      mediaType: mapType(l.mediaType, table),
    }));
    const out: Record<string, unknown> = { schemaVersion: 2, mediaType: to, config, layers };
    if (to === OCI_MANIFEST && m.annotations !== undefined) out.annotations = m.annotations;
    return Buffer.from(JSON.stringify(out));
  }
  if ((from === DOCKER_V2_LIST && to === OCI_INDEX) || (from === OCI_INDEX && to === DOCKER_V2_LIST)) {
    const inner: Record<string, string> =
      to === OCI_INDEX ? { [DOCKER_V2S2]: OCI_MANIFEST } : { [OCI_MANIFEST]: DOCKER_V2S2 };
    const manifests = (m.manifests as Record<string, unknown>[]).map((e) => ({
      ...e,
      mediaType: mapType(e.mediaType, inner),
    }));
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: to, manifests }));
  }
  throw new InterimManifestError('MANIFEST_UNSUPPORTED', `cannot convert ${from} to ${to}`);
}

/** Replaces the layer descriptors' digest/size/mediaType, keeping everything else. */
export function updateLayers(bytes: Uint8Array, layers: readonly BlobInfo[]): Uint8Array {
  const m = parseObject(bytes);
  const old = m.layers as Record<string, unknown>[];
  m.layers = old.map((l, i) => {
    const n = layers[i]!;
    return { ...l, mediaType: n.mediaType ?? l.mediaType, digest: n.digest, size: n.size };
  });
  return Buffer.from(JSON.stringify(m));
}

/** Replaces the instance digests/sizes/media types of a list, keeping everything else. */
export function updateInstances(bytes: Uint8Array, instances: readonly BlobInfo[]): Uint8Array {
  const m = parseObject(bytes);
  const old = m.manifests as Record<string, unknown>[];
  m.manifests = old.map((e, i) => {
    const n = instances[i]!;
    return { ...e, mediaType: n.mediaType ?? e.mediaType, digest: n.digest, size: n.size };
  });
  return Buffer.from(JSON.stringify(m));
}
