import { type Digest, DigestError, parseDigest } from '../digest.ts';
import { truncate } from '../text.ts';
import { DockerReferenceError } from './errors.ts';
import {
  anchoredIdentifierRegexp,
  anchoredNameRegexp,
  digestRegexp,
  referenceRegexp,
  tagRegexp,
} from './regexp.ts';

/** Upstream limit on the whole name, domain included. */
export const NAME_TOTAL_LENGTH_MAX = 255;
/** Longer input cannot be a valid reference under any rule; refused before any regexp runs. */
export const REFERENCE_INPUT_MAX = 1024;

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPOSITORY_PREFIX = 'library/';

/**
 * An immutable docker reference: a name (optional domain + path) with an optional tag and digest.
 * `Parse` keeps the domain as written; the normalizing parsers always fill it in.
 */
export class DockerReference {
  readonly domain: string;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
  // Built once: callers key caches with it, and a string built per call is hashed per lookup.
  #text: string | undefined;

  constructor(domain: string, path: string, tag?: string, digest?: Digest) {
    this.domain = domain;
    this.path = path;
    this.tag = tag;
    this.digest = digest;
  }

  /** The repository name: `domain/path`, or `path` when the domain is empty. */
  name(): string {
    return this.domain === '' ? this.path : `${this.domain}/${this.path}`;
  }

  /** True when the reference has neither tag nor digest. */
  isNameOnly(): boolean {
    return this.tag === undefined && this.digest === undefined;
  }

  toString(): string {
    this.#text ??= `${this.name()}${this.tag === undefined ? '' : `:${this.tag}`}${this.digest === undefined ? '' : `@${this.digest}`}`;
    return this.#text;
  }

  /** The short form users type: no `docker.io/`, no `library/` for official images. */
  familiarName(): string {
    if (this.domain !== DEFAULT_DOMAIN) return this.name();
    if (
      this.path.startsWith(OFFICIAL_REPOSITORY_PREFIX) &&
      this.path.indexOf('/', OFFICIAL_REPOSITORY_PREFIX.length) < 0
    ) {
      return this.path.slice(OFFICIAL_REPOSITORY_PREFIX.length);
    }
    return this.path;
  }

  familiarString(): string {
    return `${this.familiarName()}${this.tag === undefined ? '' : `:${this.tag}`}${this.digest === undefined ? '' : `@${this.digest}`}`;
  }

  /** The same name without tag or digest. */
  trimmed(): DockerReference {
    return new DockerReference(this.domain, this.path);
  }

  withTag(tag: string): DockerReference {
    if (!tagRegexp.test(tag)) {
      throw new DockerReferenceError(
        'TAG_INVALID_FORMAT',
        `invalid tag ${JSON.stringify(tag)} for ${this.name()}`,
      );
    }
    return new DockerReference(this.domain, this.path, tag, this.digest);
  }

  /** Like upstream WithDigest, only the digest grammar is checked, not the algorithm's length. */
  withDigest(digest: string): DockerReference {
    if (!digestRegexp.test(digest)) {
      throw new DockerReferenceError(
        'DIGEST_INVALID_FORMAT',
        `invalid digest ${JSON.stringify(digest)} for ${this.name()}`,
      );
    }
    return new DockerReference(this.domain, this.path, this.tag, digest as Digest);
  }

  withoutTag(): DockerReference {
    return new DockerReference(this.domain, this.path, undefined, this.digest);
  }

  /** Adds `:latest` when the reference has neither tag nor digest. */
  tagNameOnly(): DockerReference {
    return this.isNameOnly() ? new DockerReference(this.domain, this.path, 'latest') : this;
  }
}

/** What ParseAnyReference returns for a bare digest or 64-hex identifier. */
export interface DigestOnlyReference {
  readonly kind: 'digest';
  readonly digest: Digest;
}

export type AnyReference = { readonly kind: 'named'; readonly ref: DockerReference } | DigestOnlyReference;

function quote(s: string): string {
  return JSON.stringify(truncate(s, 120));
}

function checkInputLength(s: string): void {
  if (s.length > REFERENCE_INPUT_MAX) {
    throw new DockerReferenceError(
      'REFERENCE_TOO_LONG',
      `invalid reference ${quote(s)}: ${s.length} characters, at most ${REFERENCE_INPUT_MAX} allowed`,
    );
  }
}

function digestErrorToReference(err: unknown, input: string): never {
  if (err instanceof DigestError && err.code !== 'DIGEST_MISMATCH') {
    throw new DockerReferenceError(err.code, `invalid reference ${quote(input)}: ${err.message}`, {
      cause: err,
    });
  }
  throw err;
}

function splitName(name: string, input: string): { domain: string; path: string } {
  const m = anchoredNameRegexp.exec(name);
  if (m === null) {
    throw new DockerReferenceError('REFERENCE_INVALID_FORMAT', `invalid reference format: ${quote(input)}`);
  }
  return { domain: m[1] ?? '', path: m[2]! };
}

/** Upstream `Parse`: the non-normalizing parser (`foo/bar` keeps domain `foo`). */
export function parse(s: string): DockerReference {
  checkInputLength(s);
  const m = referenceRegexp.exec(s);
  if (m === null) {
    if (s === '')
      throw new DockerReferenceError(
        'NAME_EMPTY',
        'invalid reference format: repository name must have at least one component',
      );
    if (referenceRegexp.test(s.toLowerCase())) {
      throw new DockerReferenceError(
        'NAME_CONTAINS_UPPERCASE',
        `invalid reference format: repository name must be lowercase: ${quote(s)}`,
      );
    }
    throw new DockerReferenceError('REFERENCE_INVALID_FORMAT', `invalid reference format: ${quote(s)}`);
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw new DockerReferenceError(
      'NAME_TOO_LONG',
      `invalid reference ${quote(s)}: repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`,
    );
  }
  const { domain, path } = splitName(name, s);
  let digest: Digest | undefined;
  if (m[3] !== undefined) {
    try {
      digest = parseDigest(m[3]);
    } catch (err) {
      digestErrorToReference(err, s);
    }
  }
  return new DockerReference(domain, path, m[2], digest);
}

/** Upstream `WithName`: a name only, no tag or digest allowed. */
export function withName(name: string): DockerReference {
  checkInputLength(name);
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw new DockerReferenceError(
      'NAME_TOO_LONG',
      `invalid name ${quote(name)}: more than ${NAME_TOTAL_LENGTH_MAX} characters`,
    );
  }
  if (name === '')
    throw new DockerReferenceError(
      'NAME_EMPTY',
      'invalid name: repository name must have at least one component',
    );
  const { domain, path } = splitName(name, name);
  return new DockerReference(domain, path);
}

function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (slash < 0 || (!first.includes('.') && !first.includes(':') && first !== 'localhost')) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/'))
    remainder = OFFICIAL_REPOSITORY_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Upstream `ParseNormalizedNamed`, used for every user-supplied image name: fills in `docker.io`
 * and `library/`. Unlike distribution/reference today, an uppercase first component is not a domain.
 */
export function parseNormalizedNamed(s: string): DockerReference {
  checkInputLength(s);
  if (s === '') throw new DockerReferenceError('NAME_EMPTY', 'invalid reference: the image name is empty');
  if (anchoredIdentifierRegexp.test(s)) {
    throw new DockerReferenceError(
      'NAME_IS_IDENTIFIER',
      `invalid repository name ${quote(s)}: cannot specify 64-byte hexadecimal strings`,
    );
  }
  const { domain, remainder } = splitDockerDomain(s);
  const colon = remainder.indexOf(':');
  const remoteName = colon < 0 ? remainder : remainder.slice(0, colon);
  if (remoteName.toLowerCase() !== remoteName) {
    throw new DockerReferenceError(
      'NAME_CONTAINS_UPPERCASE',
      `invalid reference format: repository name ${quote(remoteName)} must be lowercase`,
    );
  }
  return parse(`${domain}/${remainder}`);
}

/** Upstream `ParseNamed`: the input must already be in canonical (fully normalized) form. */
export function parseNamed(s: string): DockerReference {
  const ref = parseNormalizedNamed(s);
  if (ref.toString() !== s) {
    throw new DockerReferenceError(
      'NAME_NOT_CANONICAL',
      `invalid reference ${quote(s)}: not in canonical form (${ref.toString()})`,
    );
  }
  return ref;
}

/** Upstream `ParseAnyReference`: a 64-hex identifier or a digest, else a normalized name. */
export function parseAnyReference(s: string): AnyReference {
  checkInputLength(s);
  if (anchoredIdentifierRegexp.test(s)) return { kind: 'digest', digest: `sha256:${s}` as Digest };
  try {
    return { kind: 'digest', digest: parseDigest(s) };
  } catch {
    return { kind: 'named', ref: parseNormalizedNamed(s) };
  }
}

/** Upstream `ParseDockerRef`: normalized, tag dropped when a digest is present, else `:latest`. */
export function parseDockerRef(s: string): DockerReference {
  const ref = parseNormalizedNamed(s);
  if (ref.digest !== undefined) return ref.withoutTag();
  return ref.tagNameOnly();
}

export function anyReferenceFamiliarString(ref: AnyReference): string {
  return ref.kind === 'digest' ? ref.digest : ref.ref.familiarString();
}
