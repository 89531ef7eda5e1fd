// JSON written the way Go's encoding/json writes it, so that converted manifests and configs have
// the same bytes (and digests) as containers/image produces: HTML-sensitive characters escaped,
// map keys sorted bytewise, no insignificant whitespace.

const htmlEscapes: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

// These characters only occur inside strings in JSON text, so a global replace is safe.
function escapeHTML(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => htmlEscapes[c] ?? c);
}

/** Encodes a value built with keys already in Go struct field order. */
export function goMarshal(value: unknown): string {
  return escapeHTML(JSON.stringify(value));
}

/** Go json.MarshalIndent with an empty prefix, for a value already in Go field order. */
export function goMarshalIndent(value: unknown, indent: string): string {
  return escapeHTML(JSON.stringify(value, null, indent));
}

/** A Go map[string]T: keys in bytewise order; undefined when empty (for `omitempty`). */
export function goMap<T>(map: Readonly<Record<string, T>> | undefined): Record<string, T> | undefined {
  if (map === undefined) return undefined;
  const keys = Object.keys(map).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (keys.length === 0) return undefined;
  return Object.fromEntries(keys.map((k) => [k, map[k] as T]));
}

/** Go json.Compact of valid JSON text, plus Marshal's HTML escaping (what encoding a RawMessage does). */
export function goCompact(text: string): string {
  let out = '';
  let inString = false;
  let escaped = false;
  for (const c of text) {
    if (inString) {
      out += htmlEscapes[c] ?? c;
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') {
      out += c;
    }
  }
  return out;
}

/** The top-level members of a JSON object text as raw (uncompacted) value texts; later duplicates win. */
export function rawMembers(text: string): Map<string, string> {
  const members = new Map<string, string>();
  let i = text.indexOf('{') + 1;
  const skipSpace = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const scanString = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  for (;;) {
    skipSpace();
    if (text[i] === '}' || i >= text.length) return members;
    if (text[i] === ',') {
      i++;
      continue;
    }
    const key = scanString();
    skipSpace();
    i++; // the colon
    skipSpace();
    const start = i;
    let depth = 0;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        scanString();
        if (depth === 0) break;
        continue;
      }
      if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        if (depth === 0) break;
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      } else if (depth === 0 && (c === ',' || /\s/.test(c ?? ''))) break;
      i++;
    }
    members.set(key, text.slice(start, i));
  }
}
