// registries.conf's TOML: smol-toml parses (the one module that imports it), then the result is
// held to the subset registries.conf uses: tables, arrays of tables, strings, booleans, integers
// and arrays. Dates, floats, inline tables and multi-line strings are refused with where they
// are, rather than read into something the configuration never meant.
import { type TomlValue as ParsedValue, parse, TomlDate, TomlError } from 'smol-toml';
import { RegistriesError } from './errors.ts';

export type TomlValue = string | boolean | number | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

const MAX_INPUT = 1 << 20;
const MAX_DEPTH = 32;

function invalid(where: string, detail: string): never {
  throw new RegistriesError('TOML_INVALID', `toml: ${where}: ${detail}`);
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * Inline tables and multi-line strings leave no trace in the parsed tree, so they are found in
 * the text. The text has parsed, so outside strings and comments a `{` can only open an inline
 * table and a tripled quote only a multi-line string.
 */
function refuseInlineForms(text: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '#') {
      i = text.indexOf('\n', i);
      if (i === -1) return;
    } else if (c === '"' || c === "'") {
      if (text.startsWith(c.repeat(3), i))
        invalid(`line ${lineOf(text, i)}`, 'multi-line strings are not supported');
      for (i++; text[i] !== c; i++) if (c === '"' && text[i] === '\\') i++;
    } else if (c === '{') invalid(`line ${lineOf(text, i)}`, 'inline tables are not supported');
  }
}

function keyPath(parent: string, key: string): string {
  const part = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return parent === '' ? part : `${parent}.${part}`;
}

/** The parsed value as registries.conf may use it; `where` is its key path, for messages. */
function subset(v: ParsedValue, where: string): TomlValue {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      invalid(where, 'integer out of range');
    }
    return Number(v);
  }
  if (typeof v === 'number') invalid(where, 'floats are not supported');
  if (v instanceof TomlDate || v instanceof Date) invalid(where, 'dates and times are not supported');
  if (Array.isArray(v)) return v.map((item, i) => subset(item, `${where}[${i}]`));
  if (typeof v !== 'object' || v === null) invalid(where, 'unsupported value');
  const table: TomlTable = {};
  for (const [key, value] of Object.entries(v)) {
    // defineProperty, so that a key named __proto__ stays a key.
    Object.defineProperty(table, key, {
      value: subset(value, keyPath(where, key)),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return table;
}

/** Parses a registries.conf document into plain objects of the supported subset. */
export function parseToml(text: string): TomlTable {
  if (text.length > MAX_INPUT)
    throw new RegistriesError('TOML_INVALID', `toml: larger than ${MAX_INPUT} bytes`);
  let doc: ParsedValue;
  try {
    doc = parse(text, { integersAsBigInt: true, maxDepth: MAX_DEPTH });
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // The first line only: the rest of smol-toml's message quotes the document.
    const detail = err.message.split('\n', 1)[0]!.replace(/^Invalid TOML document: /, '');
    throw new RegistriesError('TOML_INVALID', `toml: line ${err.line}, column ${err.column}: ${detail}`, {
      cause: err,
    });
  }
  refuseInlineForms(text);
  return subset(doc, '') as TomlTable;
}
