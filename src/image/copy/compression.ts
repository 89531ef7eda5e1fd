// Layer compression: detection by magic bytes, and the zlib transforms (gzip; zstd from Node 24).
import { Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { type CompressionFormat, CopyError } from './types.ts';

export type DetectedCompression = CompressionFormat | 'bzip2' | 'xz' | 'none';

const SNIFF = 6;

export function detectCompression(head: Uint8Array): DetectedCompression {
  if (head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (
    head[0] === 0xfd &&
    head[1] === 0x37 &&
    head[2] === 0x7a &&
    head[3] === 0x58 &&
    head[4] === 0x5a &&
    head[5] === 0x00
  ) {
    return 'xz';
  }
  return 'none';
}

/** Reads the first bytes of `stream` to detect its compression; the returned stream replays them. */
export async function sniffCompression(
  stream: Readable,
): Promise<{ compression: DetectedCompression; stream: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < SNIFF) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head.push(r.value);
    have += r.value.length;
  }
  const compression = detectCompression(Buffer.concat(head).subarray(0, SNIFF));
  async function* replay(): AsyncGenerator<Buffer> {
    yield* head;
    if (ended) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { compression, stream: Readable.from(replay(), { objectMode: false }) };
}

export function compressor(format: CompressionFormat, level?: number): Transform {
  switch (format) {
    case 'gzip':
      return zlib.createGzip(level === undefined ? {} : { level });
    case 'zstd':
      return zlib.createZstdCompress(
        level === undefined ? {} : { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } },
      );
    default:
      throw new CopyError('COMPRESSION_UNSUPPORTED', `unknown compression format ${JSON.stringify(format)}`);
  }
}

export function decompressor(format: DetectedCompression): Transform {
  switch (format) {
    case 'gzip':
      return zlib.createGunzip();
    case 'zstd':
      return zlib.createZstdDecompress();
    case 'bzip2':
    case 'xz':
    case 'none':
      throw new CopyError('COMPRESSION_UNSUPPORTED', `decompressing ${format} layers is not supported`);
    default:
      throw new CopyError('COMPRESSION_UNSUPPORTED', 'unknown compression');
  }
}
