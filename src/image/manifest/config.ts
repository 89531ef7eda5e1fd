// Image configuration blobs: the fields inspect reports, the OCI re-encoding upstream applies when
// converting a Docker config, and the schema2 config synthesised from schema1 history.
import type { Digest } from '../digest.ts';
import { ManifestError } from './errors.ts';
import { goCompact, goMap, goMarshal, rawMembers } from './gojson.ts';
import { CONFIG_SIZE_MAX, decodeText, JsonReader } from './json.ts';
import { readTimestamp } from './parse.ts';
import type { Schema1Manifest } from './types.ts';

/** Go's RFC3339Nano rendering of an RFC 3339 time: fraction without trailing zeros, zero offset as Z. */
export function goTime(rfc3339: string): string {
  const m = /^(.{19})(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (m === null) return rfc3339;
  const fraction = (m[2] ?? '').slice(0, 9).replace(/0+$/, '');
  const zone = m[3] === '+00:00' || m[3] === '-00:00' ? 'Z' : m[3];
  return `${m[1]}${fraction === '' ? '' : `.${fraction}`}${zone}`;
}

/** Go's zero time.Time, which a config without `created` reports for schema1/schema2 images. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/** The fields of an image config (OCI or Docker, or a schema1 v1Compatibility) inspect reads. */
export interface ImageConfigSummary {
  readonly created?: string;
  readonly author?: string;
  readonly dockerVersion?: string;
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly env?: readonly string[];
}

export function configReader(what: string, bytes: Uint8Array | string): JsonReader {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > CONFIG_SIZE_MAX) {
    throw new ManifestError(
      'CONFIG_INVALID',
      `${what}: expected at most ${CONFIG_SIZE_MAX} bytes, got ${size}`,
    );
  }
  return JsonReader.parse(what, bytes, 'CONFIG_INVALID');
}

export function summarizeConfig(r: JsonReader): ImageConfigSummary {
  const config = r.optObject('config');
  const out: { -readonly [K in keyof ImageConfigSummary]: ImageConfigSummary[K] } = {};
  const created = readTimestamp(r, 'created');
  if (created !== undefined) out.created = goTime(created);
  for (const [key, field] of [
    ['author', 'author'],
    ['docker_version', 'dockerVersion'],
    ['architecture', 'architecture'],
    ['os', 'os'],
    ['variant', 'variant'],
  ] as const) {
    const v = r.optString(key);
    if (v !== undefined) out[field] = v;
  }
  const labels = config?.optStringMap('Labels');
  if (labels !== undefined) out.labels = labels;
  const env = config?.optStringArray('Env');
  if (env !== undefined) out.env = env;
  return out;
}

function nonEmpty<T>(items: readonly T[] | undefined): readonly T[] | undefined {
  return items === undefined || items.length === 0 ? undefined : items;
}

function goStructSet(r: JsonReader, key: string): Record<string, object> | undefined {
  const v = r.optObject(key);
  if (v === undefined) return undefined;
  const entries = Object.keys(v.object).map((k) => {
    if (v.raw(k) !== undefined) v.object_(k);
    return [k, {}] as const;
  });
  return goMap(Object.fromEntries(entries));
}

/**
 * A Docker or OCI config re-encoded as an OCI image config (upstream OCIConfig + json.Marshal:
 * Docker-only fields dropped, Go field order). Conversions to OCI write this as the new config.
 */
export function ociConfigFromConfig(bytes: Uint8Array | string): Uint8Array {
  const r = configReader('converting image config to OCI', bytes);
  const c = r.optObject('config');
  const rootfs = r.optObject('rootfs');
  const created = readTimestamp(r, 'created');
  const history = r.objects('history', false).map((h) => {
    const hc = readTimestamp(h, 'created');
    return {
      created: hc === undefined ? undefined : goTime(hc),
      created_by: h.optString('created_by') || undefined,
      author: h.optString('author') || undefined,
      comment: h.optString('comment') || undefined,
      empty_layer: h.optBoolean('empty_layer') || undefined,
    };
  });
  const image = {
    created: created === undefined ? undefined : goTime(created),
    author: r.optString('author') || undefined,
    architecture: r.optString('architecture') ?? '',
    os: r.optString('os') ?? '',
    'os.version': r.optString('os.version') || undefined,
    'os.features': nonEmpty(r.optStringArray('os.features')),
    variant: r.optString('variant') || undefined,
    config: {
      User: c?.optString('User') || undefined,
      ExposedPorts: c === undefined ? undefined : goStructSet(c, 'ExposedPorts'),
      Env: nonEmpty(c?.optStringArray('Env')),
      Entrypoint: nonEmpty(c?.optStringArray('Entrypoint')),
      Cmd: nonEmpty(c?.optStringArray('Cmd')),
      Volumes: c === undefined ? undefined : goStructSet(c, 'Volumes'),
      WorkingDir: c?.optString('WorkingDir') || undefined,
      Labels: goMap(c?.optStringMap('Labels')),
      StopSignal: c?.optString('StopSignal') || undefined,
      ArgsEscaped: c?.optBoolean('ArgsEscaped') || undefined,
    },
    rootfs: { type: rootfs?.optString('type') ?? '', diff_ids: rootfs?.optStringArray('diff_ids') ?? null },
    history: history.length === 0 ? undefined : history,
  };
  return Buffer.from(goMarshal(image));
}

// docker/docker's versions.LessThan on dotted numbers.
function versionLessThan(v: string, other: string): boolean {
  const a = v.split('.');
  const b = other.split('.');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = Number.parseInt(a[i] ?? '0', 10) || 0;
    const y = Number.parseInt(b[i] ?? '0', 10) || 0;
    if (x !== y) return x < y;
  }
  return false;
}

/**
 * The schema2 config upstream synthesises from schema1 history (Schema1.ToSchema2Config): the
 * newest v1Compatibility without its v1 IDs, plus rootfs from `diffIDs` (non-empty layers, base
 * first) and a history built from every entry.
 */
export function schema2ConfigFromSchema1(m: Schema1Manifest, diffIDs: readonly Digest[]): Uint8Array {
  return synthesizedConfig(m, diffIDs, false);
}

function synthesizedConfig(m: Schema1Manifest, diffIDs: readonly Digest[], forOCI: boolean): Uint8Array {
  const what = 'converting schema1 history to a config';
  const top = m.history[0]?.v1Compatibility;
  if (top === undefined) throw new ManifestError('MANIFEST_INVALID', `${what}: image has no layers`);
  const r = configReader(what, top);
  summarizeConfig(r);
  const dockerVersion = r.optString('docker_version');
  if (
    !forOCI &&
    dockerVersion !== undefined &&
    dockerVersion !== '' &&
    versionLessThan(dockerVersion, '1.8.3')
  ) {
    // Upstream re-encodes these through Go structs; the exact bytes are not reproduced here.
    throw new ManifestError(
      'MANIFEST_CONVERSION_UNSUPPORTED',
      `${what}: images built by docker ${dockerVersion} (before 1.8.3) are not supported`,
    );
  }
  const history = m.v1Compatibility.toReversed().map((c) => ({
    created: c.created === undefined ? GO_ZERO_TIME : goTime(c.created),
    author: c.author || undefined,
    created_by: (c.containerConfigCmd ?? []).join(' ') || undefined,
    comment: c.comment || undefined,
    empty_layer: c.throwaway || undefined,
  }));
  const members = rawMembers(decodeText(top));
  for (const dropped of ['id', 'parent', 'parent_id', 'layer_id', 'throwaway', 'Size'])
    members.delete(dropped);
  members.set('rootfs', goMarshal({ type: 'layers', diff_ids: diffIDs.length === 0 ? undefined : diffIDs }));
  members.set('history', goMarshal(history));
  const sorted = goMap(Object.fromEntries(members)) ?? {};
  const body = Object.entries(sorted)
    .map(([k, v]) => `${goMarshal(k)}:${goCompact(v)}`)
    .join(',');
  return Buffer.from(`{${body}}`);
}

/**
 * The OCI config upstream reports for a schema1 image (manifestSchema1.OCIConfig): the
 * synthesised schema2 config with unknown (empty) diffIDs, one per non-throwaway layer, as OCI.
 */
export function ociConfigFromSchema1(m: Schema1Manifest): Uint8Array {
  if (m.v1Compatibility.length !== m.fsLayers.length) {
    throw new ManifestError(
      'MANIFEST_INVALID',
      `schema1 manifest: expected as many history entries as fsLayers, got ${m.v1Compatibility.length} and ${m.fsLayers.length}`,
    );
  }
  const unknown = m.v1Compatibility.filter((c) => !c.throwaway).map(() => '' as Digest);
  // Upstream's re-encoding of pre-1.8.3 configs only adds zero-valued fields, which the OCI
  // re-encoding drops again: the OCI result is exact without reproducing it.
  return ociConfigFromConfig(synthesizedConfig(m, unknown, true));
}
