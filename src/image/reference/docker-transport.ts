import { DockerReferenceError } from './errors.ts';
import { type DockerReference, parseNormalizedNamed } from './reference.ts';

/** The suffix that marks a docker:// destination written without a tag or digest. */
export const UNKNOWN_DIGEST_SUFFIX = '@@unknown-digest@@';

export interface DockerTransportReference {
  readonly ref: DockerReference;
  /** True for `name@@unknown-digest@@`: push by name only, the digest is learnt on upload. */
  readonly unknownDigest: boolean;
}

/**
 * Parses what follows `docker:` in an image name: `//` then a docker reference; a name-only
 * reference gets `:latest`; tag and digest together are refused, as upstream does.
 */
export function parseDockerTransportReference(details: string): DockerTransportReference {
  if (!details.startsWith('//')) {
    throw new DockerReferenceError(
      'REFERENCE_INVALID_FORMAT',
      `invalid docker reference ${JSON.stringify(details)}: expected it to start with //`,
    );
  }
  let text = details.slice(2);
  const unknownDigest = text.endsWith(UNKNOWN_DIGEST_SUFFIX);
  if (unknownDigest) text = text.slice(0, -UNKNOWN_DIGEST_SUFFIX.length);
  const ref = parseNormalizedNamed(text);
  if (unknownDigest) {
    if (!ref.isNameOnly()) {
      throw new DockerReferenceError(
        'REFERENCE_INVALID_FORMAT',
        `invalid docker reference ${JSON.stringify(details)}: ${UNKNOWN_DIGEST_SUFFIX} cannot be combined with a tag or digest`,
      );
    }
    return { ref, unknownDigest };
  }
  if (ref.tag !== undefined && ref.digest !== undefined) {
    throw new DockerReferenceError(
      'REFERENCE_INVALID_FORMAT',
      `invalid docker reference ${JSON.stringify(details)}: references with both a tag and digest are not supported`,
    );
  }
  return { ref: ref.tagNameOnly(), unknownDigest };
}
