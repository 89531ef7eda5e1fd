// A small streaming tar reader/writer (ustar + pax + GNU long names), enough for image archives.
// Written here rather than taking tar-stream: we need positional indexing of archive files (to serve
// blobs by offset without extracting) and bounded, path-safe extraction, which tar-stream leaves to us.
import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { BaseError } from '../errors.ts';

export type TarErrorCode =
  | 'TAR_CORRUPT'
  | 'TAR_TRUNCATED'
  | 'TAR_LIMIT_EXCEEDED'
  | 'TAR_UNSAFE_PATH'
  | 'TAR_SIZE_MISMATCH';

export class TarError extends BaseError<TarErrorCode> {}

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** The name as stored (pax/GNU long names applied), not yet normalized. */
  readonly name: string;
  readonly type: TarEntryType;
  readonly size: number;
  readonly linkName: string;
  readonly mode: number;
  /** Offset of the entry's data from the start of the archive. */
  readonly dataOffset: number;
}

export interface TarLimits {
  /** Most entries accepted; default 1_000_000. */
  readonly maxEntries?: number;
  /** Largest pax/GNU extension record; default 1 MiB. */
  readonly maxExtensionSize?: number;
}

const BLOCK = 512;
const DEFAULT_MAX_ENTRIES = 1_000_000;
const DEFAULT_MAX_EXTENSION = 1 << 20;
const MAX_NAME = 4096;

/** Where the reader gets bytes: a stream (sequential) or a file (positional). */
export interface TarInput {
  /** Exactly `n` bytes, or undefined at a clean end of input; throws TAR_TRUNCATED on a partial read. */
  read(n: number): Promise<Buffer | undefined>;
  skip(n: number): Promise<void>;
  readonly position: number;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function cString(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  return block.toString('utf8', start, end < 0 || end > start + length ? start + length : end);
}

function parseNumber(block: Buffer, start: number, length: number, field: string): number {
  const first = block[start]!;
  if (first & 0x80) {
    // base-256 (GNU) for sizes past 8 GiB
    let value = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i]!;
    if (!Number.isSafeInteger(value)) throw new TarError('TAR_CORRUPT', `tar header: ${field} too large`);
    return value;
  }
  const text = block
    .toString('ascii', start, start + length)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new TarError('TAR_CORRUPT', `tar header: invalid ${field} ${JSON.stringify(text)}`);
  }
  return Number.parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = parseNumber(block, 148, 8, 'checksum');
  let unsigned = 0;
  for (let i = 0; i < BLOCK; i++) unsigned += i >= 148 && i < 156 ? 32 : block[i]!;
  return stored === unsigned;
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw new TarError('TAR_CORRUPT', 'pax header: missing length');
    const length = Number.parseInt(data.toString('ascii', pos, space), 10);
    if (!Number.isSafeInteger(length) || length <= space - pos || pos + length > data.length) {
      throw new TarError('TAR_CORRUPT', 'pax header: invalid record length');
    }
    const record = data.toString('utf8', space + 1, pos + length - 1);
    const eq = record.indexOf('=');
    if (eq < 0) throw new TarError('TAR_CORRUPT', 'pax header: record without "="');
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return out;
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    default:
      return 'other';
  }
}

/** Reads tar headers one at a time; the caller reads or skips each entry's data before calling next. */
export class TarHeaderReader {
  readonly #input: TarInput;
  readonly #maxEntries: number;
  readonly #maxExtension: number;
  #entries = 0;
  #pendingSkip = 0;
  #done = false;

  constructor(input: TarInput, limits: TarLimits = {}) {
    this.#input = input;
    this.#maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#maxExtension = limits.maxExtensionSize ?? DEFAULT_MAX_EXTENSION;
  }

  /** Marks how much of the current entry's data (plus padding) the caller left unread. */
  async #skipPending(): Promise<void> {
    if (this.#pendingSkip > 0) await this.#input.skip(this.#pendingSkip);
    this.#pendingSkip = 0;
  }

  /** The next entry, or undefined at the end of the archive. The data must be consumed via `data`. */
  async next(): Promise<TarEntry | undefined> {
    await this.#skipPending();
    if (this.#done) return undefined;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await this.#input.read(BLOCK);
      if (block === undefined || block.every((b) => b === 0)) {
        this.#done = true;
        if (block === undefined && this.#entries === 0) {
          throw new TarError('TAR_CORRUPT', 'tar: empty input, expected a tar archive');
        }
        return undefined;
      }
      if (!checksumOk(block)) throw new TarError('TAR_CORRUPT', 'tar header: checksum mismatch');
      const flag = String.fromCharCode(block[156]!);
      let size = parseNumber(block, 124, 12, 'size');
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > this.#maxExtension) {
          throw new TarError('TAR_LIMIT_EXCEEDED', `tar header: extension record of ${size} bytes too large`);
        }
        const data = (await this.#input.read(size + padding(size))) ?? Buffer.alloc(0);
        if (data.length < size) throw new TarError('TAR_TRUNCATED', 'tar: truncated extension record');
        const body = data.subarray(0, size);
        if (flag === 'x') pax = parsePax(body);
        else if (flag === 'L') longName = cString(body, 0, body.length);
        else if (flag === 'K') longLink = cString(body, 0, body.length);
        continue;
      }
      if (++this.#entries > this.#maxEntries) {
        throw new TarError('TAR_LIMIT_EXCEEDED', `tar: more than ${this.#maxEntries} entries`);
      }
      const magic = block.toString('ascii', 257, 263);
      let name = cString(block, 0, 100);
      if (magic === 'ustar\0') {
        const prefix = cString(block, 345, 155);
        if (prefix !== '') name = `${prefix}/${name}`;
      }
      name = pax.get('path') ?? longName ?? name;
      const linkName = pax.get('linkpath') ?? longLink ?? cString(block, 157, 100);
      const paxSize = pax.get('size');
      if (paxSize !== undefined) {
        size = Number(paxSize);
        if (!Number.isSafeInteger(size) || size < 0)
          throw new TarError('TAR_CORRUPT', 'pax header: bad size');
      }
      if (name.length > MAX_NAME || linkName.length > MAX_NAME) {
        throw new TarError('TAR_LIMIT_EXCEEDED', 'tar: entry name too long');
      }
      const type = typeOf(flag);
      const dataSize = type === 'file' || type === 'other' ? size : 0;
      const entry: TarEntry = {
        name,
        type,
        size: dataSize,
        linkName,
        mode: parseNumber(block, 100, 8, 'mode'),
        dataOffset: this.#input.position,
      };
      this.#pendingSkip = dataSize + padding(dataSize);
      return entry;
    }
  }

  /** Streams the current entry's data; call at most once per entry, before `next`. */
  async *data(entry: TarEntry): AsyncGenerator<Buffer> {
    let remaining = entry.size;
    const total = entry.size + padding(entry.size);
    this.#pendingSkip = total;
    const chunk = 1 << 20;
    while (remaining > 0) {
      const n = Math.min(chunk, remaining);
      const buf = await this.#input.read(n);
      if (buf === undefined) throw new TarError('TAR_TRUNCATED', `tar: truncated data of ${entry.name}`);
      remaining -= n;
      this.#pendingSkip -= n;
      yield buf;
    }
  }
}

/** A TarInput over an async byte stream. */
export class StreamTarInput implements TarInput {
  readonly #it: AsyncIterator<Uint8Array>;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #position = 0;
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  get position(): number {
    return this.#position;
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffered < n && !this.#ended) {
      const r = await this.#it.next();
      if (r.done) {
        this.#ended = true;
        break;
      }
      const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      this.#chunks.push(b);
      this.#buffered += b.length;
    }
  }

  #take(n: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered -= n;
    this.#position += n;
    return all.subarray(0, n);
  }

  async read(n: number): Promise<Buffer | undefined> {
    if (n === 0) return Buffer.alloc(0);
    await this.#fill(n);
    if (this.#buffered === 0) return undefined;
    if (this.#buffered < n) throw new TarError('TAR_TRUNCATED', 'tar: unexpected end of archive');
    return this.#take(n);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      await this.#fill(1);
      if (this.#buffered === 0) throw new TarError('TAR_TRUNCATED', 'tar: unexpected end of archive');
      const k = Math.min(left, this.#buffered);
      this.#take(k);
      left -= k;
    }
  }
}

/** A TarInput over a file read at positions, so skipping data costs nothing. */
export class FileTarInput implements TarInput {
  readonly #file: FileHandle;
  readonly #size: number;
  #position = 0;

  constructor(file: FileHandle, size: number) {
    this.#file = file;
    this.#size = size;
  }

  get position(): number {
    return this.#position;
  }

  async read(n: number): Promise<Buffer | undefined> {
    if (this.#position >= this.#size) return undefined;
    if (this.#position + n > this.#size)
      throw new TarError('TAR_TRUNCATED', 'tar: unexpected end of archive');
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.#file.read(buf, got, n - got, this.#position + got);
      if (bytesRead === 0) throw new TarError('TAR_TRUNCATED', 'tar: unexpected end of archive');
      got += bytesRead;
    }
    this.#position += n;
    return buf;
  }

  async skip(n: number): Promise<void> {
    if (this.#position + n > this.#size)
      throw new TarError('TAR_TRUNCATED', 'tar: unexpected end of archive');
    this.#position += n;
  }
}

// ---- writer ----

function writeOctal(block: Buffer, value: number, start: number, length: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, start, length, 'ascii');
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  // The record length counts its own decimal digits.
  let total = bodyLength + 1;
  for (;;) {
    const next = bodyLength + String(total).length;
    if (next === total) break;
    total = next;
  }
  return Buffer.from(`${total}${body}`, 'utf8');
}

const MAX_OCTAL_SIZE = 0o77777777777;

function header(
  name: string,
  type: '0' | '2' | '5' | 'x',
  size: number,
  linkName = '',
  mode = 0o644,
): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'utf8');
  writeOctal(block, mode, 100, 8);
  writeOctal(block, 0, 108, 8);
  writeOctal(block, 0, 116, 8);
  writeOctal(block, size, 124, 12);
  writeOctal(block, 0, 136, 12);
  block.write(type, 156, 1, 'ascii');
  block.write(linkName, 157, 100, 'utf8');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  // Go's archive/tar fills devmajor/devminor too; matching it keeps archives byte-identical to skopeo's.
  writeOctal(block, 0, 329, 8);
  writeOctal(block, 0, 337, 8);
  block.fill(32, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/** Writes a tar archive to a stream, honouring backpressure; each entry's size is fixed up front. */
export class TarWriter {
  readonly #out: Writable;

  constructor(out: Writable) {
    this.#out = out;
  }

  async #write(buf: Uint8Array): Promise<void> {
    if (!this.#out.write(buf)) await once(this.#out, 'drain');
  }

  async #header(
    name: string,
    type: '0' | '2' | '5',
    size: number,
    linkName = '',
    mode?: number,
  ): Promise<void> {
    const needsPax =
      Buffer.byteLength(name) > 100 || Buffer.byteLength(linkName) > 100 || size > MAX_OCTAL_SIZE;
    if (needsPax) {
      const records = [paxRecord('path', name)];
      if (linkName !== '') records.push(paxRecord('linkpath', linkName));
      if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
      const body = Buffer.concat(records);
      await this.#write(header('PaxHeaders/entry', 'x', body.length));
      await this.#write(body);
      await this.#write(Buffer.alloc(padding(body.length)));
    }
    const shortName = needsPax ? name.slice(0, 99) : name;
    await this.#write(
      header(shortName, type, size > MAX_OCTAL_SIZE ? 0 : size, needsPax ? '' : linkName, mode),
    );
  }

  async addBytes(name: string, data: Uint8Array): Promise<void> {
    await this.#header(name, '0', data.byteLength, '', 0o444);
    await this.#write(data);
    await this.#write(Buffer.alloc(padding(data.byteLength)));
  }

  /** Writes `size` bytes from `body`; fails with TAR_SIZE_MISMATCH if the body has a different length. */
  async addStream(name: string, size: number, body: AsyncIterable<Uint8Array>): Promise<void> {
    await this.#header(name, '0', size, '', 0o444);
    let written = 0;
    for await (const chunk of body) {
      written += chunk.byteLength;
      if (written > size) break;
      await this.#write(chunk);
    }
    if (written !== size) {
      throw new TarError('TAR_SIZE_MISMATCH', `tar: writing ${name}: expected ${size} bytes, got ${written}`);
    }
    await this.#write(Buffer.alloc(padding(size)));
  }

  async addSymlink(name: string, target: string): Promise<void> {
    await this.#header(name, '2', 0, target, 0);
  }

  async addDirectory(name: string): Promise<void> {
    await this.#header(name.endsWith('/') ? name : `${name}/`, '5', 0, '', 0o755);
  }

  /** Writes the end-of-archive marker and ends the stream. */
  async finish(): Promise<void> {
    await this.#write(Buffer.alloc(BLOCK * 2));
    this.#out.end();
    if (!this.#out.writableFinished) await once(this.#out, 'finish');
  }
}
