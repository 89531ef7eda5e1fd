// Short-name resolution as containers/image's pkg/shortnames does it for a caller without a
// terminal (CRI-O, a webhook): aliases first, then unqualified-search registries, by mode.
import { type DockerReference, parse, parseNormalizedNamed } from '../reference/index.ts';
import { RegistriesError } from './errors.ts';
import { hasRegistry, type RegistriesConf, type ShortNameMode } from './registries-conf.ts';

export type ShortNameResolution =
  /** Not a short name: the normalized reference. */
  | { readonly kind: 'qualified'; readonly reference: DockerReference }
  /** An alias applied (tag or digest carried over); `origin` is the file that defines it. */
  | { readonly kind: 'alias'; readonly reference: DockerReference; readonly origin: string }
  /**
   * Each unqualified-search registry in order; a puller tries them until one has the image.
   * Only one candidate in enforcing mode.
   */
  | {
      readonly kind: 'search';
      readonly candidates: readonly DockerReference[];
      readonly origin: string;
      readonly mode: ShortNameMode;
    };

/** Upstream IsShortName: the first component of `input` names no registry. Throws on bad input. */
export function isShortName(input: string): boolean {
  return !hasRegistry(parse(input).domain);
}

function qualified(input: string): ShortNameResolution {
  return { kind: 'qualified', reference: parseNormalizedNamed(input).tagNameOnly() };
}

function unresolved(detail: string): RegistriesError {
  return new RegistriesError('SHORT_NAME_UNRESOLVED', detail);
}

/**
 * Resolves `input` (an image as a user or a pod spec writes it) against registries.conf. Names
 * without tag or digest get `:latest`. Throws SHORT_NAME_UNRESOLVED when no alias matches and no
 * search registry is configured, SHORT_NAME_AMBIGUOUS when enforcing mode has several candidates
 * (upstream errors there without a terminal to prompt on), and reference errors for bad input.
 */
export function resolveShortName(conf: RegistriesConf, input: string): ShortNameResolution {
  const ref = parse(input);
  if (hasRegistry(ref.domain)) return qualified(input);
  const complete = (named: DockerReference): DockerReference => {
    let out = named;
    if (ref.tag !== undefined) out = out.withTag(ref.tag);
    if (ref.digest !== undefined) out = out.withDigest(ref.digest);
    return out.tagNameOnly();
  };
  const shortName = ref.name();
  // Own keys only: `constructor` is a valid short name.
  const alias = Object.hasOwn(conf.aliases, shortName) ? conf.aliases[shortName] : undefined;
  if (alias !== undefined) {
    return { kind: 'alias', reference: complete(parseNormalizedNamed(alias.value)), origin: alias.origin };
  }
  const registries = conf.unqualifiedSearchRegistries;
  const origin = conf.unqualifiedSearchRegistriesOrigin;
  if (registries.length === 0 || origin === undefined) {
    const where =
      conf.files.length === 0
        ? 'no registries.conf was found'
        : `no unqualified-search registries are defined in ${conf.files.join(', ')}`;
    throw unresolved(`short name ${JSON.stringify(input)} did not resolve to an alias and ${where}`);
  }
  const candidates = registries.map((r) => complete(parseNormalizedNamed(`${r}/${shortName}`)));
  const mode = conf.shortNameMode ?? 'permissive';
  if (mode === 'enforcing' && candidates.length > 1) {
    throw new RegistriesError(
      'SHORT_NAME_AMBIGUOUS',
      `short name ${JSON.stringify(input)} is ambiguous: no alias, and short-name-mode is enforcing with ${candidates.length} unqualified-search registries (${registries.join(', ')}) in ${origin}; use a fully-qualified name or define an alias`,
    );
  }
  return { kind: 'search', candidates, origin, mode };
}
