// The small slice of the Kubernetes API the controller uses. client.ts implements it with
// @kubernetes/client-node; tests drive the same interfaces with recorded objects.
import { BaseError } from '../image/index.ts';

export type KubeErrorCode =
  /** The object does not exist (HTTP 404). */
  | 'NOT_FOUND'
  /** Optimistic concurrency lost (HTTP 409): re-read and retry. */
  | 'CONFLICT'
  /** Any other failure talking to the API server. */
  | 'API_ERROR'
  /** A read was attempted before the first sync of the informers it needs. */
  | 'NOT_SYNCED'
  /** A watch's resourceVersion is too old to resume from (HTTP 410): list again. */
  | 'GONE';

export class KubeError extends BaseError<KubeErrorCode> {}

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
}

export interface SecretObject extends KubeObject {
  readonly type?: string;
  /** base64 values, as the API serves them. */
  readonly data?: Readonly<Record<string, string>>;
}

export interface ConfigMapObject extends KubeObject {
  readonly data?: Readonly<Record<string, string>>;
  readonly binaryData?: Readonly<Record<string, string>>;
}

/** The kinds of webhook configuration whose caBundle the self-managed certificate mode keeps. */
export type WebhookKind = 'validating' | 'mutating';

export interface WebhookConfigurationObject extends KubeObject {
  readonly webhooks?: readonly {
    readonly name?: string;
    readonly clientConfig?: { readonly caBundle?: string };
  }[];
}

export interface ServiceAccountObject extends KubeObject {
  readonly imagePullSecrets?: readonly { readonly name?: string }[];
}

/** The resources the controller watches; each maps to one list/watch endpoint. */
export type WatchedResource =
  | { readonly resource: 'clusterimagepolicies' }
  | { readonly resource: 'imagepolicies' }
  /** Every namespace's break-glass exceptions. */
  | { readonly resource: 'imagetrustexceptions' }
  | { readonly resource: 'namespaces' }
  /** All namespaces when `namespace` is undefined. */
  | {
      readonly resource: 'secrets' | 'configmaps' | 'serviceaccounts';
      readonly namespace: string | undefined;
      readonly fieldSelector: string | undefined;
    };

/** A list+watch cache of one resource (client-node's ListWatch contract). */
export interface Watched<T extends KubeObject> {
  on(event: 'add' | 'update' | 'delete', handler: (obj: T) => void): void;
  /** Called when the list or the watch fails; the watch has then stopped and must be restarted. */
  on(event: 'error', handler: (err: unknown) => void): void;
  /** Lists, then opens the watch; resolves once both were attempted (errors go to 'error'). */
  start(): Promise<void>;
  stop(): Promise<void>;
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
}

export interface Lease {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly resourceVersion?: string };
  readonly spec: {
    readonly holderIdentity?: string;
    readonly leaseDurationSeconds?: number;
    readonly acquireTime?: string;
    readonly renewTime?: string;
    readonly leaseTransitions?: number;
  };
}

/** A core/v1 Event about a policy object. */
export interface PolicyEvent {
  readonly involved: {
    readonly kind: string;
    readonly name: string;
    readonly namespace: string | undefined;
    readonly uid: string | undefined;
  };
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface KubeApi {
  watch<T extends KubeObject>(what: WatchedResource): Watched<T>;
  /** JSON merge patch of a policy (or exception) object's status subresource. */
  patchPolicyStatus(
    resource: 'clusterimagepolicies' | 'imagepolicies' | 'imagetrustexceptions',
    namespace: string | undefined,
    name: string,
    status: unknown,
  ): Promise<void>;
  createEvent(event: PolicyEvent): Promise<void>;
  /** undefined when the Lease does not exist. */
  readLease(namespace: string, name: string): Promise<Lease | undefined>;
  /** Throws KubeError CONFLICT when it already exists. */
  createLease(lease: Lease): Promise<Lease>;
  /** Throws KubeError CONFLICT when `lease.metadata.resourceVersion` is stale. */
  replaceLease(lease: Lease): Promise<Lease>;
  /** undefined when the Secret does not exist. */
  readSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /**
   * Replaces a Secret as read by readSecret with other `data` (base64 values). Throws KubeError
   * CONFLICT when its resourceVersion is stale.
   */
  replaceSecret(secret: SecretObject, data: Readonly<Record<string, string>>): Promise<void>;
  /** undefined when the configuration does not exist. */
  readWebhookConfiguration(kind: WebhookKind, name: string): Promise<WebhookConfigurationObject | undefined>;
  /**
   * Sets clientConfig.caBundle (base64 PEM) of every webhook of a configuration as read by
   * readWebhookConfiguration. Throws KubeError CONFLICT when it changed since.
   */
  patchWebhookCaBundle(
    kind: WebhookKind,
    config: WebhookConfigurationObject,
    caBundle: string,
  ): Promise<void>;
}
