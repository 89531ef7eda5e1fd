// A minimal OpenPGP packet walker (RFC 4880 §4), used before any crypto: it checks that a blob
// is one Signed Message (optionally compressed), bounds decompression (a small blob must not
// inflate into gigabytes), and hands out the literal data and the signature packet body.
import { Buffer } from 'node:buffer';
import { inflateRawSync, inflateSync } from 'node:zlib';
import { SignatureError } from '../errors.ts';

/** The signed payload is a small JSON document; more than this after decompression is refused. */
export const MAX_DECOMPRESSED_BYTES = 1024 * 1024;

export const TAG_SIGNATURE = 2;
export const TAG_ONE_PASS_SIGNATURE = 4;
export const TAG_COMPRESSED = 8;
export const TAG_LITERAL = 11;

export interface Packet {
  readonly tag: number;
  readonly body: Uint8Array;
}

export interface SignedMessage {
  /** The literal data packet's content (the signed bytes). */
  readonly data: Uint8Array;
  /** The one signature packet's body. */
  readonly signature: Uint8Array;
}

function malformed(detail: string): SignatureError {
  return new SignatureError('SIGNATURE_INVALID', `Invalid GPG signature: malformed OpenPGP data: ${detail}`);
}

/** Splits `data` into packets, joining partial body lengths. */
export function readPackets(data: Uint8Array): Packet[] {
  const packets: Packet[] = [];
  let pos = 0;
  const byte = (): number => {
    const b = data[pos++];
    if (b === undefined) throw malformed('truncated packet header');
    return b;
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > data.byteLength) throw malformed('truncated packet body');
    const out = data.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < data.byteLength) {
    const header = byte();
    if ((header & 0x80) === 0) throw malformed('not a packet header');
    if ((header & 0x40) === 0) {
      // Old format: tag in bits 5-2, length type in bits 1-0.
      const tag = (header >> 2) & 0x0f;
      const lengthType = header & 0x03;
      let length: number;
      if (lengthType === 0) length = byte();
      else if (lengthType === 1) length = (byte() << 8) | byte();
      else if (lengthType === 2) length = ((byte() << 24) | (byte() << 16) | (byte() << 8) | byte()) >>> 0;
      else length = data.byteLength - pos;
      packets.push({ tag, body: take(length) });
      continue;
    }
    const tag = header & 0x3f;
    const chunks: Uint8Array[] = [];
    for (;;) {
      const first = byte();
      if (first < 192) {
        chunks.push(take(first));
        break;
      }
      if (first < 224) {
        chunks.push(take(((first - 192) << 8) + byte() + 192));
        break;
      }
      if (first === 255) {
        chunks.push(take(((byte() << 24) | (byte() << 16) | (byte() << 8) | byte()) >>> 0));
        break;
      }
      chunks.push(take(1 << (first & 0x1f))); // partial body length: more chunks follow
    }
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    packets.push({ tag, body });
  }
  return packets;
}

function decompress(body: Uint8Array): Uint8Array {
  const algorithm = body[0];
  const rest = body.subarray(1);
  const options = { maxOutputLength: MAX_DECOMPRESSED_BYTES };
  try {
    switch (algorithm) {
      case 0:
        return rest;
      case 1:
        return inflateRawSync(rest, options);
      case 2:
        return inflateSync(rest, options);
      default:
        throw malformed(`unsupported compression algorithm ${String(algorithm)}`);
    }
  } catch (err) {
    if (err instanceof SignatureError) throw err;
    const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw malformed(
      tooLarge ? `decompresses to more than ${MAX_DECOMPRESSED_BYTES} bytes` : 'corrupt compressed data',
    );
  }
}

/** Literal data packet body: format, filename, date, then the data. */
function literalData(body: Uint8Array): Uint8Array {
  const nameLength = body[1];
  if (nameLength === undefined || body.byteLength < 2 + nameLength + 4)
    throw malformed('truncated literal data packet');
  return body.subarray(2 + nameLength + 4);
}

/**
 * Checks the Signed Message grammar this project accepts: [compressed:] [one-pass signature]
 * literal data, signature — exactly one literal and exactly one signature, nothing else.
 */
export function parseSignedMessage(blob: Uint8Array): SignedMessage {
  let packets = readPackets(blob);
  if (packets.length === 1 && packets[0]?.tag === TAG_COMPRESSED)
    packets = readPackets(decompress(packets[0].body));
  const literals = packets.filter((p) => p.tag === TAG_LITERAL);
  const signatures = packets.filter((p) => p.tag === TAG_SIGNATURE);
  const other = packets.find(
    (p) => p.tag !== TAG_LITERAL && p.tag !== TAG_SIGNATURE && p.tag !== TAG_ONE_PASS_SIGNATURE,
  );
  if (other !== undefined) {
    throw new SignatureError(
      'SIGNATURE_INVALID',
      `Invalid GPG signature: not a signed message (OpenPGP packet type ${other.tag})`,
    );
  }
  if (literals.length !== 1) {
    throw new SignatureError(
      'SIGNATURE_INVALID',
      `Invalid GPG signature: expected one literal data packet, got ${literals.length}`,
    );
  }
  if (signatures.length !== 1) {
    throw new SignatureError('SIGNATURE_INVALID', `Unexpected GPG signature count ${signatures.length}`);
  }
  return { data: literalData(literals[0]!.body), signature: signatures[0]!.body };
}
