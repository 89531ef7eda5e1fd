// Reading one small blob of a signature referrer (a bundle, a Notation envelope) whole: bounded
// before and while reading, and checked against its digest whatever the source guarantees.
import { createHash } from 'node:crypto';
import { type Digest, digestAlgorithm, digestHex } from '../digest.ts';
import type { ImageSource } from '../types.ts';

export type ReferrerBlobFailure = 'TOO_LARGE' | 'DIGEST_MISMATCH';

/**
 * The bytes of `descriptor` from `source`, at most `cap`; `fail` makes the caller's typed error.
 * The declared size is checked first, so an oversized blob is not even requested.
 */
export async function readReferrerBlob(
  source: ImageSource,
  descriptor: { readonly digest: Digest; readonly size: number },
  cap: number,
  fail: (failure: ReferrerBlobFailure, message: string) => Error,
): Promise<Buffer> {
  if (descriptor.size > cap)
    throw fail('TOO_LARGE', `referrer blob of ${descriptor.size} bytes exceeds ${cap}`);
  const { stream } = await source.getBlob({ digest: descriptor.digest, size: descriptor.size });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > cap) {
      stream.destroy();
      throw fail('TOO_LARGE', `referrer blob exceeds ${cap} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (
    createHash(digestAlgorithm(descriptor.digest)).update(bytes).digest('hex') !==
    digestHex(descriptor.digest)
  )
    throw fail('DIGEST_MISMATCH', `referrer blob does not match its digest ${descriptor.digest}`);
  return bytes;
}
