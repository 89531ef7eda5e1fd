// registries.d: per-scope lookaside locations and use-sigstore-attachments (upstream
// docker/registries_d.go). Portcullis defaults use-sigstore-attachments to true when unset.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type DockerReference, dockerReferenceNamespaces } from '../reference/index.ts';
import { parseYamlDocument } from '../yaml.ts';
import { RegistriesError } from './errors.ts';
import { cachedFromFiles, type TrackedFiles } from './file-cache.ts';

export interface RegistryNamespace {
  readonly lookaside?: string;
  readonly lookasideStaging?: string;
  readonly useSigstoreAttachments?: boolean;
}

export interface RegistriesD {
  readonly defaultDocker: RegistryNamespace | undefined;
  readonly docker: ReadonlyMap<string, RegistryNamespace>;
}

export const EMPTY_REGISTRIES_D: RegistriesD = { defaultDocker: undefined, docker: new Map() };
const MAX_FILE = 1 << 20;

function fail(path: string, detail: string): never {
  throw new RegistriesError('REGISTRIES_D_INVALID', `registries.d ${path}: ${detail}`);
}

function namespaceOf(v: unknown, where: string, path: string): RegistryNamespace {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(path, `${where}: expected a mapping`);
  const o = v as Record<string, unknown>;
  const allowed = [
    'lookaside',
    'lookaside-staging',
    'sigstore',
    'sigstore-staging',
    'use-sigstore-attachments',
  ];
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) fail(path, `${where}: unknown key ${JSON.stringify(k)}`);
  const s = (k: string): string | undefined => {
    const x = o[k];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'string') fail(path, `${where}.${k}: expected a string`);
    return x;
  };
  // The deprecated sigstore/sigstore-staging names mean the same as lookaside/lookaside-staging.
  const lookaside = s('lookaside') ?? s('sigstore');
  const lookasideStaging = s('lookaside-staging') ?? s('sigstore-staging');
  const use = o['use-sigstore-attachments'];
  if (use !== undefined && use !== null && typeof use !== 'boolean')
    fail(path, `${where}.use-sigstore-attachments: expected a boolean`);
  return {
    ...(lookaside !== undefined ? { lookaside } : {}),
    ...(lookasideStaging !== undefined ? { lookasideStaging } : {}),
    ...(typeof use === 'boolean' ? { useSigstoreAttachments: use } : {}),
  };
}

/** Merges one YAML document into `into`; duplicate scopes across files are errors. */
export async function addRegistriesDFile(
  into: { defaultDocker: RegistryNamespace | undefined; docker: Map<string, RegistryNamespace> },
  text: string,
  path: string,
): Promise<void> {
  let doc: unknown;
  try {
    doc = await parseYamlDocument(text, 10);
  } catch (err) {
    throw new RegistriesError('REGISTRIES_D_INVALID', `registries.d ${path}: invalid YAML`, { cause: err });
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) fail(path, 'expected a mapping');
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'default-docker' && k !== 'docker') fail(path, `unknown key ${JSON.stringify(k)}`);
  if (o['default-docker'] !== undefined) {
    if (into.defaultDocker !== undefined) fail(path, 'default-docker defined more than once');
    into.defaultDocker = namespaceOf(o['default-docker'], 'default-docker', path);
  }
  if (o.docker !== undefined && o.docker !== null) {
    if (typeof o.docker !== 'object' || Array.isArray(o.docker)) fail(path, 'docker: expected a mapping');
    for (const [scope, v] of Object.entries(o.docker as Record<string, unknown>)) {
      if (into.docker.has(scope)) fail(path, `docker scope ${JSON.stringify(scope)} defined more than once`);
      into.docker.set(scope, namespaceOf(v, `docker.${scope}`, path));
    }
  }
}

async function loadUncached(candidates: readonly string[], files: TrackedFiles): Promise<RegistriesD> {
  for (const dir of candidates) {
    let names: string[] | undefined;
    try {
      names = await files.readdir(dir);
    } catch (err) {
      throw new RegistriesError(
        'REGISTRIES_D_INVALID',
        `reading registries.d ${dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (names === undefined) continue;
    const acc = {
      defaultDocker: undefined as RegistryNamespace | undefined,
      docker: new Map<string, RegistryNamespace>(),
    };
    for (const name of names.filter((n) => n.endsWith('.yaml')).sort()) {
      const path = join(dir, name);
      const text = await files.readFile(path);
      if (text === undefined) continue;
      if (text.length > MAX_FILE) fail(path, `larger than ${MAX_FILE} bytes`);
      await addRegistriesDFile(acc, text, path);
    }
    return acc;
  }
  return EMPTY_REGISTRIES_D;
}

/**
 * Loads every *.yaml of the directory (explicit, else ~/.config/containers/registries.d, else
 * /etc); cached per process until a file or directory read changes.
 */
export function loadRegistriesD(explicitDir?: string, home: string = homedir()): Promise<RegistriesD> {
  const candidates =
    explicitDir !== undefined && explicitDir !== ''
      ? [explicitDir]
      : [join(home, '.config/containers/registries.d'), '/etc/containers/registries.d'];
  return cachedFromFiles(JSON.stringify(['registries.d', candidates]), (files) =>
    loadUncached(candidates, files),
  );
}

/** The resolved registries.d settings for one image (fully specified). */
export interface SignatureStorage {
  /** Base URL to read simple signatures from; undefined = none configured for this scope. */
  readonly lookaside: string | undefined;
  /** Base URL to write to (lookaside-staging, else lookaside). */
  readonly lookasideWrite: string | undefined;
  readonly useSigstoreAttachments: boolean;
}

/** Lookaside locations must be absolute file/http/https URLs. */
function checkedUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RegistriesError(
      'REGISTRIES_D_INVALID',
      `registries.d: lookaside ${JSON.stringify(raw)} is not an absolute URL`,
    );
  }
  if (!['file:', 'http:', 'https:'].includes(url.protocol)) {
    throw new RegistriesError(
      'REGISTRIES_D_INVALID',
      `registries.d: lookaside ${JSON.stringify(raw)}: unsupported scheme ${url.protocol}`,
    );
  }
  return raw;
}

/**
 * Looks each key up in the most specific scope that sets it (identity, namespaces, then
 * default-docker), as upstream's code does.
 */
export function signatureStorageFor(conf: RegistriesD, ref: DockerReference): SignatureStorage {
  const scopes: RegistryNamespace[] = [];
  if (!ref.isNameOnly() && !(ref.tag !== undefined && ref.digest !== undefined)) {
    const exact = conf.docker.get(ref.toString());
    if (exact !== undefined) scopes.push(exact);
  }
  for (const ns of dockerReferenceNamespaces(ref)) {
    const s = conf.docker.get(ns);
    if (s !== undefined) scopes.push(s);
  }
  if (conf.defaultDocker !== undefined) scopes.push(conf.defaultDocker);
  const pick = <K extends keyof RegistryNamespace>(k: K): RegistryNamespace[K] => {
    for (const s of scopes) if (s[k] !== undefined) return s[k];
    return undefined;
  };
  const lookaside = checkedUrl(pick('lookaside'));
  return {
    lookaside,
    // Per scope, staging wins over lookaside for writes; the first scope with either decides.
    lookasideWrite: checkedUrl(
      scopes.map((s) => s.lookasideStaging ?? s.lookaside).find((u) => u !== undefined),
    ),
    useSigstoreAttachments: pick('useSigstoreAttachments') ?? true,
  };
}

/** `<base>/<repo path>@<algo>=<hex>/signature-<n>` (n from 1). */
export function lookasideSignatureUrl(
  base: string,
  ref: DockerReference,
  digest: string,
  index: number,
): string {
  const trimmed = base.endsWith('/') ? base.slice(0, -1) : base;
  return `${trimmed}/${ref.path}@${digest.replace(':', '=')}/signature-${index + 1}`;
}
