// Typed reading of untrusted JSON: every accessor names the offending path, so a hostile manifest
// yields a ManifestError that says what was wrong, never a TypeError.
import { type Digest, parseDigest } from '../digest.ts';
import { ManifestError, type ManifestErrorCode } from './errors.ts';

export type JsonObject = { readonly [key: string]: unknown };

export const MANIFEST_SIZE_MAX = 4 * 1024 * 1024;
/** Image configs are bounded like upstream's iolimits.MaxConfigBodySize. */
export const CONFIG_SIZE_MAX = 4 * 1024 * 1024;

// ignoreBOM keeps a leading U+FEFF so JSON.parse rejects it, as Go's decoder does.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export function decodeText(bytes: Uint8Array | string): string {
  return typeof bytes === 'string' ? bytes : utf8.decode(bytes);
}

/** JSON.parse that returns undefined instead of throwing. */
export function tryParseJson(bytes: Uint8Array | string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(decodeText(bytes)) };
  } catch {
    return undefined;
  }
}

// Go's key matching folds case, including ſ (U+017F) as s; toLowerCase already maps the Kelvin sign to k.
function foldKey(key: string): string {
  const lower = key.toLowerCase();
  return lower.includes('\u017f') ? lower.replaceAll('\u017f', 's') : lower;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Reads fields of one JSON object, reporting errors as `<what>: <path>: expected X, got Y`. */
export class JsonReader {
  readonly what: string;
  readonly path: string;
  readonly object: JsonObject;
  readonly code: ManifestErrorCode;

  constructor(what: string, path: string, value: unknown, code: ManifestErrorCode = 'MANIFEST_INVALID') {
    this.what = what;
    this.path = path;
    this.code = code;
    if (!isObject(value)) {
      throw new ManifestError(
        code,
        `${what}: ${path || 'document'}: expected object, got ${describe(value)}`,
      );
    }
    this.object = value;
  }

  static parse(
    what: string,
    bytes: Uint8Array | string,
    code: ManifestErrorCode = 'MANIFEST_INVALID',
  ): JsonReader {
    let value: unknown;
    try {
      value = JSON.parse(decodeText(bytes));
    } catch (err) {
      throw new ManifestError(code, `${what}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
    return new JsonReader(what, '', value, code);
  }

  fail(key: string, detail: string): never {
    throw new ManifestError(this.code, `${this.what}: ${this.at(key)}: ${detail}`);
  }

  at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  /**
   * The raw value; JSON null counts as absent, as in Go's decoder. Go also matches keys
   * case-insensitively, so a key differing from `key` only in case would make Go readers see
   * something else than we do: rejected.
   */
  raw(key: string): unknown {
    const variants = this.#keysByFold().get(foldKey(key));
    const other = variants?.find((k) => k !== key);
    if (other !== undefined)
      this.fail(other, `ambiguous key, differs from ${JSON.stringify(key)} only in case`);
    return Object.hasOwn(this.object, key) ? (this.object[key] ?? undefined) : undefined;
  }

  #folded: Map<string, string[]> | undefined;

  #keysByFold(): Map<string, string[]> {
    if (this.#folded === undefined) {
      this.#folded = new Map();
      for (const k of Object.keys(this.object)) {
        const f = foldKey(k);
        const list = this.#folded.get(f);
        if (list === undefined) this.#folded.set(f, [k]);
        else list.push(k);
      }
    }
    return this.#folded;
  }

  optString(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === 'string') return v;
    return this.fail(key, `expected string, got ${describe(v)}`);
  }

  string(key: string): string {
    const v = this.optString(key);
    if (v === undefined) return this.fail(key, 'missing');
    return v;
  }

  optBoolean(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === 'boolean') return v;
    return this.fail(key, `expected boolean, got ${describe(v)}`);
  }

  optInteger(key: string, min: number): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      return this.fail(key, `expected integer, got ${typeof v === 'number' ? String(v) : describe(v)}`);
    }
    if (v < min) return this.fail(key, `expected integer >= ${min}, got ${v}`);
    return v;
  }

  integer(key: string, min: number): number {
    const v = this.optInteger(key, min);
    if (v === undefined) return this.fail(key, 'missing');
    return v;
  }

  digest(key: string): Digest {
    const s = this.string(key);
    try {
      return parseDigest(s);
    } catch (err) {
      throw new ManifestError(this.code, `${this.what}: ${this.at(key)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  optObject(key: string): JsonReader | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    return new JsonReader(this.what, this.at(key), v, this.code);
  }

  object_(key: string): JsonReader {
    const r = this.optObject(key);
    if (r === undefined) return this.fail(key, 'missing');
    return r;
  }

  optArray(key: string): readonly unknown[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return this.fail(key, `expected array, got ${describe(v)}`);
    return v;
  }

  array(key: string): readonly unknown[] {
    const v = this.optArray(key);
    if (v === undefined) return this.fail(key, 'missing');
    return v;
  }

  objects(key: string, required: boolean): JsonReader[] {
    const items = required ? this.array(key) : (this.optArray(key) ?? []);
    return items.map((item, i) => new JsonReader(this.what, `${this.at(key)}[${i}]`, item, this.code));
  }

  optStringArray(key: string): string[] | undefined {
    const items = this.optArray(key);
    if (items === undefined) return undefined;
    return items.map((item, i) => {
      if (typeof item !== 'string')
        return this.fail(`${key}[${i}]`, `expected string, got ${describe(item)}`);
      return item;
    });
  }

  optStringMap(key: string): Record<string, string> | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!isObject(v)) return this.fail(key, `expected object, got ${describe(v)}`);
    const entries = Object.entries(v);
    for (const [k, item] of entries) {
      if (typeof item !== 'string') {
        return this.fail(`${key}[${JSON.stringify(k)}]`, `expected string, got ${describe(item)}`);
      }
    }
    // fromEntries defines own properties, so a "__proto__" key stays data.
    return Object.fromEntries(entries) as Record<string, string>;
  }
}
