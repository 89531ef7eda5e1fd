import { ManifestError } from './errors.ts';
import { guessMIMEType } from './guess.ts';
import { JsonReader, MANIFEST_SIZE_MAX } from './json.ts';
import {
  DOCKER_V2_LIST_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_MEDIA_TYPE,
  DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  isListMIMEType,
  isManifestMIMEType,
  type ManifestMIMEType,
  OCI_INDEX_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from './mediatypes.ts';
import type {
  Descriptor,
  ImagePlatform,
  ListInstance,
  Manifest,
  ManifestList,
  OCIManifest,
  Schema1Manifest,
  Schema1V1Compatibility,
  Schema2Manifest,
} from './types.ts';

/** Layer types a schema2 manifest may list (upstream SupportedSchema2MediaType, restricted to layers). */
export const SCHEMA2_LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
]);

const formatFields = ['config', 'fsLayers', 'history', 'layers', 'manifests'] as const;
type FormatField = (typeof formatFields)[number];

// Upstream ValidateUnambiguousManifestFormat: fields of another format make the document ambiguous.
function rejectAmbiguous(r: JsonReader, mimeType: string, allowed: readonly FormatField[]): void {
  const unexpected = formatFields.filter((f) => !allowed.includes(f) && r.has(f));
  if (unexpected.length !== 0) {
    throw new ManifestError(
      'MANIFEST_AMBIGUOUS',
      `${r.what}: rejecting ambiguous manifest, unexpected fields ${unexpected.join(', ')} in supposedly ${mimeType}`,
    );
  }
}

function checkSize(bytes: Uint8Array, what: string): void {
  if (bytes.byteLength > MANIFEST_SIZE_MAX) {
    throw new ManifestError(
      'MANIFEST_TOO_LARGE',
      `${what}: expected at most ${MANIFEST_SIZE_MAX} bytes, got ${bytes.byteLength}`,
    );
  }
}

function schemaVersion(r: JsonReader, expected: number): void {
  const v = r.raw('schemaVersion');
  if (v !== expected) {
    r.fail('schemaVersion', `expected ${expected}, got ${v === undefined ? 'none' : JSON.stringify(v)}`);
  }
}

/** The manifest type to parse the bytes as: declared if known, else guessed. */
function resolveMIMEType(bytes: Uint8Array, declared: string | undefined, what: string): ManifestMIMEType {
  if (declared !== undefined && isManifestMIMEType(declared)) return declared;
  // The Distribution spec allows application/json for schema1 (upstream NormalizedMIMEType).
  if (declared === 'application/json') return DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE;
  // Unknown or absent Content-Type (CDNs answer text/plain): judge by content.
  const guessed = guessMIMEType(bytes);
  if (isManifestMIMEType(guessed)) return guessed;
  throw new ManifestError(
    'MANIFEST_UNSUPPORTED_TYPE',
    `${what}: unsupported manifest type ${JSON.stringify(declared ?? '')}${guessed === '' ? '' : ` (content looks like ${guessed})`}`,
  );
}

function readDescriptor(r: JsonReader): Descriptor {
  const d: { -readonly [K in keyof Descriptor]: Descriptor[K] } = {
    mediaType: r.string('mediaType'),
    digest: r.digest('digest'),
    size: r.integer('size', -1),
  };
  const urls = r.optStringArray('urls');
  if (urls !== undefined) d.urls = urls;
  const annotations = r.optStringMap('annotations');
  if (annotations !== undefined) d.annotations = annotations;
  const artifactType = r.optString('artifactType');
  if (artifactType !== undefined) d.artifactType = artifactType;
  const platform = r.optObject('platform');
  if (platform !== undefined) d.platform = readPlatform(platform);
  const data = r.optString('data');
  if (data !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) r.fail('data', 'expected base64');
    d.data = data;
  }
  return d;
}

const rfc3339 = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-](\d\d):(\d\d))$/;

// What Go's time.Time accepts in JSON: RFC 3339 with in-range fields (no leap second, real dates).
function isGoTime(s: string): boolean {
  const m = rfc3339.exec(s);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day));
  date.setUTCFullYear(year);
  return (
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    hour < 24 &&
    minute < 60 &&
    second < 60 &&
    (m[9] === undefined || (Number(m[9]) < 24 && Number(m[10]) < 60))
  );
}

export function readTimestamp(r: JsonReader, key: string): string | undefined {
  const v = r.optString(key);
  if (v !== undefined && !isGoTime(v)) r.fail(key, `expected an RFC 3339 time, got ${JSON.stringify(v)}`);
  return v;
}

function readV1Compatibility(text: string, what: string, index: number): Schema1V1Compatibility {
  const r = new JsonReader(what, `history[${index}].v1Compatibility`, parseEmbedded(text, what, index));
  const cmd = r.optObject('container_config')?.optStringArray('Cmd');
  const out: { -readonly [K in keyof Schema1V1Compatibility]: Schema1V1Compatibility[K] } = {
    id: r.optString('id') ?? '',
    throwaway: r.optBoolean('throwaway') ?? false,
  };
  const parent = r.optString('parent');
  if (parent !== undefined && parent !== '') out.parent = parent;
  const comment = r.optString('comment');
  if (comment !== undefined) out.comment = comment;
  const created = readTimestamp(r, 'created');
  if (created !== undefined) out.created = created;
  const author = r.optString('author');
  if (author !== undefined) out.author = author;
  if (cmd !== undefined) out.containerConfigCmd = cmd;
  return out;
}

function parseEmbedded(text: string, what: string, index: number): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ManifestError(
      'MANIFEST_INVALID',
      `${what}: parsing v2s1 history entry ${index}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

function parseSchema1(r: JsonReader, mimeType: string): Schema1Manifest {
  schemaVersion(r, 1);
  rejectAmbiguous(r, mimeType, ['fsLayers', 'history']);
  let fsLayers = r.objects('fsLayers', false).map((l) => ({ blobSum: l.digest('blobSum') }));
  let history = r.objects('history', false).map((h) => ({ v1Compatibility: h.string('v1Compatibility') }));
  if (fsLayers.length !== history.length) {
    r.fail(
      'history',
      `length of history (${history.length}) not equal to number of layers (${fsLayers.length})`,
    );
  }
  if (fsLayers.length === 0) r.fail('fsLayers', 'no layers in manifest');
  let compat = history.map((h, i) => readV1Compatibility(h.v1Compatibility, r.what, i));
  // Upstream fixManifestLayers: validate the ID chain and drop consecutive duplicates.
  for (const [i, c] of compat.entries()) {
    if (!/^[a-f0-9]{64}$/.test(c.id))
      r.fail(`history[${i}].v1Compatibility.id`, `image ID ${JSON.stringify(c.id)} is invalid`);
  }
  if (compat.at(-1)?.parent !== undefined)
    r.fail('history', 'invalid parent ID in the base layer of the image');
  const seen = new Set<string>();
  let last = '';
  for (const c of compat) {
    if (c.id !== last && seen.has(c.id)) r.fail('history', `ID ${c.id} appears multiple times in manifest`);
    last = c.id;
    seen.add(c.id);
  }
  for (let i = compat.length - 2; i >= 0; i--) {
    const cur = compat[i]!;
    const next = compat[i + 1]!;
    if (cur.id === next.id) {
      fsLayers = fsLayers.toSpliced(i, 1);
      history = history.toSpliced(i, 1);
      compat = compat.toSpliced(i, 1);
    } else if (cur.parent !== next.id) {
      r.fail('history', `invalid parent ID: expected ${next.id}, got ${JSON.stringify(cur.parent ?? '')}`);
    }
  }
  return {
    kind: 'schema1',
    mimeType,
    name: r.optString('name') ?? '',
    tag: r.optString('tag') ?? '',
    architecture: r.optString('architecture') ?? '',
    fsLayers,
    history,
    v1Compatibility: compat,
  };
}

function parseSchema2(r: JsonReader): Schema2Manifest {
  schemaVersion(r, 2);
  rejectAmbiguous(r, DOCKER_V2_SCHEMA2_MEDIA_TYPE, ['config', 'layers']);
  const mediaType = r.optString('mediaType') ?? '';
  if (mediaType !== DOCKER_V2_SCHEMA2_MEDIA_TYPE) {
    r.fail('mediaType', `expected ${DOCKER_V2_SCHEMA2_MEDIA_TYPE}, got ${JSON.stringify(mediaType)}`);
  }
  const config = readDescriptor(r.object_('config'));
  const layerReaders = r.objects('layers', true);
  const layers = layerReaders.map((l) => {
    const d = readDescriptor(l);
    if (!SCHEMA2_LAYER_MEDIA_TYPES.has(d.mediaType)) {
      l.fail('mediaType', `unsupported docker v2s2 layer media type ${JSON.stringify(d.mediaType)}`);
    }
    return d;
  });
  return { kind: 'schema2', mimeType: DOCKER_V2_SCHEMA2_MEDIA_TYPE, config, layers };
}

function parseOCI(r: JsonReader): OCIManifest {
  schemaVersion(r, 2);
  rejectAmbiguous(r, OCI_MANIFEST_MEDIA_TYPE, ['config', 'layers']);
  const mediaType = r.optString('mediaType');
  if (mediaType !== undefined && mediaType !== OCI_MANIFEST_MEDIA_TYPE) {
    r.fail('mediaType', `expected ${OCI_MANIFEST_MEDIA_TYPE}, got ${JSON.stringify(mediaType)}`);
  }
  // OCI layer types are open-ended (artifacts): only the descriptor shape is checked, as upstream.
  return {
    kind: 'oci',
    mimeType: OCI_MANIFEST_MEDIA_TYPE,
    hasMediaTypeField: mediaType !== undefined,
    config: readDescriptor(r.object_('config')),
    layers: r.objects('layers', true).map((l) => readDescriptor(l)),
    ...readOCIExtras(r),
  };
}

/** The OCI 1.1 fields manifests and indexes share, present only when set. */
function readOCIExtras(r: JsonReader): {
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
} {
  const out: { artifactType?: string; subject?: Descriptor; annotations?: Record<string, string> } = {};
  const artifactType = r.optString('artifactType');
  if (artifactType !== undefined) out.artifactType = artifactType;
  const subject = r.optObject('subject');
  if (subject !== undefined) out.subject = readDescriptor(subject);
  const annotations = r.optStringMap('annotations');
  if (annotations !== undefined) out.annotations = annotations;
  return out;
}

/**
 * Parses a single-image manifest (schema1, schema2, OCI). `mimeType` is the declared type (e.g.
 * Content-Type); when absent or unrecognized the type is guessed from the content.
 */
export function parseManifest(bytes: Uint8Array, mimeType?: string): Manifest {
  checkSize(bytes, 'parsing manifest');
  const type = resolveMIMEType(bytes, mimeType, 'parsing manifest');
  const what = `parsing manifest (${type})`;
  if (isListMIMEType(type)) {
    throw new ManifestError(
      'MANIFEST_KIND_MISMATCH',
      `${what}: a manifest list is not a single image manifest`,
    );
  }
  const r = JsonReader.parse(what, bytes);
  switch (type) {
    case DOCKER_V2_SCHEMA1_MEDIA_TYPE:
    case DOCKER_V2_SCHEMA1_SIGNED_MEDIA_TYPE:
      return parseSchema1(r, type);
    case DOCKER_V2_SCHEMA2_MEDIA_TYPE:
      return parseSchema2(r);
    case OCI_MANIFEST_MEDIA_TYPE:
      return parseOCI(r);
    default:
      throw new ManifestError('MANIFEST_UNSUPPORTED_TYPE', `${what}: unsupported manifest type`);
  }
}

function readPlatform(r: JsonReader): ImagePlatform {
  const p: { -readonly [K in keyof ImagePlatform]: ImagePlatform[K] } = {
    os: r.optString('os') ?? '',
    architecture: r.optString('architecture') ?? '',
  };
  const variant = r.optString('variant');
  if (variant !== undefined && variant !== '') p.variant = variant;
  const osVersion = r.optString('os.version');
  if (osVersion !== undefined && osVersion !== '') p.osVersion = osVersion;
  const osFeatures = r.optStringArray('os.features');
  if (osFeatures !== undefined && osFeatures.length !== 0) p.osFeatures = osFeatures;
  const features = r.optStringArray('features');
  if (features !== undefined && features.length !== 0) p.features = features;
  return p;
}

function readInstance(r: JsonReader, dockerList: boolean): ListInstance {
  const d = readDescriptor(r);
  return dockerList && d.platform === undefined ? { ...d, platform: { os: '', architecture: '' } } : d;
}

/** Parses a Docker manifest list or an OCI index; `mimeType` as for parseManifest. */
export function parseList(bytes: Uint8Array, mimeType?: string): ManifestList {
  checkSize(bytes, 'parsing manifest list');
  const type = resolveMIMEType(bytes, mimeType, 'parsing manifest list');
  const what = `parsing manifest list (${type})`;
  if (!isListMIMEType(type)) {
    throw new ManifestError(
      'MANIFEST_KIND_MISMATCH',
      `${what}: a single image manifest is not a manifest list`,
    );
  }
  const r = JsonReader.parse(what, bytes);
  schemaVersion(r, 2);
  rejectAmbiguous(r, type, ['manifests']);
  const mediaType = r.optString('mediaType');
  if (type === DOCKER_V2_LIST_MEDIA_TYPE) {
    if (mediaType !== DOCKER_V2_LIST_MEDIA_TYPE) {
      r.fail('mediaType', `expected ${DOCKER_V2_LIST_MEDIA_TYPE}, got ${JSON.stringify(mediaType ?? '')}`);
    }
    return {
      kind: 'docker-list',
      mimeType: type,
      instances: r.objects('manifests', true).map((m) => readInstance(m, true)),
    };
  }
  if (mediaType !== undefined && mediaType !== OCI_INDEX_MEDIA_TYPE) {
    r.fail('mediaType', `expected ${OCI_INDEX_MEDIA_TYPE}, got ${JSON.stringify(mediaType)}`);
  }
  return {
    kind: 'oci-index',
    mimeType: OCI_INDEX_MEDIA_TYPE,
    instances: r.objects('manifests', true).map((m) => readInstance(m, false)),
    ...readOCIExtras(r),
  };
}
