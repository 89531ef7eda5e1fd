// Compression detection by magic bytes, and whole-file decompression for archives.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { BaseError } from '../errors.ts';

export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

export class CompressionError extends BaseError<'COMPRESSION_UNSUPPORTED' | 'DECOMPRESSION_FAILED'> {}

export const COMPRESSION_SNIFF_BYTES = 6;

export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  const xz = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
  if (xz.every((b, i) => head[i] === b)) return 'xz';
  return 'none';
}

/** A zlib decompressor for gzip/zstd; bzip2 and xz need external tools (see decompressFile). */
export function zlibDecompressor(format: Compression): Transform | undefined {
  if (format === 'gzip') return zlib.createGunzip();
  if (format === 'zstd') return zlib.createZstdDecompress();
  return undefined;
}

export async function detectFileCompression(path: string): Promise<Compression> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(COMPRESSION_SNIFF_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** Decompresses `path` (gzip, zstd natively; xz, bzip2 via the xz/bzip2 tools) into `target`. */
export async function decompressFile(path: string, format: Compression, target: string): Promise<void> {
  const native = zlibDecompressor(format);
  if (native !== undefined) {
    await pipeline(createReadStream(path), native, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
    return;
  }
  if (format !== 'xz' && format !== 'bzip2') {
    throw new CompressionError('COMPRESSION_UNSUPPORTED', `decompressing ${format} is not supported`);
  }
  const child = spawn(format, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (err) =>
      reject(
        new CompressionError(
          'COMPRESSION_UNSUPPORTED',
          `decompressing ${format}: the ${format} tool is not available`,
          {
            cause: err,
          },
        ),
      ),
    );
    child.on('close', (code) => resolve(code ?? 1));
  });
  await Promise.all([
    pipeline(createReadStream(path), child.stdin),
    pipeline(child.stdout, createWriteStream(target, { flags: 'wx', mode: 0o600 })),
    exited.then((code) => {
      if (code !== 0)
        throw new CompressionError('DECOMPRESSION_FAILED', `${format} -dc exited with status ${code}`);
    }),
  ]);
}

/** Waits until `stream` can be read, has ended, or failed. */
function readable(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', done);
      if (err !== undefined) reject(err);
      else resolve();
    };
    const onReadable = () => done();
    const onEnd = () => done();
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', done);
  });
}

/**
 * Reads the first bytes of `stream` to detect its compression, then puts them back (unshift):
 * the same stream is returned, with no extra stage in the pipeline.
 */
export async function sniffedStream(
  stream: Readable,
): Promise<{ compression: Compression; stream: Readable }> {
  const head: Buffer[] = [];
  let have = 0;
  while (have < COMPRESSION_SNIFF_BYTES && !stream.readableEnded) {
    const chunk = stream.read() as Buffer | null;
    if (chunk === null) {
      if (stream.errored !== null) throw stream.errored;
      await readable(stream);
      continue;
    }
    head.push(chunk);
    have += chunk.length;
  }
  const bytes = Buffer.concat(head);
  if (bytes.length > 0) stream.unshift(bytes);
  return { compression: detectCompression(bytes.subarray(0, COMPRESSION_SNIFF_BYTES)), stream };
}
