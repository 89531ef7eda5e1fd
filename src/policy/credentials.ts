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

function authEntries(document: string): Array<[string, unknown]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(document);
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null) return [];
  const auths = (parsed as { auths?: unknown }).auths;
  if (typeof auths !== 'object' || auths === null) return [];
  return Object.entries(auths);
}

/**
 * A short hash of the credential entries that apply to `ref`'s repository (the host, or a
 * namespace of it), or ANONYMOUS_SCOPE when none does. Two admissions share cached verdicts only
 * when they would present the same credentials to the registry; secrets for other registries do
 * not split the cache.
 */
export function credentialScope(ref: DockerReference, credentials: PullCredentials): string {
  if (credentials.dockerConfigJson.length === 0) return ANONYMOUS_SCOPE;
  const name = ref.name();
  const hash = createHash('sha256');
  let matched = false;
  for (const document of credentials.dockerConfigJson) {
    for (const [key, value] of authEntries(document)) {
      const k = normalizeAuthKey(key);
      if (k !== ref.domain && name !== k && !name.startsWith(`${k}/`)) continue;
      matched = true;
      hash.update(`${k}\0${JSON.stringify(value)}\0`);
    }
  }
  return matched ? hash.digest('hex').slice(0, 32) : ANONYMOUS_SCOPE;
}

/** No per-pod secrets: every admission uses the server's auth file only (until src/kube provides them). */
const NO_CREDENTIALS: PullCredentials = Object.freeze({ dockerConfigJson: Object.freeze([]) });
export const NO_PULL_SECRETS: PullSecretSource = {
  secretsFor: async () => NO_CREDENTIALS,
  knownSecretsFor: () => NO_CREDENTIALS,
};
