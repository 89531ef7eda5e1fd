// containers/image's on-disk signature format (internal/signature): raw OpenPGP bytes for simple
// signing, else 0x00 + format id + "\n" + chunk.

import { LocalTransportError } from '../../local/errors.ts';
import type { Signature } from '../../types.ts';

const openPgpFirstBytes = new Set([
  0xa0, 0xa1, 0xa2, 0xa3, 0xc8, 0x88, 0x89, 0x8a, 0x8b, 0xc2, 0x90, 0x91, 0x92, 0x3d, 0xc4,
]);

export function signatureFromBlob(blob: Uint8Array): Signature {
  const first = blob[0];
  if (first === undefined) throw new LocalTransportError('CORRUPT_IMAGE', 'empty signature blob');
  if (openPgpFirstBytes.has(first)) return { format: 'simple-signing', blob };
  if (first !== 0) {
    throw new LocalTransportError(
      'CORRUPT_IMAGE',
      `unrecognized signature format, starting with binary 0x${first.toString(16)}`,
    );
  }
  const newline = blob.indexOf(0x0a, 1);
  if (newline < 0)
    throw new LocalTransportError('CORRUPT_IMAGE', 'invalid signature format, missing newline');
  const formatBytes = blob.subarray(1, newline);
  if (formatBytes.some((b) => b < 32 || b >= 0x7f)) {
    throw new LocalTransportError('CORRUPT_IMAGE', 'invalid signature format');
  }
  const format = Buffer.from(formatBytes).toString('ascii');
  const chunk = blob.subarray(newline + 1);
  switch (format) {
    case 'simple-signing':
      return { format: 'simple-signing', blob: chunk };
    case 'sigstore-json': {
      let parsed: { mimeType?: unknown; payload?: unknown; annotations?: unknown };
      try {
        parsed = JSON.parse(Buffer.from(chunk).toString('utf8'));
      } catch (err) {
        throw new LocalTransportError('CORRUPT_IMAGE', 'invalid sigstore signature: not JSON', {
          cause: err,
        });
      }
      if (typeof parsed.mimeType !== 'string' || typeof parsed.payload !== 'string') {
        throw new LocalTransportError(
          'CORRUPT_IMAGE',
          'invalid sigstore signature: missing mimeType or payload',
        );
      }
      const annotations = (parsed.annotations ?? {}) as Record<string, string>;
      return {
        format: 'sigstore-json',
        mimeType: parsed.mimeType,
        payload: Buffer.from(parsed.payload, 'base64'),
        annotations,
      };
    }
    default:
      throw new LocalTransportError(
        'CORRUPT_IMAGE',
        `unrecognized signature format ${JSON.stringify(format)}`,
      );
  }
}

export function signatureToBlob(sig: Signature): Uint8Array {
  switch (sig.format) {
    case 'simple-signing':
      return sig.blob;
    case 'sigstore-json': {
      // Go marshals map keys sorted; match it so files compare equal with upstream's.
      const annotations = Object.fromEntries(
        Object.entries(sig.annotations).sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      const json = JSON.stringify({
        mimeType: sig.mimeType,
        payload: Buffer.from(sig.payload).toString('base64'),
        annotations,
      });
      return Buffer.concat([Buffer.from([0]), Buffer.from('sigstore-json\n'), Buffer.from(json)]);
    }
    default:
      throw new LocalTransportError('NOT_SUPPORTED', 'unknown signature format');
  }
}
