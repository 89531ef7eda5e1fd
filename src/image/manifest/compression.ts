import { Readable } from 'node:stream';
import { ManifestError } from './errors.ts';
import {
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE,
  DOCKER_V2_SCHEMA2_MEDIA_TYPE,
  isSchema1MIMEType,
  OCI_LAYER_GZIP_MEDIA_TYPE,
  OCI_LAYER_MEDIA_TYPE,
  OCI_LAYER_NONDISTRIBUTABLE_GZIP_MEDIA_TYPE,
  OCI_LAYER_NONDISTRIBUTABLE_MEDIA_TYPE,
  OCI_LAYER_NONDISTRIBUTABLE_ZSTD_MEDIA_TYPE,
  OCI_LAYER_ZSTD_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
} from './mediatypes.ts';

/** Compression of a layer: what a media type says, or what a stream's first bytes show. */
export type Compression = 'uncompressed' | 'gzip' | 'zstd' | 'bzip2' | 'xz';
/** What layers can be written with (bzip2 and xz are read-only, as upstream). */
export type WritableCompression = 'uncompressed' | 'gzip' | 'zstd';

const magic: readonly [Exclude<Compression, 'uncompressed'>, readonly number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];
/** How many leading bytes detectCompression needs. */
export const COMPRESSION_MAGIC_MAX = 6;

/** The compression the first bytes of a blob show (upstream DetectCompressionFormat). */
export function detectCompression(head: Uint8Array): Compression {
  for (const [name, prefix] of magic) {
    if (head.length >= prefix.length && prefix.every((b, i) => head[i] === b)) return name;
  }
  return 'uncompressed';
}

/**
 * Peeks at a stream's first bytes without losing them: returns the compression and a stream that
 * yields every byte of the original (errors and destruction propagate both ways).
 */
export async function detectStreamCompression(
  source: AsyncIterable<Uint8Array>,
): Promise<{ compression: Compression; stream: Readable }> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let length = 0;
  let ended = false;
  while (length < COMPRESSION_MAGIC_MAX) {
    const next = await iterator.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    head.push(next.value);
    length += next.value.byteLength;
  }
  async function* replay(): AsyncGenerator<Uint8Array> {
    try {
      yield* head;
      while (!ended) {
        const next = await iterator.next();
        if (next.done === true) return;
        yield next.value;
      }
    } finally {
      if (!ended) await iterator.return?.();
    }
  }
  return {
    compression: detectCompression(Buffer.concat(head)),
    stream: Readable.from(replay(), { objectMode: false }),
  };
}

// Sets of layer types that differ only in compression (upstream compressionMIMETypeSet tables);
// null marks a variant the format cannot express.
type VariantSet = Readonly<Record<WritableCompression, string | null>>;

const schema2Variants: readonly VariantSet[] = [
  {
    uncompressed: DOCKER_V2_SCHEMA2_FOREIGN_LAYER_MEDIA_TYPE,
    gzip: DOCKER_V2_SCHEMA2_FOREIGN_LAYER_GZIP_MEDIA_TYPE,
    zstd: null,
  },
  {
    uncompressed: DOCKER_V2_SCHEMA2_LAYER_UNCOMPRESSED_MEDIA_TYPE,
    gzip: DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE,
    zstd: null,
  },
];
const ociVariants: readonly VariantSet[] = [
  {
    uncompressed: OCI_LAYER_NONDISTRIBUTABLE_MEDIA_TYPE,
    gzip: OCI_LAYER_NONDISTRIBUTABLE_GZIP_MEDIA_TYPE,
    zstd: OCI_LAYER_NONDISTRIBUTABLE_ZSTD_MEDIA_TYPE,
  },
  { uncompressed: OCI_LAYER_MEDIA_TYPE, gzip: OCI_LAYER_GZIP_MEDIA_TYPE, zstd: OCI_LAYER_ZSTD_MEDIA_TYPE },
];
// Schema1 has no layer types; a stand-in type rejects what schema1 cannot carry.
const schema1Variants: readonly VariantSet[] = [
  { uncompressed: DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE, gzip: DOCKER_V2_SCHEMA2_LAYER_MEDIA_TYPE, zstd: null },
];

function variantTable(manifestMIMEType: string): readonly VariantSet[] {
  if (manifestMIMEType === OCI_MANIFEST_MEDIA_TYPE) return ociVariants;
  if (manifestMIMEType === DOCKER_V2_SCHEMA2_MEDIA_TYPE) return schema2Variants;
  if (isSchema1MIMEType(manifestMIMEType)) return schema1Variants;
  return [];
}

/** The compression a layer media type declares; undefined for types of unknown meaning. */
export function compressionOfMediaType(mediaType: string): WritableCompression | undefined {
  if (mediaType === DOCKER_V2_SCHEMA2_LAYER_ZSTD_MEDIA_TYPE) return 'zstd';
  for (const set of [...schema2Variants, ...ociVariants]) {
    for (const [compression, type] of Object.entries(set) as [WritableCompression, string | null][]) {
      if (type === mediaType) return compression;
    }
  }
  return undefined;
}

/** True when layers of `mediaType` in a `manifestMIMEType` manifest can be (re)compressed. */
export function canChangeLayerCompression(manifestMIMEType: string, mediaType: string): boolean {
  return variantTable(manifestMIMEType).some((set) => Object.values(set).includes(mediaType));
}

/** Whether a manifest type can describe layers compressed with `compression` (zstd: OCI only). */
export function mimeTypeSupportsCompression(manifestMIMEType: string, compression: Compression): boolean {
  switch (compression) {
    case 'gzip':
    case 'uncompressed':
      return true;
    case 'zstd':
      return manifestMIMEType === OCI_MANIFEST_MEDIA_TYPE;
    default:
      return false;
  }
}

/**
 * The media type of a `mediaType` layer once stored with `compression`, in a `manifestMIMEType`
 * manifest (upstream compressionVariantMIMEType). Throws MANIFEST_LAYER_COMPRESSION_INCOMPATIBLE
 * when the format cannot express it (the caller may retry with another format).
 */
export function layerMediaTypeWithCompression(
  manifestMIMEType: string,
  mediaType: string,
  compression: WritableCompression,
): string {
  const set = variantTable(manifestMIMEType).find((s) => Object.values(s).includes(mediaType));
  if (set === undefined) {
    throw new ManifestError(
      'MANIFEST_CONVERSION_UNSUPPORTED',
      `unsupported media type for ${compression === 'uncompressed' ? 'decompression' : 'compression'}: ${JSON.stringify(mediaType)}`,
    );
  }
  const variant = set[compression];
  if (variant === null) {
    throw new ManifestError(
      'MANIFEST_LAYER_COMPRESSION_INCOMPATIBLE',
      `${compression === 'uncompressed' ? 'uncompressed variant' : `${compression} compression`} is not supported for type ${JSON.stringify(mediaType)}`,
    );
  }
  return variant;
}
