// Plain-value view of the shared strict JSON parser (../json.ts: duplicate keys, trailing data and
// depth rejected) for the small documents sigstore verification reads. Objects have a null
// prototype so "__proto__" is an ordinary key.
import { type JsonNode, parseJson } from '../json.ts';
import { SigstoreError } from './errors.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

function plain(node: JsonNode): JsonValue {
  switch (node.kind) {
    case 'object': {
      const out: JsonObject = Object.create(null);
      for (const [k, v] of node.members) out[k] = plain(v);
      return out;
    }
    case 'array':
      return node.items.map(plain);
    case 'null':
      return null;
    default:
      return node.value;
  }
}

/** Parses one JSON document; duplicate keys and trailing data are SIGSTORE_JSON_INVALID. */
export function parseStrictJson(input: string | Uint8Array): JsonValue {
  try {
    return plain(parseJson(input));
  } catch (err) {
    throw new SigstoreError('SIGSTORE_JSON_INVALID', `invalid json: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks that `obj` has exactly the `required` keys plus any of `optional`, as containers/image's
 * ParanoidUnmarshalJSONObjectExactFields does; `context` prefixes the error.
 */
export function expectExactKeys(
  obj: JsonObject,
  required: readonly string[],
  context: string,
  optional: readonly string[] = [],
): void {
  for (const key of Object.keys(obj)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw new SigstoreError('SIGSTORE_JSON_INVALID', `${context}: unknown key ${JSON.stringify(key)}`);
    }
  }
  for (const key of required) {
    if (!Object.hasOwn(obj, key)) {
      throw new SigstoreError('SIGSTORE_JSON_INVALID', `${context}: key ${JSON.stringify(key)} missing`);
    }
  }
}

/** JSON Canonicalization Scheme (RFC 8785) for the values a Rekor SET payload holds. */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isJsonObject(value)) {
    // RFC 8785 sorts by UTF-16 code units, which is what the default sort compares.
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Go's base64.StdEncoding: padded standard alphabet, CR and LF ignored; undefined when invalid. */
export function decodeStdBase64(text: string): Buffer | undefined {
  const s = text.replace(/[\r\n]/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}
