// Layer compression: detection by magic bytes, and the zlib transforms (gzip; zstd from Node 24).
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { type Compression, zlibDecompressor } from '../archive/compression.ts';
import { type CompressionFormat, CopyError } from './types.ts';

export type DetectedCompression = Compression;

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
  const d = zlibDecompressor(format);
  if (d === undefined) {
    throw new CopyError('COMPRESSION_UNSUPPORTED', `decompressing ${format} layers is not supported`);
  }
  return d;
}
