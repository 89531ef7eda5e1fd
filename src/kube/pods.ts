// The running pods, reduced as they arrive to what verification needs (images, owner, namespace,
// ServiceAccount, pull secret names), and the owner chains of ReplicaSets and Jobs (metadata only),
// so a pod's results go to its Deployment or CronJob: memory grows with pods, not with Pod sizes.
import { MAX_POD_IMAGES, type RunningPod, type WorkloadOwner } from '../policy/running.ts';
import { Informer, type InformerOptions } from './informer.ts';
import { type Rest, TransformingListWatch } from './rest.ts';
import type { KubeObject } from './types.ts';

interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

interface SlimMeta {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly resourceVersion: string | undefined;
}

/** What is kept of a ReplicaSet or Job: the reference to its own controller. */
export interface SlimOwner extends KubeObject {
  readonly metadata: SlimMeta;
  readonly owner: OwnerReference | undefined;
}

/** What is kept of a Pod. */
export interface SlimPod extends SlimOwner {
  readonly serviceAccountName: string;
  readonly imagePullSecrets: readonly string[];
  readonly images: readonly string[];
  readonly omittedImages: number;
}

/** What is kept of a ReplicaSet or Job: the reference to its own controller. */
export interface SlimOwner extends KubeObject {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly resourceVersion: string | undefined;
  };
  readonly owner: OwnerReference | undefined;
}

/** Owner chains longer than this stop where they are (and say so). */
const MAX_OWNER_DEPTH = 8;
const POOL_MAX = 100_000;

const record = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

/**
 * One string object per distinct value: 10,000 pods of 300 images hold 300 image strings. Bounded:
 * when full it starts over (values then stop being shared, nothing breaks).
 */
export class StringPool {
  #pool = new Map<string, string>();

  intern(value: string): string {
    const known = this.#pool.get(value);
    if (known !== undefined) return known;
    if (this.#pool.size >= POOL_MAX) this.#pool = new Map();
    this.#pool.set(value, value);
    return value;
  }
}

function controllerOf(
  meta: Record<string, unknown> | undefined,
  pool: StringPool,
): OwnerReference | undefined {
  const refs = list(meta?.ownerReferences).map(record);
  const ref = refs.find((r) => r?.controller === true) ?? refs[0];
  const kind = text(ref?.kind);
  const name = text(ref?.name);
  const uid = text(ref?.uid);
  if (kind === undefined || name === undefined || uid === undefined) return undefined;
  return {
    apiVersion: pool.intern(text(ref?.apiVersion) ?? ''),
    kind: pool.intern(kind),
    name: pool.intern(name),
    uid,
  };
}

function metadataOf(object: unknown, pool: StringPool) {
  const meta = record(record(object)?.metadata);
  const name = text(meta?.name);
  const namespace = text(meta?.namespace);
  const uid = text(meta?.uid);
  if (name === undefined || namespace === undefined || uid === undefined) return undefined;
  return {
    meta,
    metadata: {
      name,
      namespace: pool.intern(namespace),
      uid,
      resourceVersion: text(meta?.resourceVersion),
    },
  };
}

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/** A Pod as kept: undefined for pods that run nothing any more (Succeeded, Failed) or are malformed. */
export function slimPod(object: unknown, pool: StringPool): SlimPod | undefined {
  const found = metadataOf(object, pool);
  if (found === undefined) return undefined;
  const phase = text(record(record(object)?.status)?.phase);
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const spec = record(record(object)?.spec);
  const images = new Set<string>();
  // Bounded by the size of a Pod object (etcd keeps at most 1.5 MiB).
  const omitted = new Set<string>();
  for (const name of CONTAINER_LISTS) {
    for (const container of list(spec?.[name])) {
      const image = text(record(container)?.image);
      if (image === undefined || image === '' || images.has(image)) continue;
      if (images.size >= MAX_POD_IMAGES) omitted.add(image);
      else images.add(pool.intern(image));
    }
  }
  const secrets = list(spec?.imagePullSecrets)
    .map((s) => text(record(s)?.name))
    .filter((n): n is string => n !== undefined && n !== '')
    .map((n) => pool.intern(n));
  return {
    metadata: found.metadata,
    owner: controllerOf(found.meta, pool),
    serviceAccountName: pool.intern(text(spec?.serviceAccountName) || 'default'),
    imagePullSecrets: secrets,
    images: [...images],
    omittedImages: omitted.size,
  };
}

export function slimOwner(object: unknown, pool: StringPool): SlimOwner | undefined {
  const found = metadataOf(object, pool);
  return found === undefined
    ? undefined
    : { metadata: found.metadata, owner: controllerOf(found.meta, pool) };
}

const samePod = (a: SlimPod, b: SlimPod) =>
  a.metadata.uid === b.metadata.uid &&
  a.serviceAccountName === b.serviceAccountName &&
  a.omittedImages === b.omittedImages &&
  a.owner?.uid === b.owner?.uid &&
  a.images.join('\0') === b.images.join('\0') &&
  a.imagePullSecrets.join('\0') === b.imagePullSecrets.join('\0');

const sameOwner = (a: SlimOwner, b: SlimOwner) =>
  a.metadata.uid === b.metadata.uid && a.owner?.uid === b.owner?.uid;

/** Kinds whose controller is looked up, by `apiVersion/kind` of the reference. */
const INTERMEDIATE: Readonly<Record<string, 'replicasets' | 'jobs'>> = {
  'apps/v1/ReplicaSet': 'replicasets',
  'batch/v1/Job': 'jobs',
};

export interface RunningPodsOptions {
  readonly informer: InformerOptions;
  /** Called with the namespace of every pod added, changed (what is kept of it) or deleted. */
  readonly onChange: (namespace: string) => void;
  /** Objects per list page. */
  readonly pageSize?: number;
}

export class RunningPods {
  readonly #pool = new StringPool();
  readonly #pods: TransformingListWatch<SlimPod>;
  readonly #owners: Record<'replicasets' | 'jobs', TransformingListWatch<SlimOwner>>;
  readonly #informers: Informer<KubeObject>[];

  constructor(rest: Rest, options: RunningPodsOptions) {
    const pageSize = options.pageSize ?? 500;
    this.#pods = new TransformingListWatch<SlimPod>(rest, {
      path: '/api/v1/pods',
      // Pods that finished run nothing; the server leaves them out of the list and the watch.
      fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed',
      pageSize,
      transform: (o) => slimPod(o, this.#pool),
      same: samePod,
    });
    const owners = (path: string) =>
      new TransformingListWatch<SlimOwner>(rest, {
        path,
        metadataOnly: true,
        pageSize,
        transform: (o) => slimOwner(o, this.#pool),
        same: sameOwner,
      });
    this.#owners = { replicasets: owners('/apis/apps/v1/replicasets'), jobs: owners('/apis/batch/v1/jobs') };
    const pods = new Informer<SlimPod>(this.#pods, options.informer);
    for (const type of ['add', 'update', 'delete'] as const)
      pods.on(type, (pod) => options.onChange(pod.metadata.namespace));
    // An owner chain that changes (a Deployment adopting a ReplicaSet) changes where results go.
    const ownerInformers = Object.values(this.#owners).map((w) => {
      const informer = new Informer<SlimOwner>(w, options.informer);
      for (const type of ['add', 'update', 'delete'] as const)
        informer.on(type, (o) => options.onChange(o.metadata.namespace));
      return informer;
    });
    this.#informers = [pods, ...ownerInformers] as Informer<KubeObject>[];
  }

  /** Resolves after the first list of pods, ReplicaSets and Jobs. */
  async start(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  ready(): boolean {
    return this.#informers.every((i) => i.synced);
  }

  get size(): number {
    return this.#pods.size;
  }

  /** Every running pod with its owner resolved; `namespaces` restricts them. */
  *pods(namespaces?: ReadonlySet<string>): Generator<RunningPod> {
    for (const pod of this.#pods.list()) {
      if (namespaces !== undefined && !namespaces.has(pod.metadata.namespace)) continue;
      yield this.#running(pod);
    }
  }

  #running(pod: SlimPod): RunningPod {
    const { owner, note } = resolveOwner(pod, (kind, name) =>
      this.#owners[kind].get(name, pod.metadata.namespace),
    );
    return {
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      serviceAccountName: pod.serviceAccountName,
      imagePullSecrets: pod.imagePullSecrets,
      owner,
      ...(note === undefined ? {} : { ownerNote: note }),
      images: pod.images,
      omittedImages: pod.omittedImages,
    };
  }
}

const asOwner = (r: OwnerReference): WorkloadOwner => ({
  apiVersion: r.apiVersion,
  kind: r.kind,
  name: r.name,
  uid: r.uid,
});

/**
 * The top of the pod's controller chain through ReplicaSets and Jobs (a Deployment, a CronJob, a
 * StatefulSet...), or the pod itself. A chain that loops or runs too long stops at the pod's own
 * controller, with a note saying why.
 */
export function resolveOwner(
  pod: SlimPod,
  lookup: (kind: 'replicasets' | 'jobs', name: string) => SlimOwner | undefined,
): { owner: WorkloadOwner; note?: string } {
  const first = pod.owner;
  if (first === undefined) {
    return { owner: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid } };
  }
  const seen = new Set<string>([pod.metadata.uid]);
  let ref = first;
  for (let depth = 0; ; depth++) {
    if (seen.has(ref.uid)) {
      return { owner: asOwner(first), note: `the owner chain loops at ${ref.kind}/${ref.name}` };
    }
    if (depth >= MAX_OWNER_DEPTH) {
      return { owner: asOwner(first), note: `the owner chain is longer than ${MAX_OWNER_DEPTH}` };
    }
    seen.add(ref.uid);
    const kind = INTERMEDIATE[`${ref.apiVersion}/${ref.kind}`];
    if (kind === undefined) return { owner: asOwner(ref) };
    const object = lookup(kind, ref.name);
    // Not in the cache (yet, or not any more), or a different object of the same name.
    if (object === undefined || object.metadata.uid !== ref.uid || object.owner === undefined) {
      return { owner: asOwner(ref) };
    }
    ref = object.owner;
  }
}
