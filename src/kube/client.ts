// The only module importing @kubernetes/client-node: KubeApi over a kubeconfig, and YAML I/O.
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  dumpYaml,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  loadAllYaml,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  type V1Secret,
  Watch,
} from '@kubernetes/client-node';
import { truncate } from '../image/index.ts';
import { POLICY_GROUP, POLICY_VERSION } from '../policy/crd/types.ts';
import {
  type KubeApi,
  KubeError,
  type KubeObject,
  type Lease,
  type PolicyEvent,
  type SecretObject,
  type Watched,
  type WatchedResource,
  type WebhookConfigurationObject,
  type WebhookKind,
} from './types.ts';

/** In-cluster config when running in a pod, else $KUBECONFIG / ~/.kube/config; or `file`. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

function wrap(context: string, err: unknown): KubeError {
  if (err instanceof ApiException) {
    const code = err.code === 404 ? 'NOT_FOUND' : err.code === 409 ? 'CONFLICT' : 'API_ERROR';
    return new KubeError(code, `${context}: HTTP ${err.code}${statusMessage(err.body)}`, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new KubeError('API_ERROR', `${context}: ${detail}`, { cause: err });
}

/** The message of a metav1.Status body (the API server's reason, never object contents). */
function statusMessage(body: unknown): string {
  try {
    const message = (JSON.parse(String(body)) as { message?: unknown }).message;
    return typeof message === 'string' ? `: ${truncate(message, 512)}` : '';
  } catch {
    return '';
  }
}

/**
 * Lease times are metav1.MicroTime, which the API server parses with exactly six fractional
 * digits; client-node serializes Dates with three, which it refuses.
 */
class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  }
}

function endpoint(what: WatchedResource): string {
  switch (what.resource) {
    case 'clusterimagepolicies':
    case 'imagepolicies':
    case 'imagetrustexceptions':
      return `/apis/${POLICY_GROUP}/${POLICY_VERSION}/${what.resource}`;
    case 'namespaces':
      return `/api/v1/${what.resource}`;
    case 'serviceaccounts':
    case 'secrets':
    case 'configmaps':
      return what.namespace === undefined
        ? `/api/v1/${what.resource}`
        : `/api/v1/namespaces/${encodeURIComponent(what.namespace)}/${what.resource}`;
    default:
      throw new KubeError('API_ERROR', `unknown resource ${JSON.stringify(what)}`);
  }
}

type AnyList = KubernetesListObject<KubernetesObject>;

export class ClientKubeApi implements KubeApi {
  readonly #kc: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  readonly #coordination: CoordinationV1Api;
  readonly #admission: AdmissionregistrationV1Api;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#coordination = kc.makeApiClient(CoordinationV1Api);
    this.#admission = kc.makeApiClient(AdmissionregistrationV1Api);
  }

  #lister(what: WatchedResource): () => Promise<AnyList> {
    const g = { group: POLICY_GROUP, version: POLICY_VERSION };
    switch (what.resource) {
      case 'clusterimagepolicies':
      case 'imagepolicies':
      case 'imagetrustexceptions':
        return async () =>
          (await this.#custom.listClusterCustomObject({ ...g, plural: what.resource })) as AnyList;
      case 'namespaces':
        return async () => (await this.#core.listNamespace()) as AnyList;
      case 'serviceaccounts':
      case 'secrets':
      case 'configmaps': {
        const { namespace, fieldSelector } = what;
        const core = this.#core;
        const lists = {
          serviceaccounts: [core.listServiceAccountForAllNamespaces, core.listNamespacedServiceAccount],
          secrets: [core.listSecretForAllNamespaces, core.listNamespacedSecret],
          configmaps: [core.listConfigMapForAllNamespaces, core.listNamespacedConfigMap],
        } as const;
        const [all, one] = lists[what.resource];
        return async () =>
          (namespace === undefined
            ? await all.call(core, { fieldSelector })
            : await one.call(core, { namespace, fieldSelector })) as AnyList;
      }
      default:
        throw new KubeError('API_ERROR', `unknown resource ${JSON.stringify(what)}`);
    }
  }

  watch<T extends KubeObject>(what: WatchedResource): Watched<T> {
    const fieldSelector = 'fieldSelector' in what ? what.fieldSelector : undefined;
    const lw = new ListWatch<KubernetesObject>(
      endpoint(what),
      new Watch(this.#kc),
      this.#lister(what),
      false,
      undefined,
      fieldSelector,
    );
    return lw as unknown as Watched<T>;
  }

  async patchPolicyStatus(
    resource: 'clusterimagepolicies' | 'imagepolicies' | 'imagetrustexceptions',
    namespace: string | undefined,
    name: string,
    status: unknown,
  ): Promise<void> {
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const base = { group: POLICY_GROUP, version: POLICY_VERSION, plural: resource, name, body: { status } };
    try {
      if (namespace === undefined) await this.#custom.patchClusterCustomObjectStatus(base, merge);
      else await this.#custom.patchNamespacedCustomObjectStatus({ ...base, namespace }, merge);
    } catch (err) {
      throw wrap(`patching status of ${resource}/${name}`, err);
    }
  }

  async createEvent(event: PolicyEvent): Promise<void> {
    const now = new Date();
    // Events of cluster-scoped objects live in "default", as kubectl describe expects.
    const namespace = event.involved.namespace ?? 'default';
    try {
      await this.#core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${event.involved.name}.`, namespace },
          involvedObject: {
            apiVersion: `${POLICY_GROUP}/${POLICY_VERSION}`,
            kind: event.involved.kind,
            name: event.involved.name,
            namespace: event.involved.namespace,
            uid: event.involved.uid,
          },
          type: event.type,
          reason: event.reason,
          message: event.message,
          source: { component: 'portcullis' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      throw wrap(`recording event on ${event.involved.kind}/${event.involved.name}`, err);
    }
  }

  async readLease(namespace: string, name: string): Promise<Lease | undefined> {
    try {
      return toLease(await this.#coordination.readNamespacedLease({ namespace, name }));
    } catch (err) {
      const wrapped = wrap(`reading lease ${namespace}/${name}`, err);
      if (wrapped.code === 'NOT_FOUND') return undefined;
      throw wrapped;
    }
  }

  async createLease(lease: Lease): Promise<Lease> {
    try {
      return toLease(
        await this.#coordination.createNamespacedLease({
          namespace: lease.metadata.namespace,
          body: fromLease(lease),
        }),
      );
    } catch (err) {
      throw wrap(`creating lease ${lease.metadata.namespace}/${lease.metadata.name}`, err);
    }
  }

  async replaceLease(lease: Lease): Promise<Lease> {
    const { namespace, name } = lease.metadata;
    try {
      return toLease(
        await this.#coordination.replaceNamespacedLease({ namespace, name, body: fromLease(lease) }),
      );
    } catch (err) {
      throw wrap(`renewing lease ${namespace}/${name}`, err);
    }
  }

  async readSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    try {
      return (await this.#core.readNamespacedSecret({ namespace, name })) as SecretObject;
    } catch (err) {
      const wrapped = wrap(`reading secret ${namespace}/${name}`, err);
      if (wrapped.code === 'NOT_FOUND') return undefined;
      throw wrapped;
    }
  }

  async replaceSecret(secret: SecretObject, data: Readonly<Record<string, string>>): Promise<void> {
    const namespace = secret.metadata?.namespace ?? '';
    const name = secret.metadata?.name ?? '';
    try {
      // The object as read, so labels, annotations and owner references survive the replace.
      await this.#core.replaceNamespacedSecret({
        namespace,
        name,
        body: { ...secret, data: { ...data } } as V1Secret,
      });
    } catch (err) {
      throw wrap(`updating secret ${namespace}/${name}`, err);
    }
  }

  async readWebhookConfiguration(
    kind: WebhookKind,
    name: string,
  ): Promise<WebhookConfigurationObject | undefined> {
    try {
      return kind === 'validating'
        ? await this.#admission.readValidatingWebhookConfiguration({ name })
        : await this.#admission.readMutatingWebhookConfiguration({ name });
    } catch (err) {
      const wrapped = wrap(`reading ${kind} webhook configuration ${name}`, err);
      if (wrapped.code === 'NOT_FOUND') return undefined;
      throw wrapped;
    }
  }

  async patchWebhookCaBundle(
    kind: WebhookKind,
    config: WebhookConfigurationObject,
    caBundle: string,
  ): Promise<void> {
    const name = config.metadata?.name ?? '';
    // A JSON patch guarded by the resourceVersion: the indexes are those of the version read.
    const body = [
      { op: 'test', path: '/metadata/resourceVersion', value: config.metadata?.resourceVersion ?? '' },
      ...(config.webhooks ?? []).map((_, i) => ({
        op: 'add',
        path: `/webhooks/${i}/clientConfig/caBundle`,
        value: caBundle,
      })),
    ];
    const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    try {
      if (kind === 'validating')
        await this.#admission.patchValidatingWebhookConfiguration({ name, body }, json);
      else await this.#admission.patchMutatingWebhookConfiguration({ name, body }, json);
    } catch (err) {
      const wrapped = wrap(`setting the caBundle of ${kind} webhook configuration ${name}`, err);
      // A failed test operation is a 422: the configuration changed since it was read.
      if (err instanceof ApiException && err.code === 422) {
        throw new KubeError('CONFLICT', wrapped.message, { cause: err });
      }
      throw wrapped;
    }
  }
}

const time = (t: Date | string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

function toLease(l: V1Lease): Lease {
  const s = l.spec ?? {};
  return {
    metadata: {
      name: l.metadata?.name ?? '',
      namespace: l.metadata?.namespace ?? '',
      resourceVersion: l.metadata?.resourceVersion,
    },
    spec: {
      holderIdentity: s.holderIdentity,
      leaseDurationSeconds: s.leaseDurationSeconds,
      acquireTime: time(s.acquireTime),
      renewTime: time(s.renewTime),
      leaseTransitions: s.leaseTransitions,
    },
  };
}

function fromLease(l: Lease): V1Lease {
  const date = (t: string | undefined) => (t === undefined ? undefined : new MicroTime(t));
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { ...l.metadata },
    spec: {
      holderIdentity: l.spec.holderIdentity,
      leaseDurationSeconds: l.spec.leaseDurationSeconds,
      acquireTime: date(l.spec.acquireTime),
      renewTime: date(l.spec.renewTime),
      leaseTransitions: l.spec.leaseTransitions,
    },
  };
}

/**
 * Every document of a (multi-document) YAML text; duplicate keys are errors. Objects of built-in
 * kinds come back through client-node's typed models; custom resources come back as written.
 */
export function parseYamlDocuments(text: string): unknown[] {
  return loadAllYaml(text).filter((d) => d !== null && d !== undefined);
}

/**
 * YAML for plain data. apiVersion and kind are written by hand because dumpYaml would otherwise
 * pass objects of kinds it knows through its typed models, dropping fields they lack.
 */
export function toYaml(value: Readonly<Record<string, unknown>>): string {
  const { apiVersion, kind, ...rest } = value;
  const head = [
    apiVersion === undefined ? '' : `apiVersion: ${JSON.stringify(apiVersion)}\n`,
    kind === undefined ? '' : `kind: ${JSON.stringify(kind)}\n`,
  ];
  return head.join('') + dumpYaml(rest, { noRefs: true, lineWidth: -1 });
}
