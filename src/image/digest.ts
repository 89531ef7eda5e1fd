import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BaseError } from './errors.ts';

export type DigestErrorCode =
  | 'DIGEST_INVALID_FORMAT'
  | 'DIGEST_INVALID_LENGTH'
  | 'DIGEST_UNSUPPORTED'
  | 'DIGEST_MISMATCH';

export class DigestError extends BaseError<DigestErrorCode> {}

export type DigestAlgorithm = 'sha256' | 'sha384' | 'sha512';

/** A validated digest string such as `sha256:<64 lowercase hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

const hexLengths: Record<DigestAlgorithm, number> = { sha256: 64, sha384: 96, sha512: 128 };
const digestShape = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const MAX_DIGEST_INPUT = 512;

function isAlgorithm(s: string): s is DigestAlgorithm {
  return Object.hasOwn(hexLengths, s);
}

/** Parses and validates a digest the way go-digest does (algorithm, then exact hex length). */
export function parseDigest(input: string): Digest {
  if (input.length > MAX_DIGEST_INPUT) {
    throw new DigestError(
      'DIGEST_INVALID_FORMAT',
      `invalid digest: longer than ${MAX_DIGEST_INPUT} characters`,
    );
  }
  const colon = input.indexOf(':');
  if (colon < 1 || colon + 1 === input.length) {
    throw new DigestError(
      'DIGEST_INVALID_FORMAT',
      `invalid digest ${JSON.stringify(input)}: invalid checksum digest format`,
    );
  }
  const algorithm = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  if (!isAlgorithm(algorithm)) {
    if (digestShape.test(input)) {
      throw new DigestError(
        'DIGEST_UNSUPPORTED',
        `invalid digest ${JSON.stringify(input)}: unsupported digest algorithm`,
      );
    }
    throw new DigestError(
      'DIGEST_INVALID_FORMAT',
      `invalid digest ${JSON.stringify(input)}: invalid checksum digest format`,
    );
  }
  if (hex.length !== hexLengths[algorithm]) {
    throw new DigestError(
      'DIGEST_INVALID_LENGTH',
      `invalid digest ${JSON.stringify(input)}: expected ${hexLengths[algorithm]} hex characters for ${algorithm}, got ${hex.length}`,
    );
  }
  if (!/^[a-f0-9]+$/.test(hex)) {
    throw new DigestError(
      'DIGEST_INVALID_FORMAT',
      `invalid digest ${JSON.stringify(input)}: invalid checksum digest format`,
    );
  }
  return input as Digest;
}

export function isDigest(input: string): input is Digest {
  try {
    parseDigest(input);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(d: Digest): DigestAlgorithm {
  return d.slice(0, d.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

/** The digest of bytes held in memory (manifests, configs, signatures: never layers). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

/** Incremental digest computation over chunks. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  readonly #hash: Hash;
  #size = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.#size += chunk.byteLength;
    this.#hash.update(chunk);
  }

  get size(): number {
    return this.#size;
  }

  /** Finishes the computation; call once. */
  digest(): Digest {
    return `${this.algorithm}:${this.#hash.digest('hex')}` as Digest;
  }
}

export interface VerifyOptions {
  /** When set, the stream also fails if the byte count differs. */
  readonly expectedSize?: number;
  /** Context for the error message, e.g. "blob sha256:… from docker://x". */
  readonly what?: string;
}

/**
 * A pass-through stream that fails with DIGEST_MISMATCH at the end (or as soon as the size is
 * exceeded) when the bytes do not hash to `expected`. Consumers must not trust data before `end`.
 */
export function verifyingStream(expected: Digest, options: VerifyOptions = {}): Transform {
  const digester = new Digester(digestAlgorithm(expected));
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      digester.update(chunk);
      callback(verificationFailure(digester, expected, options, false) ?? null, chunk);
    },
    flush(callback: TransformCallback) {
      callback(verificationFailure(digester, expected, options, true));
    },
  });
}

/**
 * Whether the bytes `digester` has seen fail to be `expected`: more than `expectedSize` at any
 * point, and once `complete`, another size or another digest. Undefined while all is well.
 */
export function verificationFailure(
  digester: Digester,
  expected: Digest,
  options: VerifyOptions,
  complete: boolean,
): DigestError | undefined {
  const what = options.what ?? 'content';
  const limit = options.expectedSize;
  if (limit !== undefined && (digester.size > limit || (complete && digester.size !== limit))) {
    return new DigestError(
      'DIGEST_MISMATCH',
      `${what}: size mismatch: expected ${limit} bytes, got ${complete ? digester.size : 'more'}`,
    );
  }
  if (!complete) return undefined;
  const actual = digester.digest();
  return actual === expected
    ? undefined
    : new DigestError(
        'DIGEST_MISMATCH',
        `${what}: digest did not match, expected ${expected}, got ${actual}`,
      );
}
