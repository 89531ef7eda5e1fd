// File helpers of the local transports: temp names, atomic renames, verified blob storage.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, DigestError, Digester, digestAlgorithm } from '../digest.ts';
import { LocalTransportError } from './errors.ts';

export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
export const MAX_SIGNATURE_SIZE = 4 * 1024 * 1024;
export const MAX_CONFIG_SIZE = 4 * 1024 * 1024;

/** A hidden sibling name for `path`, for writing before an atomic rename. */
export function tempSibling(path: string, tag = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${randomBytes(6).toString('hex')}`);
}

/** Writes `data` so readers see either the old file or the whole new one. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temp = tempSibling(path);
  try {
    await writeFile(temp, data, { mode: 0o644 });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export interface StoredBlob {
  readonly path: string;
  readonly digest: Digest;
  readonly size: number;
}

/** Large buffers for blob files: fewer, larger (vectored) writes and reads. */
export const BLOB_IO_CHUNK = 256 * 1024;

/**
 * Streams a blob into a new temp file in `dir`. The bytes are hashed unless `options.streamVerified`
 * says the stream already fails on a digest mismatch; the file is deleted and DIGEST_MISMATCH thrown
 * when the result differs from what `expected` announced.
 */
export async function storeStream(
  stream: Readable,
  dir: string,
  expected: { readonly digest?: Digest; readonly size: number },
  what: string,
  options: { readonly streamVerified?: boolean } = {},
): Promise<StoredBlob> {
  const path = join(dir, `.blob-${randomBytes(8).toString('hex')}.partial`);
  const trusted = options.streamVerified === true && expected.digest !== undefined;
  const digester = new Digester(expected.digest === undefined ? 'sha256' : digestAlgorithm(expected.digest));
  let size = 0;
  const measuring = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      size += chunk.length;
      if (!trusted) digester.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(
      stream,
      measuring,
      createWriteStream(path, { flags: 'wx', mode: 0o644, highWaterMark: BLOB_IO_CHUNK }),
    );
    if (expected.size >= 0 && size !== expected.size) {
      throw new DigestError(
        'DIGEST_MISMATCH',
        `${what}: size mismatch: expected ${expected.size} bytes, got ${size}`,
      );
    }
    const digest = trusted ? (expected.digest as Digest) : digester.digest();
    if (expected.digest !== undefined && digest !== expected.digest) {
      throw new DigestError(
        'DIGEST_MISMATCH',
        `${what}: digest did not match, expected ${expected.digest}, got ${digest}`,
      );
    }
    return { path, digest, size };
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
}

/** Reads a whole small file, refusing anything larger than `limit`; undefined when missing. */
export async function readBounded(path: string, limit: number, what: string): Promise<Buffer | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    if (size > limit)
      throw new LocalTransportError('TOO_LARGE', `${what}: ${size} bytes exceeds the ${limit} byte limit`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** A blob file as a stream with its size; BLOB_NOT_FOUND when it is missing. */
export async function openBlobFile(path: string, what: string): Promise<{ stream: Readable; size: number }> {
  try {
    const st = await stat(path);
    return { stream: createReadStream(path, { highWaterMark: BLOB_IO_CHUNK }), size: st.size };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LocalTransportError('BLOB_NOT_FOUND', `${what}: no such blob`, { cause: err });
    }
    throw err;
  }
}

/** The size of an existing blob file, or undefined when there is none. */
export async function existingBlobSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}
