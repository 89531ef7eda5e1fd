// The contract between the policy CRD controller (src/kube) and the webhook: which compiled
// policies apply to a namespace.
//
// How policies combine: for a pod in namespace N, every ClusterImagePolicy whose namespaceSelector
// selects N and every ImagePolicy in N applies, and each must admit the image (AND). Within one
// policy, policy.json's rule holds: only the most specific matching scope's requirements apply.
import type { PolicyMode } from './types.ts';

/** One policy that applies to a namespace, as the webhook consumes it. */
export type ActivePolicy<T> = {
  /** `ClusterImagePolicy/name` or `ImagePolicy/namespace/name`. */
  readonly key: string;
  readonly mode: PolicyMode;
} & (
  | {
      readonly state: 'ready';
      /** Generation hash of the version in force: part of every verdict cache key. */
      readonly hash: string;
      readonly generation: number;
      readonly compiled: T;
    }
  | {
      /** No version of this policy ever compiled: the webhook must treat every image as undecided. */
      readonly state: 'failed';
      readonly reason: string;
    }
);

export interface PolicyChange {
  /** Generation hashes no longer in force: cache entries keyed by them can be dropped. */
  readonly retiredHashes: readonly string[];
}

/** What the webhook needs from the policy CRDs. */
export interface PolicySource<T> {
  /** True once every informer synced and every policy was compiled at least once. */
  ready(): boolean;
  /**
   * The policies applying to pods in `namespace`, sorted by key; they must all admit an image.
   * Throws before the first sync (never an empty list that would read as "nothing applies").
   */
  policiesFor(namespace: string): readonly ActivePolicy<T>[];
  /** Called after every change of the policies in force; returns an unsubscribe function. */
  onChange(listener: (change: PolicyChange) => void): () => void;
}
