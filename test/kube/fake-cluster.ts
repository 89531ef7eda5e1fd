// An in-memory API server for unit tests: recorded objects, list/watch with field selectors,
// status patches, Events and Leases, and an outage switch (what a restarting API server does to
// watches). The e2e tests run the same controller against the real kube-apiserver.
import { readFileSync } from 'node:fs';
import { type DOCKER_CFG, DOCKER_CONFIG_JSON } from '../../src/kube/pull-secrets.ts';
import type {
  KubeApi,
  KubeObject,
  Lease,
  PolicyEvent,
  SecretObject,
  Watched,
  WatchedResource,
  WebhookConfigurationObject,
  WebhookKind,
} from '../../src/kube/types.ts';
import { KubeError } from '../../src/kube/types.ts';

type Obj = KubeObject & { spec?: unknown; status?: unknown; type?: string; [k: string]: unknown };
type Resource = WatchedResource['resource'];
type Handler = (obj: Obj) => void;

export function fixture<T = Obj>(name: string): T {
  return JSON.parse(readFileSync(new URL(`fixtures/${name}.json`, import.meta.url), 'utf8')) as T;
}

/**
 * A pull secret as the API server stores it, `document` base64-encoded under its type's key: a
 * config.json for `kubernetes.io/dockerconfigjson`, a legacy `.dockercfg` for the other type.
 */
export function pullSecret(
  namespace: string,
  name: string,
  document: string,
  type: typeof DOCKER_CONFIG_JSON | typeof DOCKER_CFG = DOCKER_CONFIG_JSON,
): Obj {
  const key = type === DOCKER_CONFIG_JSON ? '.dockerconfigjson' : '.dockercfg';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type,
    data: { [key]: Buffer.from(document).toString('base64') },
  };
}

const objKey = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const clone = <T>(v: T): T => structuredClone(v);

/** Frozen all the way down: what a cache hands out must not be changed by its readers. */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

class FakeWatched implements Watched<Obj> {
  readonly #cluster: FakeCluster;
  readonly #what: WatchedResource;
  readonly #handlers: Record<'add' | 'update' | 'delete' | 'error', ((arg: never) => void)[]> = {
    add: [],
    update: [],
    delete: [],
    error: [],
  };
  readonly #cache = new Map<string, Obj>();
  connected = false;
  starts = 0;

  constructor(cluster: FakeCluster, what: WatchedResource) {
    this.#cluster = cluster;
    this.#what = what;
  }

  matches(resource: Resource, o: Obj): boolean {
    const w = this.#what;
    if (w.resource !== resource) return false;
    if ('namespace' in w && w.namespace !== undefined && o.metadata?.namespace !== w.namespace) return false;
    const selector = 'fieldSelector' in w ? w.fieldSelector : undefined;
    if (selector === undefined) return true;
    const [field, value] = selector.split('=') as [string, string];
    if (field === 'metadata.name') return o.metadata?.name === value;
    if (field === 'type') return o.type === value;
    throw new Error(`fake: unsupported field selector ${selector}`);
  }

  on(event: 'add' | 'update' | 'delete' | 'error', handler: (arg: never) => void): void {
    this.#handlers[event].push(handler);
  }

  #emit(event: 'add' | 'update' | 'delete', o: Obj): void {
    for (const h of this.#handlers[event]) (h as Handler)(clone(o));
  }

  fail(err: unknown): void {
    this.connected = false;
    for (const h of this.#handlers.error) (h as (e: unknown) => void)(err);
  }

  async start(): Promise<void> {
    this.starts++;
    await Promise.resolve();
    if (this.#cluster.down) {
      this.fail(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
      return;
    }
    const now = new Map<string, Obj>();
    for (const [resource, store] of this.#cluster.store) {
      for (const o of store.values()) if (this.matches(resource, o)) now.set(objKey(o), o);
    }
    for (const [k, o] of this.#cache) {
      if (!now.has(k)) {
        this.#cache.delete(k);
        this.#emit('delete', o);
      }
    }
    for (const [k, o] of now) this.deliver(o, this.#cache.has(k) ? 'update' : 'add');
    this.connected = true;
  }

  deliver(o: Obj, event: 'add' | 'update' | 'delete'): void {
    if (event === 'delete') this.#cache.delete(objKey(o));
    else this.#cache.set(objKey(o), deepFreeze(clone(o)));
    this.#emit(event, o);
  }

  async stop(): Promise<void> {
    this.connected = false;
    this.#cluster.watchers.delete(this);
  }

  // The kept objects themselves, as the real list+watch cache gives them (readers may key memos
  // by object), frozen so that a reader changing one fails the test instead of the next reader.
  list(): readonly Obj[] {
    return [...this.#cache.values()];
  }

  get(name: string, namespace?: string): Obj | undefined {
    return this.#cache.get(`${namespace ?? ''}/${name}`);
  }
}

export class FakeCluster implements KubeApi {
  readonly store = new Map<Resource, Map<string, Obj>>();
  readonly watchers = new Set<FakeWatched>();
  readonly statusPatches: {
    resource: string;
    namespace: string | undefined;
    name: string;
    status: unknown;
  }[] = [];
  readonly events: PolicyEvent[] = [];
  readonly leases = new Map<string, Lease>();
  /** Webhook configurations by `kind/name`. */
  readonly webhookConfigurations = new Map<string, WebhookConfigurationObject>();
  down = false;
  #rv = 1000;

  watch<T extends KubeObject>(what: WatchedResource): Watched<T> {
    const w = new FakeWatched(this, what);
    this.watchers.add(w);
    return w as unknown as Watched<T>;
  }

  /** Creates or updates an object as the API server would (resourceVersion, generation on spec change). */
  apply(resource: Resource, input: Obj): Obj {
    const store = this.store.get(resource) ?? new Map<string, Obj>();
    this.store.set(resource, store);
    const old = store.get(objKey(input));
    const o = clone(input) as Obj;
    const metadata: Record<string, unknown> = { ...o.metadata, resourceVersion: String(++this.#rv) };
    if (resource === 'clusterimagepolicies' || resource === 'imagepolicies') {
      const oldGen = (old?.metadata?.generation as number | undefined) ?? 0;
      const changed = old === undefined || JSON.stringify(old.spec) !== JSON.stringify(o.spec);
      metadata.generation = changed ? oldGen + 1 : oldGen;
      if (old !== undefined && !('status' in input)) o.status = old.status;
    }
    (o as { metadata: unknown }).metadata = metadata;
    store.set(objKey(o), o);
    this.#notify(resource, o, old === undefined ? 'add' : 'update');
    return clone(o);
  }

  remove(resource: Resource, namespace: string | undefined, name: string): void {
    const store = this.store.get(resource);
    const o = store?.get(`${namespace ?? ''}/${name}`);
    if (store === undefined || o === undefined) return;
    store.delete(objKey(o));
    this.#notify(resource, o, 'delete');
  }

  #notify(resource: Resource, o: Obj, event: 'add' | 'update' | 'delete'): void {
    if (this.down) return;
    for (const w of this.watchers) if (w.connected && w.matches(resource, o)) w.deliver(o, event);
  }

  /** The API server goes away: every open watch fails, lists fail until restore(). */
  outage(): void {
    this.down = true;
    for (const w of this.watchers) if (w.connected) w.fail(new Error('watch closed: connection reset'));
  }

  restore(): void {
    this.down = false;
  }

  async patchPolicyStatus(
    resource: 'clusterimagepolicies' | 'imagepolicies' | 'imagetrustexceptions',
    namespace: string | undefined,
    name: string,
    status: unknown,
  ): Promise<void> {
    if (this.down) throw new KubeError('API_ERROR', 'patching status: connection refused');
    this.statusPatches.push({ resource, namespace, name, status: clone(status) });
    const o = this.store.get(resource)?.get(`${namespace ?? ''}/${name}`);
    if (o === undefined) throw new KubeError('NOT_FOUND', `patching status of ${name}: not found`);
    const merged = { ...(o.status as object | undefined), ...(status as object) } as Record<string, unknown>;
    for (const [k, v] of Object.entries(merged)) if (v === null) delete merged[k];
    this.apply(resource, { ...o, status: merged });
  }

  /** Writes status directly (what `kubectl edit --subresource=status` does). */
  writeStatus(
    resource: 'clusterimagepolicies' | 'imagepolicies',
    namespace: string | undefined,
    name: string,
    status: unknown,
  ): void {
    const o = this.store.get(resource)?.get(`${namespace ?? ''}/${name}`);
    if (o === undefined) throw new Error(`fake: no ${resource} ${name}`);
    this.apply(resource, { ...o, status });
  }

  get(resource: Resource, namespace: string | undefined, name: string): Obj | undefined {
    const o = this.store.get(resource)?.get(`${namespace ?? ''}/${name}`);
    return o === undefined ? undefined : clone(o);
  }

  async createEvent(event: PolicyEvent): Promise<void> {
    this.events.push(event);
  }

  async readLease(namespace: string, name: string): Promise<Lease | undefined> {
    if (this.down) throw new KubeError('API_ERROR', 'reading lease: connection refused');
    const l = this.leases.get(`${namespace}/${name}`);
    return l === undefined ? undefined : clone(l);
  }

  async createLease(lease: Lease): Promise<Lease> {
    const k = `${lease.metadata.namespace}/${lease.metadata.name}`;
    if (this.leases.has(k)) throw new KubeError('CONFLICT', 'lease exists');
    const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.#rv) } };
    this.leases.set(k, stored);
    return clone(stored);
  }

  async replaceLease(lease: Lease): Promise<Lease> {
    const k = `${lease.metadata.namespace}/${lease.metadata.name}`;
    const old = this.leases.get(k);
    if (old === undefined) throw new KubeError('NOT_FOUND', 'no lease');
    if (old.metadata.resourceVersion !== lease.metadata.resourceVersion)
      throw new KubeError('CONFLICT', 'stale lease');
    const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.#rv) } };
    this.leases.set(k, stored);
    return clone(stored);
  }

  async readSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    if (this.down) throw new KubeError('API_ERROR', 'reading secret: connection refused');
    return this.get('secrets', namespace, name);
  }

  async replaceSecret(secret: SecretObject, data: Readonly<Record<string, string>>): Promise<void> {
    if (this.down) throw new KubeError('API_ERROR', 'updating secret: connection refused');
    const old = this.get('secrets', secret.metadata?.namespace, secret.metadata?.name ?? '');
    if (old === undefined) throw new KubeError('NOT_FOUND', 'no secret');
    if (old.metadata?.resourceVersion !== secret.metadata?.resourceVersion)
      throw new KubeError('CONFLICT', 'stale secret');
    this.apply('secrets', { ...(secret as Obj), data: { ...data } });
  }

  /** Creates or replaces a webhook configuration (a new resourceVersion). */
  putWebhookConfiguration(kind: WebhookKind, config: WebhookConfigurationObject): void {
    const name = config.metadata?.name ?? '';
    const stored = {
      ...clone(config),
      metadata: { ...config.metadata, resourceVersion: String(++this.#rv) },
    };
    this.webhookConfigurations.set(`${kind}/${name}`, stored);
  }

  async readWebhookConfiguration(
    kind: WebhookKind,
    name: string,
  ): Promise<WebhookConfigurationObject | undefined> {
    if (this.down) throw new KubeError('API_ERROR', 'reading webhook configuration: connection refused');
    const c = this.webhookConfigurations.get(`${kind}/${name}`);
    return c === undefined ? undefined : clone(c);
  }

  async patchWebhookCaBundle(
    kind: WebhookKind,
    config: WebhookConfigurationObject,
    caBundle: string,
  ): Promise<void> {
    const name = config.metadata?.name ?? '';
    const old = this.webhookConfigurations.get(`${kind}/${name}`);
    if (old === undefined) throw new KubeError('NOT_FOUND', 'no webhook configuration');
    if (old.metadata?.resourceVersion !== config.metadata?.resourceVersion)
      throw new KubeError('CONFLICT', 'stale webhook configuration');
    this.putWebhookConfiguration(kind, {
      ...old,
      webhooks: (old.webhooks ?? []).map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })),
    });
  }
}

/** Loads the recorded objects of test/kube/fixtures into a fresh fake cluster. */
export function recordedCluster(): FakeCluster {
  const c = new FakeCluster();
  c.apply('namespaces', fixture('namespace-default'));
  c.apply('namespaces', fixture('namespace-team-a'));
  c.apply('secrets', fixture('secret-cosign'));
  c.apply('secrets', fixture('secret-regcred'));
  c.apply('secrets', fixture('secret-legacy'));
  c.apply('configmaps', fixture('configmap-team-keys'));
  c.apply('serviceaccounts', fixture('serviceaccount-builder'));
  c.apply('clusterimagepolicies', fixture('cip-signed-quay'));
  c.apply('clusterimagepolicies', fixture('cip-everywhere'));
  c.apply('imagepolicies', fixture('ip-team-a'));
  return c;
}
