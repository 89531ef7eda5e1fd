// registries.conf (v2, with the v1 tables converted as upstream does): mirrors, location rewrite,
// blocked and insecure registries, credential helpers.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DockerReference } from '../reference/index.ts';
import { parse, parseDockerRef, parseNormalizedNamed } from '../reference/index.ts';
import { RegistriesError } from './errors.ts';
import { cachedFromFiles, type TrackedFiles } from './file-cache.ts';
import { parseToml, type TomlTable, type TomlValue } from './toml.ts';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface Endpoint {
  readonly location: string;
  readonly insecure: boolean;
}

export interface Mirror extends Endpoint {
  readonly pullFromMirror: PullFromMirror;
}

export interface Registry extends Endpoint {
  readonly prefix: string;
  readonly blocked: boolean;
  readonly mirrors: readonly Mirror[];
  readonly mirrorByDigestOnly: boolean;
}

export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

/** A short-name alias: the fully-qualified, normalized repository and the file that set it. */
export interface Alias {
  readonly value: string;
  readonly origin: string;
}

export interface RegistriesConf {
  readonly registries: readonly Registry[];
  readonly unqualifiedSearchRegistries: readonly string[];
  /** The file that set unqualified-search-registries; undefined when none did. */
  readonly unqualifiedSearchRegistriesOrigin: string | undefined;
  readonly credentialHelpers: readonly string[];
  /** As configured; undefined when no file sets it (upstream then behaves as `permissive`). */
  readonly shortNameMode: ShortNameMode | undefined;
  readonly aliases: Readonly<Record<string, Alias>>;
  /** The registries.conf and drop-in files read, in order; empty when none exists. */
  readonly files: readonly string[];
}

function fail(path: string, detail: string): never {
  throw new RegistriesError('REGISTRIES_CONF_INVALID', `registries.conf ${path}: ${detail}`);
}

function str(v: TomlValue | undefined, what: string, path: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(path, `${what}: expected a string`);
  return v;
}

function bool(v: TomlValue | undefined, what: string, path: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') fail(path, `${what}: expected a boolean`);
  return v;
}

function strings(v: TomlValue | undefined, what: string, path: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    fail(path, `${what}: expected an array of strings`);
  return v as string[];
}

function tables(v: TomlValue | undefined, what: string, path: string): TomlTable[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'object' && !Array.isArray(x))) {
    fail(path, `${what}: expected an array of tables`);
  }
  return v as TomlTable[];
}

const registryKeys = new Set([
  'prefix',
  'location',
  'insecure',
  'blocked',
  'mirror',
  'mirror-by-digest-only',
]);
const mirrorKeys = new Set(['location', 'insecure', 'pull-from-mirror']);
const topKeys = new Set([
  'registry',
  'unqualified-search-registries',
  'credential-helpers',
  'short-name-mode',
  'aliases',
  'registries',
]);

function checkKeys(t: TomlTable, allowed: ReadonlySet<string>, what: string, path: string): void {
  for (const k of Object.keys(t))
    if (!allowed.has(k)) fail(path, `${what}: unknown key ${JSON.stringify(k)}`);
}

/** Strips a trailing slash and refuses a scheme, as upstream's location validation does. */
function location(raw: string, what: string, path: string): string {
  if (raw.includes('://')) fail(path, `${what}: ${JSON.stringify(raw)} must not contain a scheme`);
  return raw.endsWith('/') ? raw.slice(0, -1) : raw;
}

function validPrefix(prefix: string, path: string): void {
  if (prefix.startsWith('*.')) {
    if (prefix.includes('/')) fail(path, `wildcarded prefix ${JSON.stringify(prefix)} must be a host only`);
    return;
  }
  try {
    parseDockerRef(prefix.includes('/') || prefix.includes('.') ? prefix : `${prefix}/x`);
  } catch {
    fail(path, `invalid prefix ${JSON.stringify(prefix)}`);
  }
}

/** Interprets a parsed registries.conf document (v2, or v1 `[registries.*]` tables). */
/** One file's settings; unset fields leave earlier files' values alone when drop-ins merge. */
interface RegistriesConfPart {
  readonly registries: readonly Registry[];
  readonly unqualifiedSearchRegistries: readonly string[] | undefined;
  readonly unqualifiedSearchRegistriesOrigin: string | undefined;
  readonly credentialHelpers: readonly string[] | undefined;
  readonly shortNameMode: ShortNameMode | undefined;
  /** An empty value removes an alias set by an earlier file. */
  readonly aliases: Readonly<Record<string, Alias>>;
  readonly files: readonly string[];
}

function registriesConfFromToml(doc: TomlTable, path: string): RegistriesConfPart {
  checkKeys(doc, topKeys, 'top level', path);
  const registries: Registry[] = [];
  for (const r of tables(doc.registry, 'registry', path)) {
    checkKeys(r, registryKeys, '[[registry]]', path);
    const loc = str(r.location, 'location', path);
    const rawPrefix = str(r.prefix, 'prefix', path);
    const prefix = rawPrefix === undefined || rawPrefix === '' ? loc : rawPrefix;
    if (prefix === undefined || prefix === '') fail(path, '[[registry]]: prefix or location required');
    validPrefix(prefix, path);
    const mirrors = tables(r.mirror, 'mirror', path).map((m): Mirror => {
      checkKeys(m, mirrorKeys, '[[registry.mirror]]', path);
      const mloc = str(m.location, 'mirror location', path);
      if (mloc === undefined || mloc === '') fail(path, 'mirror: location required');
      const pfm = str(m['pull-from-mirror'], 'pull-from-mirror', path) ?? 'all';
      if (pfm !== 'all' && pfm !== 'digest-only' && pfm !== 'tag-only') {
        fail(path, `pull-from-mirror: expected all, digest-only or tag-only, got ${JSON.stringify(pfm)}`);
      }
      return {
        location: location(mloc, 'mirror location', path),
        insecure: bool(m.insecure, 'insecure', path),
        pullFromMirror: pfm,
      };
    });
    const mirrorByDigestOnly = bool(r['mirror-by-digest-only'], 'mirror-by-digest-only', path);
    if (mirrorByDigestOnly && mirrors.some((m) => m.pullFromMirror !== 'all')) {
      fail(path, 'mirror-by-digest-only cannot be combined with pull-from-mirror');
    }
    if (registries.some((x) => x.prefix === prefix)) fail(path, `duplicate prefix ${JSON.stringify(prefix)}`);
    registries.push({
      prefix,
      location: location(loc ?? (prefix.startsWith('*.') ? '' : prefix), 'location', path),
      insecure: bool(r.insecure, 'insecure', path),
      blocked: bool(r.blocked, 'blocked', path),
      mirrors,
      mirrorByDigestOnly,
    });
  }
  const hostOnly = (h: string, what: string): string => {
    const host = location(h.replace(/\/+$/, ''), what, path);
    if (host.includes('/')) fail(path, `${what}: ${JSON.stringify(h)} must be a host without a namespace`);
    return host;
  };
  let search =
    doc['unqualified-search-registries'] === undefined
      ? undefined
      : strings(doc['unqualified-search-registries'], 'unqualified-search-registries', path).map((h) =>
          hostOnly(h, 'unqualified-search-registries'),
        );
  if (doc.registries !== undefined) {
    // v1: [registries.search] registries = [...], [registries.insecure], [registries.block]
    if (doc.registry !== undefined) fail(path, 'mixing v1 [registries] and v2 [[registry]] tables');
    const v1 = doc.registries;
    if (typeof v1 !== 'object' || Array.isArray(v1)) fail(path, 'registries: expected a table');
    const list = (name: string): string[] => {
      const t = v1[name];
      if (t === undefined) return [];
      if (typeof t !== 'object' || Array.isArray(t)) fail(path, `registries.${name}: expected a table`);
      return strings(t.registries, `registries.${name}.registries`, path).map((h) =>
        hostOnly(h, `registries.${name}`),
      );
    };
    search = list('search');
    const upsert = (host: string, field: 'insecure' | 'blocked'): void => {
      const i = registries.findIndex((x) => x.prefix === host);
      const base: Registry = registries[i] ?? {
        prefix: host,
        location: host,
        insecure: false,
        blocked: false,
        mirrors: [],
        mirrorByDigestOnly: false,
      };
      const next = { ...base, [field]: true };
      if (i < 0) registries.push(next);
      else registries[i] = next;
    };
    for (const h of list('insecure')) upsert(h, 'insecure');
    for (const h of list('block')) upsert(h, 'blocked');
  }
  const helpers =
    doc['credential-helpers'] === undefined
      ? undefined
      : strings(doc['credential-helpers'], 'credential-helpers', path);
  const aliasesRaw = doc.aliases;
  const aliases: Record<string, Alias> = {};
  if (aliasesRaw !== undefined) {
    if (typeof aliasesRaw !== 'object' || Array.isArray(aliasesRaw)) fail(path, 'aliases: expected a table');
    for (const [k, v] of Object.entries(aliasesRaw)) {
      if (typeof v !== 'string') fail(path, `aliases.${k}: expected a string`);
      checkShortName(k, path);
      aliases[k] = { value: v === '' ? '' : aliasValue(k, v, path), origin: path };
    }
  }
  return {
    registries,
    unqualifiedSearchRegistries: search,
    unqualifiedSearchRegistriesOrigin: search === undefined ? undefined : path,
    credentialHelpers: helpers,
    shortNameMode: shortNameMode(str(doc['short-name-mode'], 'short-name-mode', path), path),
    aliases,
    files: [path],
  };
}

/**
 * Applies a drop-in over the configuration so far: registries with the same prefix are replaced,
 * set lists and modes replace earlier ones, aliases merge (an empty alias removes one).
 */
function merge(base: RegistriesConfPart, update: RegistriesConfPart): RegistriesConfPart {
  const byPrefix = new Map(base.registries.map((r) => [r.prefix, r]));
  for (const r of update.registries) byPrefix.set(r.prefix, r);
  const search = update.unqualifiedSearchRegistries === undefined ? base : update;
  return {
    registries: [...byPrefix.values()],
    unqualifiedSearchRegistries: search.unqualifiedSearchRegistries,
    unqualifiedSearchRegistriesOrigin: search.unqualifiedSearchRegistriesOrigin,
    credentialHelpers: update.credentialHelpers ?? base.credentialHelpers,
    shortNameMode: update.shortNameMode ?? base.shortNameMode,
    aliases: { ...base.aliases, ...update.aliases },
    files: [...base.files, ...update.files],
  };
}

function finish(part: RegistriesConfPart): RegistriesConf {
  const helpers = part.credentialHelpers ?? [];
  return {
    registries: part.registries,
    unqualifiedSearchRegistries: part.unqualifiedSearchRegistries ?? [],
    unqualifiedSearchRegistriesOrigin: part.unqualifiedSearchRegistriesOrigin,
    credentialHelpers: helpers.length > 0 ? helpers : ['containers-auth.json'],
    shortNameMode: part.shortNameMode,
    aliases: Object.fromEntries(Object.entries(part.aliases).filter(([, a]) => a.value !== '')),
    files: part.files,
  };
}

function shortNameMode(mode: string | undefined, path: string): ShortNameMode | undefined {
  if (mode === undefined || mode === 'enforcing' || mode === 'permissive' || mode === 'disabled') return mode;
  fail(path, `short-name-mode: expected enforcing, permissive or disabled, got ${JSON.stringify(mode)}`);
}

/** Whether a registry-less name is a short name: its first component is no host (upstream rule). */
export function hasRegistry(domain: string): boolean {
  return domain.includes('.') || domain.includes(':') || domain === 'localhost';
}

/** `text` parsed as a reference; otherwise the file at `path` fails with `invalid`. */
function parseIn(path: string, text: string, invalid: string): DockerReference {
  try {
    return parse(text);
  } catch {
    fail(path, invalid);
  }
}

/** An alias key must be a short name without tag or digest. */
function checkShortName(name: string, path: string): void {
  const ref = parseIn(path, name, `aliases: invalid short name ${JSON.stringify(name)}`);
  if (ref.tag !== undefined || ref.digest !== undefined || hasRegistry(ref.domain)) {
    fail(path, `aliases: ${JSON.stringify(name)} must be a short name without registry, tag or digest`);
  }
}

/** An alias value: a repository with a registry, no tag or digest; stored normalized. */
function aliasValue(name: string, value: string, path: string): string {
  const ref = parseIn(path, value, `aliases.${name}: invalid reference ${JSON.stringify(value)}`);
  if (ref.tag !== undefined || ref.digest !== undefined || !hasRegistry(ref.domain)) {
    fail(
      path,
      `aliases.${name}: ${JSON.stringify(value)} must be a registry and repository without tag or digest`,
    );
  }
  return parseNormalizedNamed(value).name();
}

export function parseRegistriesConf(text: string, path = '<input>'): RegistriesConf {
  return finish(registriesConfFromToml(parseToml(text), path));
}

export interface RegistriesConfLocation {
  readonly explicitPath?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
  /** Drop-in directories, applied in order; default as upstream (see loadRegistriesConf). */
  readonly dropInDirs?: readonly string[];
}

function readError(path: string, err: unknown): RegistriesError {
  return new RegistriesError(
    'REGISTRIES_CONF_INVALID',
    `reading registries.conf ${path}: ${(err as Error).message}`,
    { cause: err },
  );
}

const EMPTY_PART: RegistriesConfPart = {
  registries: [],
  unqualifiedSearchRegistries: undefined,
  unqualifiedSearchRegistriesOrigin: undefined,
  credentialHelpers: undefined,
  shortNameMode: undefined,
  aliases: {},
  files: [],
};

async function readConf(files: TrackedFiles, path: string): Promise<string | undefined> {
  try {
    return await files.readFile(path);
  } catch (err) {
    throw readError(path, err);
  }
}

async function listDropIns(files: TrackedFiles, dir: string): Promise<string[]> {
  try {
    return ((await files.readdir(dir)) ?? []).filter((n) => n.endsWith('.conf')).sort();
  } catch (err) {
    throw readError(dir, err);
  }
}

async function loadUncached(
  explicit: string | undefined,
  home: string,
  dropInDirs: readonly string[] | undefined,
  files: TrackedFiles,
): Promise<RegistriesConf> {
  let part = EMPTY_PART;
  const userFile = join(home, '.config/containers/registries.conf');
  const userDir = join(home, '.config/containers/registries.conf.d');
  let dirs = dropInDirs ?? ['/etc/containers/registries.conf.d', userDir];
  if (explicit !== undefined) {
    const text = await readConf(files, explicit);
    if (text === undefined) throw readError(explicit, new Error('no such file'));
    part = registriesConfFromToml(parseToml(text), explicit);
  } else {
    const user = await readConf(files, userFile);
    if (user !== undefined) {
      part = registriesConfFromToml(parseToml(user), userFile);
      // Upstream: a user registries.conf replaces the system file and the system drop-ins.
      dirs = dropInDirs ?? [userDir];
    } else {
      const path = '/etc/containers/registries.conf';
      const text = await readConf(files, path);
      if (text !== undefined) part = registriesConfFromToml(parseToml(text), path);
    }
  }
  for (const dir of dirs) {
    for (const name of await listDropIns(files, dir)) {
      const path = join(dir, name);
      const text = await readConf(files, path);
      if (text === undefined) continue;
      const doc = parseToml(text);
      if (doc.registries !== undefined)
        fail(path, 'drop-in files must use the v2 format, not [registries.*]');
      part = merge(part, registriesConfFromToml(doc, path));
    }
  }
  return finish(part);
}

/**
 * Loads registries.conf as upstream does: the explicit path, else $CONTAINERS_REGISTRIES_CONF,
 * else `~/.config/containers/registries.conf` with only the user's registries.conf.d, else
 * `/etc/containers/registries.conf`; then the `*.conf` drop-ins of /etc/containers/registries.conf.d
 * and the user's, in name order. A missing default file is an empty configuration; a missing
 * explicit file is an error. The result is cached per process until one of the files or
 * directories read changes.
 */
export async function loadRegistriesConf(where: RegistriesConfLocation): Promise<RegistriesConf> {
  const home = where.home ?? homedir();
  const raw = where.explicitPath ?? where.env.CONTAINERS_REGISTRIES_CONF;
  const explicit = raw === undefined || raw === '' ? undefined : raw;
  const key = JSON.stringify(['registries.conf', explicit, home, where.dropInDirs]);
  return cachedFromFiles(key, (files) => loadUncached(explicit, home, where.dropInDirs, files));
}

function prefixMatches(prefix: string, name: string): boolean {
  if (prefix.startsWith('*.')) {
    const host = name.split('/', 1)[0]!;
    return host.endsWith(prefix.slice(1));
  }
  if (!name.startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  return rest === '' || rest.startsWith('/') || rest.startsWith(':') || rest.startsWith('@');
}

/** The [[registry]] entry with the longest prefix matching `name` (repository name, no tag). */
export function findRegistry(conf: RegistriesConf, name: string): Registry | undefined {
  let best: Registry | undefined;
  let bestLen = -1;
  for (const r of conf.registries) {
    const len = r.prefix.startsWith('*.') ? r.prefix.length - 2 : r.prefix.length;
    if (prefixMatches(r.prefix, name) && len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

/** A place to pull from: a physical reference and whether it may use plain HTTP / skip TLS. */
export interface PullSource {
  readonly reference: DockerReference;
  readonly insecure: boolean;
  readonly mirror: boolean;
}

function rewrite(ref: DockerReference, registry: Registry, newLocation: string): DockerReference {
  const name = ref.name();
  // A wildcard prefix matches the host only, so the location replaces the host.
  const matched = registry.prefix.startsWith('*.') ? name.split('/', 1)[0]!.length : registry.prefix.length;
  const rewritten = `${newLocation}${name.slice(matched)}`;
  let out = parseNormalizedNamed(rewritten);
  if (ref.tag !== undefined) out = out.withTag(ref.tag);
  if (ref.digest !== undefined) out = out.withDigest(ref.digest);
  return out;
}

/**
 * Where to pull `ref` from, in order: mirrors allowed for this kind of reference, then the
 * (possibly rewritten) primary location. Blocked registries are an error.
 */
export function pullSources(conf: RegistriesConf, ref: DockerReference): PullSource[] {
  const registry = findRegistry(conf, ref.name());
  if (registry === undefined) return [{ reference: ref, insecure: false, mirror: false }];
  if (registry.blocked) {
    throw new RegistriesError(
      'REGISTRY_BLOCKED',
      `registry ${registry.prefix} is blocked in registries.conf`,
    );
  }
  const byDigest = ref.digest !== undefined;
  const sources: PullSource[] = [];
  for (const m of registry.mirrors) {
    const mode = registry.mirrorByDigestOnly ? 'digest-only' : m.pullFromMirror;
    if ((mode === 'digest-only' && !byDigest) || (mode === 'tag-only' && byDigest)) continue;
    sources.push({ reference: rewrite(ref, registry, m.location), insecure: m.insecure, mirror: true });
  }
  const primary = registry.location === '' ? ref : rewrite(ref, registry, registry.location);
  sources.push({ reference: primary, insecure: registry.insecure, mirror: false });
  return sources;
}

/** The registry settings for pushing: no mirrors, but rewrite, blocked and insecure apply. */
export function pushDestination(conf: RegistriesConf, ref: DockerReference): PullSource {
  const sources = pullSources(conf, ref);
  return sources[sources.length - 1]!;
}

/** Whether a host (host[:port]) is marked insecure. */
export function isInsecureHost(conf: RegistriesConf, host: string): boolean {
  const r = findRegistry(conf, host);
  return r?.insecure === true && (r.prefix === host || r.prefix.startsWith('*.'));
}
