// The policy CRDs (portcullis.dev/v1alpha1): what operators write with kubectl.

export const POLICY_GROUP = 'portcullis.dev';
export const POLICY_VERSION = 'v1alpha1';
export const POLICY_API_VERSION = `${POLICY_GROUP}/${POLICY_VERSION}`;

export type PolicyKind = 'ClusterImagePolicy' | 'ImagePolicy';

export const POLICY_KINDS: Readonly<
  Record<PolicyKind, { readonly plural: string; readonly namespaced: boolean }>
> = {
  ClusterImagePolicy: { plural: 'clusterimagepolicies', namespaced: false },
  ImagePolicy: { plural: 'imagepolicies', namespaced: true },
};

/** enforce denies, warn admits with a warning, audit admits and records. */
export type PolicyMode = 'enforce' | 'warn' | 'audit';
export const POLICY_MODES: readonly PolicyMode[] = ['enforce', 'warn', 'audit'];

/** A key of a Secret or ConfigMap, in the policy's namespace (ImagePolicy) or the controller's (ClusterImagePolicy). */
export interface KeyRef {
  readonly name: string;
  readonly key: string;
}

export type RefKind = 'Secret' | 'ConfigMap';

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values?: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export interface PolicyCondition {
  readonly type: 'Ready' | 'Invalid';
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
}

export interface PolicyStatus {
  readonly observedGeneration?: number;
  /** metadata.generation of the version in force (the last good one when the newest is invalid). */
  readonly activeGeneration?: number;
  /** The generation hash of the version in force. */
  readonly policyHash?: string;
  readonly conditions?: readonly PolicyCondition[];
}

/** A policy object as read from the API server; `spec` is checked by the conversion, not trusted. */
export interface PolicyObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name?: string;
    readonly namespace?: string;
    readonly generation?: number;
    readonly resourceVersion?: string;
    readonly uid?: string;
  };
  readonly spec?: unknown;
  readonly status?: PolicyStatus;
}
