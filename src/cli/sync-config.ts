// skopeo sync's YAML source format and its tag filters (regular expressions, semver constraints).
import { parseYamlDocument } from '../image/yaml.ts';
import { CliError } from './args.ts';

export interface RegistrySyncConfig {
  readonly images: ReadonlyMap<string, readonly string[]>;
  readonly imagesByTagRegex: ReadonlyMap<string, RegExp>;
  readonly imagesBySemver: ReadonlyMap<string, SemverConstraint>;
  readonly credentials?: { readonly username: string; readonly password: string };
  readonly tlsVerify?: boolean;
  readonly certDir?: string;
}

const MAX_YAML = 1024 * 1024;
const knownKeys = new Set([
  'images',
  'images-by-tag-regex',
  'images-by-semver',
  'credentials',
  'tls-verify',
  'cert-dir',
]);

function stringMap(value: unknown, what: string): Map<string, string> {
  if (value === undefined || value === null) return new Map();
  if (typeof value !== 'object' || Array.isArray(value))
    throw new CliError('USAGE', `${what}: expected a mapping`);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new CliError('USAGE', `${what}.${k}: expected a string`);
    out.set(k, v);
  }
  return out;
}

/** Parses a skopeo sync YAML file: `{registry: {images, images-by-tag-regex, images-by-semver, ...}}`. */
export async function parseSyncYaml(text: string, file: string): Promise<Map<string, RegistrySyncConfig>> {
  if (text.length > MAX_YAML) throw new CliError('USAGE', `${file}: larger than ${MAX_YAML} bytes`);
  let doc: unknown;
  try {
    doc = await parseYamlDocument(text);
  } catch (err) {
    throw new CliError('USAGE', `failed to unmarshal ${JSON.stringify(file)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new CliError('USAGE', `${file}: expected a mapping of registries`);
  const out = new Map<string, RegistrySyncConfig>();
  for (const [registry, raw] of Object.entries(doc)) {
    const what = `${file}: ${registry}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new CliError('USAGE', `${what}: expected a mapping`);
    const cfg = raw as Record<string, unknown>;
    for (const key of Object.keys(cfg)) {
      if (!knownKeys.has(key)) throw new CliError('USAGE', `${what}: unknown key ${JSON.stringify(key)}`);
    }
    const images = new Map<string, string[]>();
    if (cfg.images !== undefined && cfg.images !== null) {
      if (typeof cfg.images !== 'object' || Array.isArray(cfg.images))
        throw new CliError('USAGE', `${what}.images: expected a mapping`);
      for (const [repo, refs] of Object.entries(cfg.images)) {
        if (refs === null || refs === undefined) images.set(repo, []);
        else if (Array.isArray(refs) && refs.every((r) => typeof r === 'string')) images.set(repo, refs);
        else throw new CliError('USAGE', `${what}.images.${repo}: expected a list of tags or digests`);
      }
    }
    const regexes = new Map<string, RegExp>();
    for (const [repo, pattern] of stringMap(cfg['images-by-tag-regex'], `${what}.images-by-tag-regex`)) {
      try {
        regexes.set(repo, new RegExp(pattern));
      } catch (err) {
        throw new CliError('USAGE', `${what}.images-by-tag-regex.${repo}: invalid regular expression`, {
          cause: err,
        });
      }
    }
    const semvers = new Map<string, SemverConstraint>();
    for (const [repo, constraint] of stringMap(cfg['images-by-semver'], `${what}.images-by-semver`)) {
      semvers.set(repo, parseSemverConstraint(constraint));
    }
    const creds = cfg.credentials as { username?: unknown; password?: unknown } | undefined;
    if (cfg['tls-verify'] !== undefined && typeof cfg['tls-verify'] !== 'boolean') {
      throw new CliError('USAGE', `${what}.tls-verify: expected true or false`);
    }
    out.set(registry, {
      images,
      imagesByTagRegex: regexes,
      imagesBySemver: semvers,
      ...(creds !== undefined && creds !== null
        ? { credentials: { username: String(creds.username ?? ''), password: String(creds.password ?? '') } }
        : {}),
      ...(typeof cfg['tls-verify'] === 'boolean' ? { tlsVerify: cfg['tls-verify'] } : {}),
      ...(typeof cfg['cert-dir'] === 'string' ? { certDir: cfg['cert-dir'] } : {}),
    });
  }
  return out;
}

// ---- semver (the subset of Masterminds/semver constraints skopeo users write) ----

interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: string;
}

const versionPattern = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** Masterminds NewVersion: a leading v, missing minor/patch default to 0. */
export function parseVersion(tag: string): Version | undefined {
  const m = versionPattern.exec(tag);
  if (m === null) return undefined;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0), prerelease: m[4] ?? '' };
}

function comparePrerelease(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return 1;
  if (b === '') return -1;
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny && Number(x) !== Number(y)) return Number(x) - Number(y);
    if (nx !== ny) return nx ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function compare(a: Version, b: Version): number {
  return (
    a.major - b.major ||
    a.minor - b.minor ||
    a.patch - b.patch ||
    comparePrerelease(a.prerelease, b.prerelease)
  );
}

type Check = (v: Version) => boolean;

export interface SemverConstraint {
  readonly text: string;
  check(tag: string): boolean;
}

const termPattern =
  /^(=|!=|>=|=>|<=|=<|>|<|~>|~|\^)?\s*v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?$/;

function term(text: string): { check: Check; hasPrerelease: boolean } {
  const m = termPattern.exec(text.trim());
  if (m === null) throw new CliError('USAGE', `invalid semver constraint ${JSON.stringify(text)}`);
  const op = m[1] ?? '=';
  const wild = (s: string | undefined) => s === undefined || /^[xX*]$/.test(s);
  const parts = [m[2], m[3], m[4]];
  const firstWild = parts.findIndex(wild);
  const n = (s: string | undefined) => (wild(s) ? 0 : Number(s));
  const base: Version = { major: n(m[2]), minor: n(m[3]), patch: n(m[4]), prerelease: m[5] ?? '' };
  // The exclusive upper bound of a partial version (1.2 -> 1.3.0, 1 -> 2.0.0).
  const bump = (level: number): Version =>
    level <= 0
      ? { major: base.major + 1, minor: 0, patch: 0, prerelease: '' }
      : level === 1
        ? { major: base.major, minor: base.minor + 1, patch: 0, prerelease: '' }
        : { major: base.major, minor: base.minor, patch: base.patch + 1, prerelease: '' };
  const ge = (v: Version) => compare(v, base) >= 0;
  let check: Check;
  switch (op) {
    case '=':
      check =
        firstWild < 0
          ? (v) => compare(v, base) === 0
          : firstWild === 0
            ? () => true
            : (v) => ge(v) && compare(v, bump(firstWild - 1)) < 0;
      break;
    case '!=':
      check =
        firstWild < 0
          ? (v) => compare(v, base) !== 0
          : (v) => !(ge(v) && compare(v, bump(firstWild - 1)) < 0);
      break;
    case '>':
      check = firstWild < 0 ? (v) => compare(v, base) > 0 : (v) => compare(v, bump(firstWild - 1)) >= 0;
      break;
    case '>=':
    case '=>':
      check = ge;
      break;
    case '<':
      check = (v) => compare(v, base) < 0;
      break;
    case '<=':
    case '=<':
      check = firstWild < 0 ? (v) => compare(v, base) <= 0 : (v) => compare(v, bump(firstWild - 1)) < 0;
      break;
    case '~':
    case '~>':
      check = (v) => ge(v) && compare(v, bump(firstWild === 1 || m[3] === undefined ? 0 : 1)) < 0;
      break;
    case '^': {
      const level = base.major > 0 || m[3] === undefined ? 0 : base.minor > 0 || m[4] === undefined ? 1 : 2;
      check = (v) => ge(v) && compare(v, bump(level)) < 0;
      break;
    }
    default:
      throw new CliError('USAGE', `invalid semver operator in ${JSON.stringify(text)}`);
  }
  return { check, hasPrerelease: base.prerelease !== '' };
}

/** Terms of one AND group: separated by commas or spaces, an operator may be followed by a space. */
function splitTerms(group: string, whole: string): string[] {
  const pattern = /(?:!=|>=|=>|<=|=<|~>|[=><~^])?\s*v?[0-9xX*][^\s,]*/g;
  const terms = [...group.matchAll(pattern)].map((m) => m[0]);
  if (group.replace(pattern, '').replace(/[\s,]/g, '') !== '') {
    throw new CliError('USAGE', `invalid semver constraint ${JSON.stringify(whole)}`);
  }
  return terms;
}

/** `>=1.2, <2 || ^3` style constraints; prereleases match only constraints that name one. */
export function parseSemverConstraint(text: string): SemverConstraint {
  const groups = text.split('||').map((group) => {
    const hyphen = /^\s*(\S+)\s+-\s+(\S+)\s*$/.exec(group);
    const terms = hyphen !== null ? [`>=${hyphen[1]}`, `<=${hyphen[2]}`] : splitTerms(group, text);
    if (terms.length === 0) throw new CliError('USAGE', `invalid semver constraint ${JSON.stringify(text)}`);
    return terms.map(term);
  });
  return {
    text,
    check(tag: string): boolean {
      const v = parseVersion(tag);
      if (v === undefined) return false;
      return groups.some((g) => {
        if (v.prerelease !== '' && !g.some((t) => t.hasPrerelease)) return false;
        return g.every((t) => t.check(v));
      });
    },
  };
}
