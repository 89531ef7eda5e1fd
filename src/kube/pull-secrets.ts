// A pod's registry credentials: the .dockerconfigjson of its imagePullSecrets, then of its
// ServiceAccount's, from informers that cache only ServiceAccounts and pull-secret-typed Secrets
// (fieldSelector on type), never the cluster's other Secrets.
import type { PodCredentialContext, PullCredentials } from '../policy/index.ts';
import { Informer, type InformerOptions } from './informer.ts';
import { type KubeApi, KubeError, type SecretObject, type ServiceAccountObject } from './types.ts';

export const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CFG = 'kubernetes.io/dockercfg';

export type { PodCredentialContext, PullCredentials };

/** Converts a legacy `.dockercfg` document (`{registry: {auth, ...}}`) to `.dockerconfigjson` form. */
export function dockercfgToConfigJson(dockercfg: string): string {
  const parsed: unknown = JSON.parse(dockercfg);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KubeError('API_ERROR', 'converting .dockercfg: expected a JSON object');
  }
  return JSON.stringify({ auths: parsed });
}

/** Kept for a pull secret that holds no JSON: each read throws its own error about it. */
const NOT_JSON = Symbol('not JSON');

/** The config.json document of a pull secret; null when it has none. */
function decodedDocument(secret: SecretObject): string | null | typeof NOT_JSON {
  try {
    if (secret.type === DOCKER_CONFIG_JSON) {
      const v = secret.data?.['.dockerconfigjson'];
      return v === undefined ? null : Buffer.from(v, 'base64').toString('utf8');
    }
    const v = secret.data?.['.dockercfg'];
    return v === undefined ? null : dockercfgToConfigJson(Buffer.from(v, 'base64').toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

interface NamespaceCaches {
  readonly serviceAccounts: Informer<ServiceAccountObject>;
  readonly secrets: readonly Informer<SecretObject>[];
}

export class KubePullSecrets {
  /** One set of caches for every namespace (key ''), or one per namespace RBAC grants. */
  readonly #caches = new Map<string, NamespaceCaches>();
  /**
   * Each cached Secret's document, decoded once: the informers replace a Secret's object when it
   * changes, so an object seen before holds what was decoded from it.
   */
  readonly #decoded = new WeakMap<SecretObject, string | null | typeof NOT_JSON>();
  /** Every informer of the caches, listed once: ready() is asked on every admission. */
  readonly #informers: readonly Informer<ServiceAccountObject | SecretObject>[];

  /**
   * `namespaces` restricts the caches to those namespaces (for a Role per namespace instead of a
   * ClusterRole); pods elsewhere then get no pull secrets. Undefined: every namespace.
   */
  constructor(api: KubeApi, options: InformerOptions, namespaces?: readonly string[]) {
    for (const ns of namespaces ?? [undefined]) {
      this.#caches.set(ns ?? '', {
        serviceAccounts: new Informer(
          api.watch<ServiceAccountObject>({
            resource: 'serviceaccounts',
            namespace: ns,
            fieldSelector: undefined,
          }),
          options,
        ),
        secrets: [DOCKER_CONFIG_JSON, DOCKER_CFG].map(
          (type) =>
            new Informer(
              api.watch<SecretObject>({ resource: 'secrets', namespace: ns, fieldSelector: `type=${type}` }),
              options,
            ),
        ),
      });
    }
    this.#informers = [...this.#caches.values()].flatMap((c) => [c.serviceAccounts, ...c.secrets]);
  }

  async start(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  ready(): boolean {
    for (const informer of this.#informers) if (!informer.synced) return false;
    return true;
  }

  /**
   * The pull secrets of the pod, then of its ServiceAccount, each once. Missing Secrets are
   * skipped (the kubelet skips them too), as are pods in namespaces outside the caches: without
   * credentials a private image cannot be resolved, so this can deny but never admit by mistake.
   * Before the first sync this throws NOT_SYNCED.
   */
  async secretsFor(context: PodCredentialContext, _signal?: AbortSignal): Promise<PullCredentials> {
    if (!this.ready())
      throw new KubeError('NOT_SYNCED', 'reading pull secrets: the secret cache has not synced yet');
    return this.#read(context);
  }

  /**
   * secretsFor's answer without waiting, as the informers hold everything in memory: what lets an
   * admission whose verdicts are cached be answered at once. Undefined before the first sync, or
   * when a secret cannot be read (secretsFor then says why).
   */
  knownSecretsFor(context: PodCredentialContext): PullCredentials | undefined {
    if (!this.ready()) return undefined;
    try {
      return this.#read(context);
    } catch {
      return undefined;
    }
  }

  #read(context: PodCredentialContext): PullCredentials {
    const caches = this.#caches.get('') ?? this.#caches.get(context.namespace);
    if (caches === undefined) return { dockerConfigJson: [] };
    const sa = caches.serviceAccounts.get(context.serviceAccountName, context.namespace);
    const documents: string[] = [];
    const read: string[] = [];
    // The pod's secrets first, then its ServiceAccount's, each once.
    const add = (name: string) => {
      if (name === '' || read.includes(name)) return;
      read.push(name);
      const doc = this.#document(caches.secrets, name, context.namespace);
      if (doc !== undefined) documents.push(doc);
    };
    for (const name of context.imagePullSecrets) add(name);
    for (const secret of sa?.imagePullSecrets ?? []) add(secret.name ?? '');
    return { dockerConfigJson: documents };
  }

  #document(secrets: readonly Informer<SecretObject>[], name: string, namespace: string): string | undefined {
    for (const informer of secrets) {
      const secret = informer.get(name, namespace);
      if (secret === undefined) continue;
      let document = this.#decoded.get(secret);
      if (document === undefined) {
        document = decodedDocument(secret);
        this.#decoded.set(secret, document);
      }
      // No cause: JSON.parse errors quote the input, and the input holds credentials.
      if (document === NOT_JSON)
        throw new KubeError('API_ERROR', `reading pull secret ${namespace}/${name}: not valid JSON`);
      return document ?? undefined;
    }
    return undefined;
  }
}
