// A strict parser for the TOML subset registries.conf uses: tables, arrays of tables, dotted
// table names, bare/quoted keys, strings, booleans, integers and (nested) arrays. Anything else
// (dates, floats, inline tables) is an error rather than a silent misreading.
import { RegistriesError } from './errors.ts';

export type TomlValue = string | boolean | number | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

const MAX_INPUT = 1 << 20;

class Cursor {
  readonly text: string;
  pos = 0;
  line = 1;
  constructor(text: string) {
    this.text = text;
  }
  fail(detail: string): never {
    throw new RegistriesError('TOML_INVALID', `toml: line ${this.line}: ${detail}`);
  }
  peek(): string | undefined {
    return this.text[this.pos];
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }
  /** Skips blanks, comments and newlines (inside arrays and between statements). */
  skipAll(): void {
    for (;;) {
      this.skipSpaces();
      const c = this.peek();
      if (c === '#') {
        while (this.peek() !== undefined && this.peek() !== '\n') this.pos++;
      } else if (c === '\n') {
        this.pos++;
        this.line++;
      } else if (c === '\r' && this.text[this.pos + 1] === '\n') {
        this.pos += 2;
        this.line++;
      } else return;
    }
  }
  endOfLine(): void {
    this.skipSpaces();
    if (this.peek() === '#') while (this.peek() !== undefined && this.peek() !== '\n') this.pos++;
    const c = this.peek();
    if (c === undefined) return;
    if (c === '\r' && this.text[this.pos + 1] === '\n') this.pos++;
    if (this.peek() !== '\n') this.fail(`expected end of line, got ${JSON.stringify(c)}`);
    this.pos++;
    this.line++;
  }
}

function parseKey(c: Cursor): string {
  const ch = c.peek();
  if (ch === '"' || ch === "'") return parseString(c);
  const start = c.pos;
  while (/[A-Za-z0-9_-]/.test(c.peek() ?? '')) c.pos++;
  if (c.pos === start) c.fail(`expected a key, got ${JSON.stringify(ch ?? 'end of input')}`);
  return c.text.slice(start, c.pos);
}

function parseDottedKey(c: Cursor): string[] {
  const parts = [parseKey(c)];
  for (;;) {
    c.skipSpaces();
    if (c.peek() !== '.') return parts;
    c.pos++;
    c.skipSpaces();
    parts.push(parseKey(c));
  }
}

const escapes: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

function parseString(c: Cursor): string {
  const quote = c.peek();
  if (c.text.startsWith(quote === '"' ? '"""' : "'''", c.pos)) c.fail('multi-line strings are not supported');
  c.pos++;
  let out = '';
  for (;;) {
    const ch = c.peek();
    if (ch === undefined || ch === '\n') c.fail('unterminated string');
    c.pos++;
    if (ch === quote) return out;
    if (quote === '"' && ch === '\\') {
      const e = c.peek();
      c.pos++;
      if (e === 'u' || e === 'U') {
        const len = e === 'u' ? 4 : 8;
        const hex = c.text.slice(c.pos, c.pos + len);
        if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== len) c.fail('invalid unicode escape');
        c.pos += len;
        out += String.fromCodePoint(Number.parseInt(hex, 16));
      } else if (e !== undefined && Object.hasOwn(escapes, e)) out += escapes[e];
      else c.fail(`invalid escape \\${e ?? ''}`);
    } else out += ch;
  }
}

function parseValue(c: Cursor, depth: number): TomlValue {
  if (depth > 32) c.fail('arrays nested too deeply');
  const ch = c.peek();
  if (ch === '"' || ch === "'") return parseString(c);
  if (ch === '[') {
    c.pos++;
    const items: TomlValue[] = [];
    for (;;) {
      c.skipAll();
      if (c.peek() === ']') {
        c.pos++;
        return items;
      }
      items.push(parseValue(c, depth + 1));
      c.skipAll();
      if (c.peek() === ',') c.pos++;
      else if (c.peek() !== ']') c.fail('expected , or ] in array');
    }
  }
  if (ch === '{') c.fail('inline tables are not supported');
  const m = /^(true|false|[+-]?(?:0|[1-9](?:_?[0-9])*))(?=[\s#,\]]|$)/.exec(c.text.slice(c.pos, c.pos + 40));
  if (m === null) c.fail(`unsupported value starting with ${JSON.stringify(ch ?? 'end of input')}`);
  c.pos += m[0].length;
  if (m[0] === 'true') return true;
  if (m[0] === 'false') return false;
  const n = Number(m[0].replaceAll('_', ''));
  if (!Number.isSafeInteger(n)) c.fail('integer out of range');
  return n;
}

function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a TOML document of the supported subset into plain objects. */
export function parseToml(text: string): TomlTable {
  if (text.length > MAX_INPUT)
    throw new RegistriesError('TOML_INVALID', `toml: larger than ${MAX_INPUT} bytes`);
  const c: Cursor = new Cursor(text);
  const root: TomlTable = {};
  // Tables created by a header or an array-of-tables entry; a header may not define them twice.
  const defined = new Set<TomlTable>();
  let current = root;
  for (;;) {
    c.skipAll();
    if (c.peek() === undefined) return root;
    if (c.peek() === '[') {
      const isArray = c.text[c.pos + 1] === '[';
      c.pos += isArray ? 2 : 1;
      c.skipSpaces();
      const path = parseDottedKey(c);
      c.skipSpaces();
      if (!c.text.startsWith(isArray ? ']]' : ']', c.pos)) c.fail('unterminated table header');
      c.pos += isArray ? 2 : 1;
      c.endOfLine();
      let table = root;
      for (const [i, part] of path.entries()) {
        const last = i === path.length - 1;
        const existing = table[part];
        if (last && isArray) {
          if (existing === undefined) table[part] = [];
          const arr = table[part];
          if (!Array.isArray(arr)) c.fail(`${path.join('.')} is not an array of tables`);
          const fresh: TomlTable = {};
          arr.push(fresh);
          table = fresh;
        } else if (existing === undefined) {
          const fresh: TomlTable = {};
          table[part] = fresh;
          table = fresh;
        } else if (Array.isArray(existing)) {
          const lastItem = existing[existing.length - 1];
          if (!isTable(lastItem)) c.fail(`${path.slice(0, i + 1).join('.')} is not a table`);
          table = lastItem;
        } else if (isTable(existing)) {
          table = existing;
        } else c.fail(`${path.slice(0, i + 1).join('.')} is not a table`);
      }
      if (!isArray) {
        if (defined.has(table)) c.fail(`table ${path.join('.')} defined twice`);
      }
      defined.add(table);
      current = table;
      continue;
    }
    const key = parseDottedKey(c);
    c.skipSpaces();
    if (c.peek() !== '=') c.fail(`expected = after key ${JSON.stringify(key.join('.'))}`);
    c.pos++;
    c.skipSpaces();
    const value = parseValue(c, 0);
    let table = current;
    for (const part of key.slice(0, -1)) {
      const existing = table[part];
      if (existing === undefined) {
        const fresh: TomlTable = {};
        table[part] = fresh;
        table = fresh;
      } else if (isTable(existing)) table = existing;
      else c.fail(`${part} is not a table`);
    }
    const leaf = key[key.length - 1]!;
    if (Object.hasOwn(table, leaf)) c.fail(`duplicate key ${JSON.stringify(key.join('.'))}`);
    table[leaf] = value;
    c.endOfLine();
  }
}
