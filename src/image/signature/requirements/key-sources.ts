// Key sources (keys, certificates, trust roots) as requirements name them: parsed from the
// `<base>Path|Paths|Data|Datas` member families, listed as files, and read at evaluation time.
import { unhandled } from '../../errors.ts';
import {
  asBase64,
  asBase64Array,
  asBoolean,
  asString,
  asStringArray,
  invalidValue,
  type JsonNode,
  type ObjectReader,
} from '../json.ts';
import type { ByteSource, PathOrData } from '../policy-types.ts';
import type { EvaluationContext } from './types.ts';

/** An extension's optional boolean: absent stays absent, so the policy still round-trips. */
export function optionalBoolean<K extends string>(
  key: K,
  node: JsonNode | undefined,
): { [P in K]?: boolean } {
  return node === undefined ? {} : ({ [key]: asBoolean(node) } as { [P in K]?: boolean });
}

function nonEmpty<T>(node: JsonNode, values: T[], key: string): T[] {
  if (values.length === 0) throw invalidValue(node, `${JSON.stringify(key)} contains no entries`);
  return values;
}

/** The sigstore key-source family `<base>Path|Paths|Data|Datas`: returns every source present. */
export function takeSources(
  obj: ObjectReader,
  names: { path: string; paths: string; data: string; datas: string },
): ByteSource[] {
  const out: ByteSource[] = [];
  const path = obj.take(names.path);
  const paths = obj.take(names.paths);
  const data = obj.take(names.data);
  const datas = obj.take(names.datas);
  if (path !== undefined) {
    const p = asString(path);
    if (p !== '') out.push({ kind: 'path', path: p });
  }
  if (paths !== undefined)
    out.push({ kind: 'paths', paths: nonEmpty(paths, asStringArray(paths), names.paths) });
  if (data !== undefined) out.push({ kind: 'data', data: asBase64(data) });
  if (datas !== undefined)
    out.push({ kind: 'datas', datas: nonEmpty(datas, asBase64Array(datas), names.datas) });
  return out;
}

/** `<base>Path` / `<base>Data`, at most one; returns undefined when neither is present. */
export function pathOrData(obj: ObjectReader, pathKey: string, dataKey: string): PathOrData | undefined {
  const path = obj.take(pathKey);
  const data = obj.take(dataKey);
  const p = path === undefined ? '' : asString(path);
  const d = data === undefined ? undefined : asBase64(data);
  if (p !== '' && d !== undefined)
    throw invalidValue(obj.node, `${pathKey} and ${dataKey} cannot be used simultaneously`);
  if (p !== '') return { kind: 'path', path: p };
  if (d !== undefined) return { kind: 'data', data: d };
  return undefined;
}

/** The files a source names (none for inline data). */
export function sourcePaths(source: ByteSource | undefined): string[] {
  if (source === undefined) return [];
  switch (source.kind) {
    case 'path':
      return [source.path];
    case 'paths':
      return [...source.paths];
    case 'data':
    case 'datas':
      return [];
    default:
      return unhandled(source, []);
  }
}

/** The bytes a source stands for, files read through `ctx`. */
export async function loadBytes(source: ByteSource, ctx: EvaluationContext): Promise<Uint8Array[]> {
  switch (source.kind) {
    case 'path':
      return [await ctx.readKeyFile(source.path)];
    case 'paths':
      return Promise.all(source.paths.map((p) => ctx.readKeyFile(p)));
    case 'data':
      return [source.data];
    case 'datas':
      return [...source.datas];
    default:
      return unhandled(source, []);
  }
}
