// Which part of a set of pull credentials can matter for one image: the cache's credential scope.
import { createHash } from 'node:crypto';
import type { DockerReference } from '../image/index.ts';
import type { PullCredentials, PullSecretSource } from './types.ts';

export const ANONYMOUS_SCOPE = 'anonymous';

const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** `https://index.docker.io/v1/` -> `docker.io`; `registry.example/ns/` -> `registry.example/ns`. */
export function normalizeAuthKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  k = k.replace(/\/v[12]$/, '');
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  return DOCKER_HUB_ALIASES.has(host) ? `docker.io${k.slice(host.length)}` : k;
}

/** One registry's entry of a config.json `auths`: the normalized key and the entry as JSON. */
interface AuthEntry {
  readonly key: string;
  readonly json: string;
  /** The scope of a repository only this entry applies to, computed when first needed. */
  scope?: string;
}

function authEntries(document: string): readonly AuthEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(document);
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null) return [];
  const auths = (parsed as { auths?: unknown }).auths;
  if (typeof auths !== 'object' || auths === null) return [];
  return Object.entries(auths).map(([key, value]) => ({
    key: normalizeAuthKey(key),
    json: JSON.stringify(value),
  }));
}

/**
 * The parsed entries of the documents seen last, by their text: every admission of a pod with
 * pull secrets asks for the scope of each image, and the documents rarely change. Keyed by the
 * whole text, so a changed secret is parsed afresh and never answered from an older version.
 * Bounded in count and size; a document evicted or too large is parsed again when next seen.
 */
const parsedDocuments = new Map<string, readonly AuthEntry[]>();
const PARSED_DOCUMENTS_MAX = 256;
const PARSED_DOCUMENT_CHARS_MAX = 64 * 1024;

function entriesOf(document: string): readonly AuthEntry[] {
  if (document.length > PARSED_DOCUMENT_CHARS_MAX) return authEntries(document);
  let entries = parsedDocuments.get(document);
  if (entries === undefined) {
    entries = authEntries(document);
    if (parsedDocuments.size >= PARSED_DOCUMENTS_MAX) parsedDocuments.clear();
    parsedDocuments.set(document, entries);
  }
  return entries;
}

const scopeOf = (material: string) => createHash('sha256').update(material).digest('hex').slice(0, 32);

/**
 * A short hash of the credential entries that apply to `ref`'s repository (the host, or a
 * namespace of it), or ANONYMOUS_SCOPE when none does. Two admissions share cached verdicts only
 * when they would present the same credentials to the registry; secrets for other registries do
 * not split the cache. The hash covers `key NUL entry-JSON NUL` of each applying entry in order:
 * it names cache records shared by replicas, so it must not change between versions.
 */
export function credentialScope(ref: DockerReference, credentials: PullCredentials): string {
  if (credentials.dockerConfigJson.length === 0) return ANONYMOUS_SCOPE;
  const name = ref.name();
  let first: AuthEntry | undefined;
  // Built only when more than one entry applies (pod and ServiceAccount secrets for one host).
  let material: string | undefined;
  for (const document of credentials.dockerConfigJson) {
    for (const entry of entriesOf(document)) {
      if (!appliesTo(entry.key, ref.domain, name)) continue;
      if (first === undefined) first = entry;
      else material = (material ?? scopeText(first)) + scopeText(entry);
    }
  }
  if (first === undefined) return ANONYMOUS_SCOPE;
  if (material !== undefined) return scopeOf(material);
  // The common case, one entry for the registry: its scope is hashed once per document.
  first.scope ??= scopeOf(scopeText(first));
  return first.scope;
}

/** Whether an entry keyed `key` (a host, or a host and namespace) covers the repository `name`. */
function appliesTo(key: string, domain: string, name: string): boolean {
  return key === domain || (name.startsWith(key) && (name.length === key.length || name[key.length] === '/'));
}

const scopeText = (entry: AuthEntry) => `${entry.key}\0${entry.json}\0`;

/** No per-pod secrets: every admission uses the server's auth file only (until src/kube provides them). */
const NO_CREDENTIALS: PullCredentials = Object.freeze({ dockerConfigJson: Object.freeze([]) });
export const NO_PULL_SECRETS: PullSecretSource = {
  secretsFor: async () => NO_CREDENTIALS,
  knownSecretsFor: () => NO_CREDENTIALS,
};
