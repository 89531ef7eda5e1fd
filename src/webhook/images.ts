// Which images a workload would run, with the field path of each.
import type { AdmissionRequest } from './review.ts';

export interface ImageSite {
  readonly image: string;
  /** Kubernetes field path, e.g. `spec.template.spec.containers[1].image`. */
  readonly path: string;
  /** JSON Pointer of the same field, for patches. */
  readonly pointer: string;
}

export interface PodIdentity {
  readonly serviceAccountName: string;
  readonly imagePullSecrets: readonly string[];
}

export type Extraction =
  /** Nothing to judge: deletions, status updates, scale, ... */
  | { readonly kind: 'none' }
  | { readonly kind: 'unsupported'; readonly what: string }
  | { readonly kind: 'invalid'; readonly message: string }
  | {
      readonly kind: 'workload';
      /** True for Pods: the only objects whose images may be pinned. */
      readonly isPod: boolean;
      readonly sites: readonly ImageSite[];
      readonly pod: PodIdentity;
    };

/** Where the pod spec sits in each supported kind, keyed by `group/Kind`. */
const POD_SPEC_PATHS: ReadonlyMap<string, SpecPath> = new Map(
  (
    [
      ['/Pod', ['spec']],
      ['/PodTemplate', ['template', 'spec']],
      ['/ReplicationController', ['spec', 'template', 'spec']],
      ['apps/Deployment', ['spec', 'template', 'spec']],
      ['apps/ReplicaSet', ['spec', 'template', 'spec']],
      ['apps/StatefulSet', ['spec', 'template', 'spec']],
      ['apps/DaemonSet', ['spec', 'template', 'spec']],
      ['batch/Job', ['spec', 'template', 'spec']],
      ['batch/CronJob', ['spec', 'jobTemplate', 'spec', 'template', 'spec']],
    ] as const
  ).map(([kind, keys]) => [kind, specPath(keys)]),
);
const EPHEMERAL_CONTAINERS_ROOT = specPath([]);
const POD_SPEC = POD_SPEC_PATHS.get('/Pod')!;

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

class InvalidObject extends Error {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function child(value: unknown, key: string, path: string): unknown {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new InvalidObject(`${path}: expected an object`);
  return value[key];
}

/** A pod spec's location in an object, with its field-path and JSON Pointer prefixes built once. */
interface SpecPath {
  readonly keys: readonly string[];
  /** `spec.template.spec`, for error messages. */
  readonly dotted: string;
  /** `spec.template.spec.` ('' at the root), for field paths. */
  readonly field: string;
  /** `/spec/template/spec/`, for patches. */
  readonly pointer: string;
  /** What each step's parent is called in error messages. */
  readonly parents: readonly string[];
}

function specPath(keys: readonly string[]): SpecPath {
  return {
    keys,
    dotted: keys.join('.'),
    field: keys.map((k) => `${k}.`).join(''),
    pointer: `/${keys.map((k) => `${k}/`).join('')}`,
    parents: keys.map((_, i) => keys.slice(0, i).join('.') || 'object'),
  };
}

/**
 * A container's image in a pod spec. Its field path and JSON Pointer are built only when asked
 * for (denials, patches, logs): an admitted review never needs them.
 */
class ContainerImage implements ImageSite {
  readonly image: string;
  readonly #spec: SpecPath;
  readonly #list: string;
  readonly #index: number;

  constructor(image: string, spec: SpecPath, list: string, index: number) {
    this.image = image;
    this.#spec = spec;
    this.#list = list;
    this.#index = index;
  }

  get path(): string {
    return `${this.#spec.field}${this.#list}[${this.#index}].image`;
  }

  get pointer(): string {
    return `${this.#spec.pointer}${this.#list}/${this.#index}/image`;
  }
}

function sitesOf(spec: unknown, path: SpecPath, lists: readonly string[]): ImageSite[] {
  const sites: ImageSite[] = [];
  const prefix = path.dotted;
  for (const list of lists) {
    const containers = child(spec, list, prefix);
    if (containers === undefined || containers === null) continue;
    if (!Array.isArray(containers)) throw new InvalidObject(`${prefix}.${list}: expected an array`);
    for (let i = 0; i < containers.length; i++) {
      const container: unknown = containers[i];
      if (container !== null && !isRecord(container))
        throw new InvalidObject(`${prefix}.${list}[${i}]: expected an object`);
      const image = container?.image;
      // Controllers may leave the image to be defaulted later; an empty one runs nothing yet.
      if (image === undefined || image === null || image === '') continue;
      const site = new ContainerImage(image as string, path, list, i);
      if (typeof image !== 'string')
        throw new InvalidObject(`${site.path}: expected a string, got ${typeof image}`);
      sites.push(site);
    }
  }
  return sites;
}

function podIdentity(spec: unknown, prefix: string): PodIdentity {
  const sa = child(spec, 'serviceAccountName', prefix);
  const secrets = child(spec, 'imagePullSecrets', prefix);
  const names: string[] = [];
  if (Array.isArray(secrets)) {
    for (const s of secrets) {
      const name = isRecord(s) ? s.name : undefined;
      if (typeof name === 'string' && name !== '') names.push(name);
    }
  }
  return {
    serviceAccountName: typeof sa === 'string' && sa !== '' ? sa : 'default',
    imagePullSecrets: names,
  };
}

function extractFrom(object: unknown, path: SpecPath, lists: readonly string[]) {
  let spec: unknown = object;
  for (let i = 0; i < path.keys.length; i++) spec = child(spec, path.keys[i]!, path.parents[i]!);
  return { sites: sitesOf(spec, path, lists), pod: podIdentity(spec, path.dotted) };
}

/**
 * The images of the object under review. On UPDATE only images the update introduces are
 * returned (same field, same image = already admitted), so editing labels of a running workload
 * never waits on a registry.
 */
export function extractImages(request: AdmissionRequest): Extraction {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return { kind: 'none' };
  const { group, kind } = request.kind;
  let path: SpecPath | undefined;
  let lists: readonly string[] = CONTAINER_LISTS;
  if (request.subResource === 'ephemeralcontainers') {
    // Since Kubernetes 1.22 the subresource carries a Pod; before, an EphemeralContainers object.
    if (group === '' && kind === 'EphemeralContainers') path = EPHEMERAL_CONTAINERS_ROOT;
    else if (group === '' && kind === 'Pod') path = POD_SPEC;
    lists = ['ephemeralContainers'];
  } else if (request.subResource !== '') {
    return { kind: 'none' };
  } else {
    path = POD_SPEC_PATHS.get(`${group}/${kind}`);
  }
  if (path === undefined) {
    return {
      kind: 'unsupported',
      what: `${group === '' ? '' : `${group}/`}${request.kind.version}, Kind=${kind}`,
    };
  }
  if (!isRecord(request.object)) return { kind: 'invalid', message: 'request.object: expected an object' };
  try {
    const current = extractFrom(request.object, path, lists);
    let sites = current.sites;
    if (request.operation === 'UPDATE' && isRecord(request.oldObject)) {
      const before = new Set(
        extractFrom(request.oldObject, path, lists).sites.map((s) => `${s.path}\0${s.image}`),
      );
      sites = sites.filter((s) => !before.has(`${s.path}\0${s.image}`));
    }
    return { kind: 'workload', isPod: group === '' && kind === 'Pod', sites, pod: current.pod };
  } catch (err) {
    if (err instanceof InvalidObject) return { kind: 'invalid', message: err.message };
    throw err;
  }
}
