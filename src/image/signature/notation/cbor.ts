// A bounded CBOR (RFC 8949) decoder for COSE_Sign1 envelopes, and the one encoding COSE needs
// (Sig_structure). Our own rather than a library (cbor-x, cborg, cbor2 were considered): a COSE
// verifier needs decoding of a small subset, with go-cose's strictness (indefinite lengths and
// duplicate map keys rejected, map keys only integers or text) and hard bounds on nesting depth
// and item count that none of them offers as a whole; encoding is four items of one fixed shape.
import { NotationError } from './errors.ts';

export interface CborTagged {
  readonly tag: number;
  readonly value: CborValue;
}
export type CborKey = number | string;
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | Map<CborKey, CborValue>
  | CborTagged;

export const MAX_CBOR_DEPTH = 16;
export const MAX_CBOR_ITEMS = 4096;

function malformed(detail: string): NotationError {
  return new NotationError('NOTATION_ENVELOPE_MALFORMED', `decoding cbor: ${detail}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = 0;
  items = 0;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.pos + n > this.bytes.length) throw malformed('truncated');
  }
  /** The argument of a head: a count, a length or an integer's magnitude. */
  argument(info: number): number | bigint {
    if (info < 24) return info;
    switch (info) {
      case 24:
        this.need(1);
        return this.bytes[this.pos++]!;
      case 25:
        this.need(2);
        this.pos += 2;
        return this.view.getUint16(this.pos - 2);
      case 26:
        this.need(4);
        this.pos += 4;
        return this.view.getUint32(this.pos - 4);
      case 27: {
        this.need(8);
        this.pos += 8;
        const v = this.view.getBigUint64(this.pos - 8);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 31:
        throw malformed('indefinite lengths are not accepted');
      default:
        throw malformed(`reserved additional information ${info}`);
    }
  }
  length(info: number): number {
    const n = this.argument(info);
    if (typeof n === 'bigint' || n > this.bytes.length) throw malformed('length beyond the input');
    return n;
  }
  item(depth: number): CborValue {
    if (depth > MAX_CBOR_DEPTH) throw malformed(`nested deeper than ${MAX_CBOR_DEPTH}`);
    if (++this.items > MAX_CBOR_ITEMS) throw malformed(`more than ${MAX_CBOR_ITEMS} items`);
    this.need(1);
    const head = this.bytes[this.pos++]!;
    const major = head >> 5;
    const info = head & 0x1f;
    switch (major) {
      case 0:
        return this.argument(info);
      case 1: {
        const n = this.argument(info);
        return typeof n === 'bigint' ? -1n - n : -1 - n;
      }
      case 2: {
        const n = this.length(info);
        this.need(n);
        this.pos += n;
        return this.bytes.subarray(this.pos - n, this.pos);
      }
      case 3: {
        const n = this.length(info);
        this.need(n);
        this.pos += n;
        try {
          return utf8.decode(this.bytes.subarray(this.pos - n, this.pos));
        } catch {
          throw malformed('invalid utf-8 in a text string');
        }
      }
      case 4: {
        const n = this.length(info);
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        const n = this.length(info);
        const out = new Map<CborKey, CborValue>();
        for (let i = 0; i < n; i++) {
          const key = this.item(depth + 1);
          if (typeof key !== 'number' && typeof key !== 'string')
            throw malformed('map keys must be integers or text');
          if (out.has(key)) throw malformed(`duplicate map key ${JSON.stringify(key)}`);
          out.set(key, this.item(depth + 1));
        }
        return out;
      }
      case 6: {
        const tag = this.argument(info);
        if (typeof tag === 'bigint') throw malformed('tag number too large');
        return { tag, value: this.item(depth + 1) };
      }
      default:
        return this.simple(info);
    }
  }
  simple(info: number): CborValue {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25: {
        this.need(2);
        this.pos += 2;
        return halfFloat(this.view.getUint16(this.pos - 2));
      }
      case 26:
        this.need(4);
        this.pos += 4;
        return this.view.getFloat32(this.pos - 4);
      case 27:
        this.need(8);
        this.pos += 8;
        return this.view.getFloat64(this.pos - 8);
      default:
        throw malformed(`unsupported simple value ${info}`);
    }
  }
}

function halfFloat(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * 2 ** -14 * (mant / 1024);
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + mant / 1024);
}

/** Decodes exactly one CBOR data item spanning all of `bytes`. */
export function decodeCbor(bytes: Uint8Array): CborValue {
  const r = new Reader(bytes);
  const value = r.item(0);
  if (r.pos !== bytes.length) throw malformed(`${bytes.length - r.pos} bytes after the data item`);
  return value;
}

function head(major: number, n: number): Uint8Array {
  if (n < 24) return Uint8Array.of((major << 5) | n);
  if (n < 0x100) return Uint8Array.of((major << 5) | 24, n);
  if (n < 0x10000) return Uint8Array.of((major << 5) | 25, n >> 8, n & 0xff);
  const out = new Uint8Array(5);
  out[0] = (major << 5) | 26;
  new DataView(out.buffer).setUint32(1, n);
  return out;
}

const SIGNATURE1 = Buffer.concat([head(3, 10), Buffer.from('Signature1')]);

/** ToBeSigned of a COSE_Sign1 (RFC 9052 4.4): ["Signature1", protected, h'', payload]. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Buffer {
  return Buffer.concat([
    head(4, 4),
    SIGNATURE1,
    head(2, protectedBytes.length),
    protectedBytes,
    head(2, 0),
    head(2, payload.length),
    payload,
  ]);
}
