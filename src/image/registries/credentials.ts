// Credential lookup as containers/image does it: explicit credentials, Kubernetes
// .dockerconfigjson blobs, auth.json / Docker config.json (most specific key first),
// credHelpers / credsStore through the docker-credential-* protocol. Also login/logout storage.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { RegistriesError } from './errors.ts';
import { cachedFromFiles } from './file-cache.ts';

export interface FoundCredentials {
  readonly username: string;
  readonly password: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`), used instead of the password. */
  readonly identityToken?: string;
}

export interface AuthEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
}

const MAX_AUTH_FILE = 4 << 20;
const HELPER_TIMEOUT_MS = 10_000;
const HELPER_MAX_OUTPUT = 1 << 20;

interface AuthEntry {
  readonly auth?: string;
  readonly identitytoken?: string;
}

export interface AuthFile {
  readonly auths: Readonly<Record<string, AuthEntry>>;
  readonly credHelpers: Readonly<Record<string, string>>;
  readonly credsStore: string | undefined;
}

function parseAuthFile(text: string, where: string, legacy = false): AuthFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RegistriesError('AUTH_FILE_INVALID', `auth file ${where}: invalid JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new RegistriesError('AUTH_FILE_INVALID', `auth file ${where}: expected a JSON object`);
  }
  const o = doc as Record<string, unknown>;
  const table = (v: unknown, what: string): Record<string, unknown> => {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new RegistriesError('AUTH_FILE_INVALID', `auth file ${where}: ${what}: expected an object`);
    }
    return v as Record<string, unknown>;
  };
  const auths = legacy ? o : table(o.auths, 'auths');
  const helpers = table(o.credHelpers, 'credHelpers');
  const entries: Record<string, AuthEntry> = {};
  for (const [k, v] of Object.entries(auths)) {
    if (typeof v !== 'object' || v === null) continue;
    const e = v as Record<string, unknown>;
    entries[k] = {
      ...(typeof e.auth === 'string' ? { auth: e.auth } : {}),
      ...(typeof e.identitytoken === 'string' ? { identitytoken: e.identitytoken } : {}),
    };
  }
  const credHelpers: Record<string, string> = {};
  for (const [k, v] of Object.entries(helpers)) if (typeof v === 'string') credHelpers[k] = v;
  return {
    auths: entries,
    credHelpers,
    credsStore: typeof o.credsStore === 'string' ? o.credsStore : undefined,
  };
}

function decodeAuth(entry: AuthEntry, key: string): FoundCredentials | undefined {
  if (entry.auth === undefined || entry.auth === '') {
    if (entry.identitytoken !== undefined)
      return { username: '', password: '', identityToken: entry.identitytoken };
    return undefined;
  }
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    throw new RegistriesError('AUTH_FILE_INVALID', `auth entry for ${key}: expected base64 of user:password`);
  }
  return {
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1),
    ...(entry.identitytoken !== undefined && entry.identitytoken !== ''
      ? { identityToken: entry.identitytoken }
      : {}),
  };
}

/** `host/ns/repo` → [`host/ns/repo`, `host/ns`, `host`]: the most specific key first. */
export function authKeys(repository: string): string[] {
  const keys: string[] = [];
  let k = repository;
  for (;;) {
    keys.push(k);
    const slash = k.lastIndexOf('/');
    if (slash < 0) return keys;
    k = k.slice(0, slash);
  }
}

/** Legacy keys such as `https://index.docker.io/v1/` match their host only. */
function normalizeKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '');
  if (key !== k) k = k.split('/', 1)[0]!;
  return k === 'index.docker.io' ? 'docker.io' : k;
}

function lookupAuths(file: AuthFile, repository: string): FoundCredentials | undefined {
  const host = repository.split('/', 1)[0]!;
  for (const key of authKeys(repository)) {
    const entry = file.auths[key];
    if (entry !== undefined) return decodeAuth(entry, key);
  }
  for (const [key, entry] of Object.entries(file.auths)) {
    if (key.includes('://') && normalizeKey(key) === host) return decodeAuth(entry, key);
  }
  if (host === 'docker.io') {
    const legacy = file.auths['https://index.docker.io/v1/'];
    if (legacy !== undefined) return decodeAuth(legacy, 'docker.io');
  }
  return undefined;
}

/** Runs `docker-credential-<helper> get` for a host. Undefined when the helper has nothing. */
export async function helperGet(helper: string, host: string): Promise<FoundCredentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    throw new RegistriesError(
      'CREDENTIAL_HELPER_FAILED',
      `credential helper ${JSON.stringify(helper)}: invalid name`,
    );
  }
  const out = await new Promise<string | undefined>((resolve, reject) => {
    const child = execFile(
      `docker-credential-${helper}`,
      ['get'],
      { timeout: HELPER_TIMEOUT_MS, maxBuffer: HELPER_MAX_OUTPUT, encoding: 'utf8' },
      (err, stdout) => {
        if (err === null) {
          resolve(stdout);
          return;
        }
        // The protocol reports "not found" on stdout with a non-zero exit.
        if (/credentials not found/i.test(stdout)) {
          resolve(undefined);
          return;
        }
        reject(
          new RegistriesError(
            'CREDENTIAL_HELPER_FAILED',
            `credential helper docker-credential-${helper} for ${host}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : 'failed'}`,
          ),
        );
      },
    );
    child.stdin?.end(host);
  });
  if (out === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(out);
  } catch {
    throw new RegistriesError(
      'CREDENTIAL_HELPER_FAILED',
      `credential helper docker-credential-${helper} for ${host}: invalid JSON`,
    );
  }
  const o = doc as { Username?: unknown; Secret?: unknown };
  if (typeof o.Username !== 'string' || typeof o.Secret !== 'string') {
    throw new RegistriesError(
      'CREDENTIAL_HELPER_FAILED',
      `credential helper docker-credential-${helper} for ${host}: missing Username or Secret`,
    );
  }
  if (o.Username === '<token>') return { username: '', password: '', identityToken: o.Secret };
  return { username: o.Username, password: o.Secret };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    return checkedSize(path, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw readFailure(path, err);
  }
}

function checkedSize(path: string, text: string): string {
  if (text.length > MAX_AUTH_FILE) {
    throw new RegistriesError('AUTH_FILE_INVALID', `auth file ${path}: larger than ${MAX_AUTH_FILE} bytes`);
  }
  return text;
}

function readFailure(path: string, err: unknown): RegistriesError {
  if (err instanceof RegistriesError) return err;
  return new RegistriesError('AUTH_FILE_INVALID', `reading auth file ${path}: ${(err as Error).message}`, {
    cause: err,
  });
}

/** An auth file parsed, or undefined when absent; cached per process until the file changes. */
export function loadAuthFile(path: string, legacy = false): Promise<AuthFile | undefined> {
  return cachedFromFiles(JSON.stringify(['auth', path, legacy]), async (files) => {
    let text: string | undefined;
    try {
      text = await files.readFile(path);
    } catch (err) {
      throw readFailure(path, err);
    }
    return text === undefined ? undefined : parseAuthFile(checkedSize(path, text), path, legacy);
  });
}

/** The file login writes: explicit, $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json. */
export function defaultAuthFilePath(where: AuthEnvironment, explicit?: string): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  const fromEnv = where.env.REGISTRY_AUTH_FILE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const runtime = where.env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== '') return join(runtime, 'containers/auth.json');
  return join(where.home ?? homedir(), '.config/containers/auth.json');
}

/** Files searched, in order, with whether each uses the legacy ~/.dockercfg layout. */
export function authFileSearchPath(
  where: AuthEnvironment,
  explicit?: string,
): { path: string; legacy: boolean }[] {
  const first = { path: defaultAuthFilePath(where, explicit), legacy: false };
  if ((explicit !== undefined && explicit !== '') || (where.env.REGISTRY_AUTH_FILE ?? '') !== '')
    return [first];
  const home = where.home ?? homedir();
  const files = [first];
  const xdgConfig = where.env.XDG_CONFIG_HOME || join(home, '.config');
  const userFile = join(xdgConfig, 'containers/auth.json');
  if (userFile !== first.path) files.push({ path: userFile, legacy: false });
  const dockerConfig = where.env.DOCKER_CONFIG;
  files.push({
    path: dockerConfig ? join(dockerConfig, 'config.json') : join(home, '.docker/config.json'),
    legacy: false,
  });
  files.push({ path: join(home, '.dockercfg'), legacy: true });
  return files;
}

export interface CredentialQuery extends AuthEnvironment {
  /** Repository without tag: `host[:port]/path`. */
  readonly repository: string;
  readonly explicit?: { readonly username: string; readonly password: string };
  readonly noCredentials?: boolean;
  readonly dockerConfigJson?: readonly string[];
  readonly authFilePath?: string;
  /** registries.conf credential-helpers; `containers-auth.json` stands for the auth files. */
  readonly credentialHelpers?: readonly string[];
}

/** The credentials to use for a repository, or undefined for anonymous access. */
export async function findCredentials(q: CredentialQuery): Promise<FoundCredentials | undefined> {
  if (q.noCredentials === true) return undefined;
  if (q.explicit !== undefined) return q.explicit;
  const host = q.repository.split('/', 1)[0]!;
  for (const [i, blob] of (q.dockerConfigJson ?? []).entries()) {
    const file = parseAuthFile(blob, `.dockerconfigjson #${i + 1}`);
    const found = lookupAuths(file, q.repository);
    if (found !== undefined) return found;
  }
  for (const helper of q.credentialHelpers ?? ['containers-auth.json']) {
    if (helper !== 'containers-auth.json') {
      const found = await helperGet(helper, host);
      if (found !== undefined) return found;
      continue;
    }
    for (const { path, legacy } of authFileSearchPath(q, q.authFilePath)) {
      const file = await loadAuthFile(path, legacy);
      if (file === undefined) continue;
      const helperName = file.credHelpers[host];
      if (helperName !== undefined) {
        const found = await helperGet(helperName, host);
        if (found !== undefined) return found;
        continue;
      }
      const found = lookupAuths(file, q.repository);
      if (found !== undefined) return found;
      if (file.credsStore !== undefined) {
        const stored = await helperGet(file.credsStore, host);
        if (stored !== undefined) return stored;
      }
    }
  }
  return undefined;
}

async function readForUpdate(path: string): Promise<Record<string, unknown>> {
  const text = await readIfExists(path);
  if (text === undefined) return {};
  parseAuthFile(text, path);
  return JSON.parse(text) as Record<string, unknown>;
}

async function writeAtomically(path: string, doc: Record<string, unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, `${JSON.stringify(doc, null, '\t')}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** Stores credentials for `key` (host or host/path) in an auth.json file. */
export async function storeCredentials(
  path: string,
  key: string,
  username: string,
  password: string,
): Promise<void> {
  const doc = await readForUpdate(path);
  const auths = { ...((doc.auths as Record<string, unknown> | undefined) ?? {}) };
  auths[key] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  await writeAtomically(path, { ...doc, auths });
}

/** Removes `key` (or every entry with `all`); returns whether anything was removed. */
export async function removeCredentials(path: string, key: string | undefined): Promise<boolean> {
  const doc = await readForUpdate(path);
  const auths = { ...((doc.auths as Record<string, unknown> | undefined) ?? {}) };
  let removed: boolean;
  if (key === undefined) {
    removed = Object.keys(auths).length > 0;
    for (const k of Object.keys(auths)) delete auths[k];
  } else {
    removed = Object.hasOwn(auths, key);
    delete auths[key];
  }
  if (removed) await writeAtomically(path, { ...doc, auths });
  return removed;
}

/** The username stored for `key`, if any (`login --get-login`). */
export async function storedUsername(path: string, key: string): Promise<string | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  const found = lookupAuths(parseAuthFile(text, path), key);
  return found?.username;
}
