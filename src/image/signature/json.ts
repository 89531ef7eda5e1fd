// A strict, token-level JSON reader shared by policy.json, signature payloads and (later) the
// policy CRD. JSON.parse silently keeps the last of duplicate keys, which would let a reviewer
// and the evaluator read two different policies from the same bytes, so this parser rejects
// duplicates itself and remembers where every value came from for error messages.
import { Buffer } from 'node:buffer';
import { BaseError } from '../errors.ts';

export type JsonErrorCode =
  | 'JSON_SYNTAX'
  | 'JSON_TOO_LARGE'
  | 'JSON_TOO_DEEP'
  | 'JSON_TRAILING_DATA'
  | 'JSON_DUPLICATE_KEY'
  | 'JSON_UNKNOWN_KEY'
  | 'JSON_MISSING_KEY'
  | 'JSON_WRONG_TYPE'
  | 'JSON_INVALID_VALUE';

export interface JsonLocation {
  /** RFC 6901 pointer of the offending value ("" = the document). */
  readonly pointer: string;
  /** 1-based line and column (columns count UTF-16 code units). */
  readonly line: number;
  readonly column: number;
}

export class JsonError extends BaseError<JsonErrorCode> {
  readonly location: JsonLocation;

  constructor(code: JsonErrorCode, detail: string, location: JsonLocation, options?: { cause?: unknown }) {
    const where = `${location.pointer === '' ? '(document)' : location.pointer} at ${location.line}:${location.column}`;
    super(code, `${where}: ${detail}`, options);
    this.location = location;
  }
}

interface NodeBase {
  readonly pointer: string;
  readonly line: number;
  readonly column: number;
}

export interface JsonObjectNode extends NodeBase {
  readonly kind: 'object';
  /** Members in document order; keys are unique. */
  readonly members: ReadonlyMap<string, JsonNode>;
}
export interface JsonArray extends NodeBase {
  readonly kind: 'array';
  readonly items: readonly JsonNode[];
}
export interface JsonString extends NodeBase {
  readonly kind: 'string';
  readonly value: string;
}
export interface JsonNumber extends NodeBase {
  readonly kind: 'number';
  readonly value: number;
  /** The literal as written, for checks (exact integers) the float value cannot answer. */
  readonly raw: string;
}
export interface JsonBoolean extends NodeBase {
  readonly kind: 'boolean';
  readonly value: boolean;
}
export interface JsonNull extends NodeBase {
  readonly kind: 'null';
}
export type JsonNode = JsonObjectNode | JsonArray | JsonString | JsonNumber | JsonBoolean | JsonNull;

export interface JsonLimits {
  /** Bytes (or UTF-16 units for string input); default 4 MiB. */
  readonly maxBytes?: number;
  /** Nesting of objects and arrays; default 64. */
  readonly maxDepth?: number;
}

export const DEFAULT_JSON_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_JSON_MAX_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function describeChar(c: string | undefined): string {
  return c === undefined ? 'end of input' : JSON.stringify(c);
}

class Parser {
  readonly #text: string;
  readonly #maxDepth: number;
  #pos = 0;
  #line = 1;
  #lineStart = 0;

  constructor(text: string, maxDepth: number) {
    this.#text = text;
    this.#maxDepth = maxDepth;
  }

  fail(code: JsonErrorCode, detail: string, pointer: string): never {
    throw new JsonError(code, detail, {
      pointer,
      line: this.#line,
      column: this.#pos - this.#lineStart + 1,
    });
  }

  skipWhitespace(): void {
    const t = this.#text;
    while (this.#pos < t.length) {
      const c = t.charCodeAt(this.#pos);
      if (c === 0x20 || c === 0x09 || c === 0x0d) {
        this.#pos++;
      } else if (c === 0x0a) {
        this.#pos++;
        this.#line++;
        this.#lineStart = this.#pos;
      } else {
        break;
      }
    }
  }

  document(): JsonNode {
    this.skipWhitespace();
    const node = this.value('', 0);
    this.skipWhitespace();
    if (this.#pos < this.#text.length) {
      this.fail('JSON_TRAILING_DATA', 'unexpected data after the top-level value', '');
    }
    return node;
  }

  value(pointer: string, depth: number): JsonNode {
    const c = this.#text[this.#pos];
    const base = { pointer, line: this.#line, column: this.#pos - this.#lineStart + 1 };
    switch (c) {
      case '{':
        return this.object(pointer, depth + 1, base);
      case '[':
        return this.array(pointer, depth + 1, base);
      case '"':
        return { kind: 'string', value: this.string(pointer), ...base };
      case 't':
        this.literal('true', pointer);
        return { kind: 'boolean', value: true, ...base };
      case 'f':
        this.literal('false', pointer);
        return { kind: 'boolean', value: false, ...base };
      case 'n':
        this.literal('null', pointer);
        return { kind: 'null', ...base };
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
          const raw = this.number(pointer);
          return { kind: 'number', value: Number(raw), raw, ...base };
        }
        return this.fail('JSON_SYNTAX', `expected a JSON value, got ${describeChar(c)}`, pointer);
    }
  }

  literal(word: string, pointer: string): void {
    if (this.#text.startsWith(word, this.#pos)) {
      this.#pos += word.length;
      return;
    }
    this.fail('JSON_SYNTAX', `expected ${word}`, pointer);
  }

  number(pointer: string): string {
    const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    m.lastIndex = this.#pos;
    const found = m.exec(this.#text);
    if (found === null) this.fail('JSON_SYNTAX', 'expected a number', pointer);
    this.#pos += found[0].length;
    return found[0];
  }

  string(pointer: string): string {
    const t = this.#text;
    this.#pos++; // opening quote
    let out = '';
    let chunkStart = this.#pos;
    for (;;) {
      if (this.#pos >= t.length) this.fail('JSON_SYNTAX', 'unterminated string', pointer);
      const c = t.charCodeAt(this.#pos);
      if (c === 0x22) {
        out += t.slice(chunkStart, this.#pos);
        this.#pos++;
        return out;
      }
      if (c < 0x20) this.fail('JSON_SYNTAX', 'control character in string', pointer);
      if (c !== 0x5c) {
        this.#pos++;
        continue;
      }
      out += t.slice(chunkStart, this.#pos);
      const e = t[this.#pos + 1];
      this.#pos += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const unit = this.hex4(this.#pos, pointer);
          this.#pos += 4;
          if (unit < 0xd800 || unit > 0xdfff) {
            out += String.fromCharCode(unit);
            break;
          }
          // Go's decoder, which policy.json means: a surrogate pair is one character, and a lone
          // surrogate becomes U+FFFD (so "\ud800" and "\udc00" are the same key, a duplicate).
          const low = t.startsWith('\\u', this.#pos) ? this.hex4(this.#pos + 2, pointer) : -1;
          if (unit <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
            out += String.fromCharCode(unit, low);
            this.#pos += 6;
          } else {
            out += '\ufffd';
          }
          break;
        }
        default:
          this.#pos -= 1;
          this.fail('JSON_SYNTAX', `invalid escape ${describeChar(e)}`, pointer);
      }
      chunkStart = this.#pos;
    }
  }

  /** The four hex digits of a \\u escape at `at`, as a UTF-16 code unit. */
  hex4(at: number, pointer: string): number {
    const hex = this.#text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('JSON_SYNTAX', 'invalid \\u escape', pointer);
    return Number.parseInt(hex, 16);
  }

  object(pointer: string, depth: number, base: NodeBase): JsonObjectNode {
    if (depth > this.#maxDepth) {
      this.fail('JSON_TOO_DEEP', `nesting deeper than ${this.#maxDepth} levels`, pointer);
    }
    this.#pos++;
    const members = new Map<string, JsonNode>();
    this.skipWhitespace();
    if (this.#text[this.#pos] === '}') {
      this.#pos++;
      return { kind: 'object', members, ...base };
    }
    for (;;) {
      this.skipWhitespace();
      if (this.#text[this.#pos] !== '"') {
        this.fail(
          'JSON_SYNTAX',
          `expected a string key, got ${describeChar(this.#text[this.#pos])}`,
          pointer,
        );
      }
      const keyLine = this.#line;
      const keyColumn = this.#pos - this.#lineStart + 1;
      const key = this.string(pointer);
      const child = `${pointer}/${escapePointerToken(key)}`;
      if (members.has(key)) {
        throw new JsonError('JSON_DUPLICATE_KEY', `duplicate key ${JSON.stringify(key)}`, {
          pointer: child,
          line: keyLine,
          column: keyColumn,
        });
      }
      this.skipWhitespace();
      if (this.#text[this.#pos] !== ':') {
        this.fail('JSON_SYNTAX', `expected ":", got ${describeChar(this.#text[this.#pos])}`, child);
      }
      this.#pos++;
      this.skipWhitespace();
      members.set(key, this.value(child, depth));
      this.skipWhitespace();
      const sep = this.#text[this.#pos];
      this.#pos++;
      if (sep === '}') return { kind: 'object', members, ...base };
      if (sep !== ',') {
        this.#pos--;
        this.fail('JSON_SYNTAX', `expected "," or "}", got ${describeChar(sep)}`, pointer);
      }
    }
  }

  array(pointer: string, depth: number, base: NodeBase): JsonArray {
    if (depth > this.#maxDepth) {
      this.fail('JSON_TOO_DEEP', `nesting deeper than ${this.#maxDepth} levels`, pointer);
    }
    this.#pos++;
    const items: JsonNode[] = [];
    this.skipWhitespace();
    if (this.#text[this.#pos] === ']') {
      this.#pos++;
      return { kind: 'array', items, ...base };
    }
    for (;;) {
      this.skipWhitespace();
      items.push(this.value(`${pointer}/${items.length}`, depth));
      this.skipWhitespace();
      const sep = this.#text[this.#pos];
      this.#pos++;
      if (sep === ']') return { kind: 'array', items, ...base };
      if (sep !== ',') {
        this.#pos--;
        this.fail('JSON_SYNTAX', `expected "," or "]", got ${describeChar(sep)}`, pointer);
      }
    }
  }
}

/**
 * Parses one JSON document strictly: invalid UTF-8, duplicate keys at any level, trailing data,
 * input over `maxBytes` and nesting over `maxDepth` are JsonErrors with a location.
 */
export function parseJson(input: Uint8Array | string, limits: JsonLimits = {}): JsonNode {
  const maxBytes = limits.maxBytes ?? DEFAULT_JSON_MAX_BYTES;
  const size = typeof input === 'string' ? input.length : input.byteLength;
  const start = { pointer: '', line: 1, column: 1 };
  if (size > maxBytes) {
    throw new JsonError('JSON_TOO_LARGE', `expected at most ${maxBytes} bytes, got ${size}`, start);
  }
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = utf8.decode(input);
    } catch (err) {
      throw new JsonError('JSON_SYNTAX', 'invalid UTF-8', start, { cause: err });
    }
  }
  if (text.trim() === '')
    throw new JsonError('JSON_SYNTAX', 'expected a JSON value, got end of input', start);
  return new Parser(text, limits.maxDepth ?? DEFAULT_JSON_MAX_DEPTH).document();
}

// ---- typed access, with errors that say what was expected where ----

function kindName(node: JsonNode): string {
  return node.kind === 'null'
    ? 'null'
    : `${node.kind === 'array' || node.kind === 'object' ? 'an' : 'a'} ${node.kind}`;
}

export function locationOf(node: JsonNode): JsonLocation {
  return { pointer: node.pointer, line: node.line, column: node.column };
}

export function wrongType(node: JsonNode, expected: string): JsonError {
  return new JsonError('JSON_WRONG_TYPE', `expected ${expected}, got ${kindName(node)}`, locationOf(node));
}

export function invalidValue(node: JsonNode, detail: string, options?: { cause?: unknown }): JsonError {
  return new JsonError('JSON_INVALID_VALUE', detail, locationOf(node), options);
}

export function asObject(node: JsonNode, what = 'a JSON object'): JsonObjectNode {
  if (node.kind !== 'object') throw wrongType(node, what);
  return node;
}

export function asArray(node: JsonNode, what = 'a JSON array'): JsonArray {
  if (node.kind !== 'array') throw wrongType(node, what);
  return node;
}

export function asString(node: JsonNode): string {
  if (node.kind !== 'string') throw wrongType(node, 'a string');
  return node.value;
}

export function asStringArray(node: JsonNode): string[] {
  return asArray(node, 'an array of strings').items.map(asString);
}

export function asBoolean(node: JsonNode): boolean {
  if (node.kind !== 'boolean') throw wrongType(node, 'a boolean');
  return node.value;
}

/** A JSON number that is an exact integer (1e3 is accepted, 0.5 is not), as Go's float check does. */
export function asInteger(node: JsonNode): number {
  if (node.kind !== 'number') throw wrongType(node, 'an integer');
  if (!Number.isSafeInteger(node.value)) throw invalidValue(node, `expected an integer, got ${node.raw}`);
  return node.value;
}

const base64Shape = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Standard padded base64, as Go's encoding/json decodes []byte: CR and LF anywhere are skipped
 * (line-wrapped output of `base64`), nothing else is; "" is present and empty.
 */
export function asBase64(node: JsonNode): Uint8Array {
  const s = asString(node).replace(/[\r\n]/g, '');
  if (!base64Shape.test(s)) throw invalidValue(node, 'expected standard base64 data');
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export function asBase64Array(node: JsonNode): Uint8Array[] {
  return asArray(node, 'an array of base64 strings').items.map(asBase64);
}

/** The object's `type` member, which must be one of `kinds` (`what` names the family in errors). */
export function readType(obj: ObjectReader, kinds: readonly string[], what: string): string {
  const t = asString(obj.required('type'));
  if (!kinds.includes(t)) {
    throw invalidValue(
      obj.node,
      `unknown ${what} type ${JSON.stringify(t)}, expected one of ${kinds.join(', ')}`,
    );
  }
  return t;
}

/**
 * Reads the members of one object: `take` each known key, then `finish` rejects the first
 * member nobody took. Keys listed in `required` must be present.
 */
export class ObjectReader {
  readonly node: JsonObjectNode;
  readonly #taken = new Set<string>();

  constructor(node: JsonNode, what = 'a JSON object') {
    this.node = asObject(node, what);
  }

  has(key: string): boolean {
    return this.node.members.has(key);
  }

  take(key: string): JsonNode | undefined {
    this.#taken.add(key);
    return this.node.members.get(key);
  }

  required(key: string): JsonNode {
    const value = this.take(key);
    if (value === undefined) {
      throw new JsonError('JSON_MISSING_KEY', `key ${JSON.stringify(key)} missing`, locationOf(this.node));
    }
    return value;
  }

  /** Marks every remaining member as accepted (and ignored). */
  ignoreRest(): void {
    for (const key of this.node.members.keys()) this.#taken.add(key);
  }

  /** Throws JSON_UNKNOWN_KEY for the first member not taken; `expected` lists the valid keys. */
  finish(expected: readonly string[]): void {
    for (const [key, value] of this.node.members) {
      if (!this.#taken.has(key)) {
        throw new JsonError(
          'JSON_UNKNOWN_KEY',
          `unknown key ${JSON.stringify(key)}, expected one of ${expected.map((k) => JSON.stringify(k)).join(', ')}`,
          locationOf(value),
        );
      }
    }
  }
}
