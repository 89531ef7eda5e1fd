// Key material referenced by policies: one single-object informer (fieldSelector on the name) per
// referenced Secret or ConfigMap, so the controller caches only what policies name, not every Secret.

import type { RefValue } from '../policy/crd/convert.ts';
import { CrdError } from '../policy/crd/errors.ts';
import type { KeyRef, RefKind } from '../policy/crd/types.ts';
import { Informer, type InformerOptions } from './informer.ts';
import type { ConfigMapObject, KubeApi, SecretObject } from './types.ts';

/** `Secret/namespace/name`: the identity of one referenced object. */
export type RefId = string;

export const refId = (kind: RefKind, namespace: string, name: string): RefId =>
  `${kind}/${namespace}/${name}`;

type RefObject = SecretObject | ConfigMapObject;

/** Key bytes over this size are refused: no public key or CA bundle is that large. */
const MAX_KEY_BYTES = 1024 * 1024;

export class RefStore {
  readonly #api: KubeApi;
  readonly #options: InformerOptions;
  readonly #onChange: (id: RefId) => void;
  readonly #informers = new Map<
    RefId,
    { informer: Informer<RefObject>; kind: RefKind; namespace: string; name: string }
  >();

  constructor(api: KubeApi, options: InformerOptions, onChange: (id: RefId) => void) {
    this.#api = api;
    this.#options = options;
    this.#onChange = onChange;
  }

  /** Starts watching the object if not yet watched; resolves after its first sync. */
  async ensure(kind: RefKind, namespace: string, name: string): Promise<void> {
    const id = refId(kind, namespace, name);
    let entry = this.#informers.get(id);
    if (entry === undefined) {
      const watched = this.#api.watch<RefObject>({
        resource: kind === 'Secret' ? 'secrets' : 'configmaps',
        namespace,
        fieldSelector: `metadata.name=${name}`,
      });
      const informer = new Informer(watched, this.#options);
      for (const type of ['add', 'update', 'delete'] as const) informer.on(type, () => this.#onChange(id));
      entry = { informer, kind, namespace, name };
      this.#informers.set(id, entry);
    }
    await entry.informer.start();
  }

  /** Stops watching every object not in `keep`. */
  async retain(keep: ReadonlySet<RefId>): Promise<void> {
    for (const [id, entry] of this.#informers) {
      if (keep.has(id)) continue;
      this.#informers.delete(id);
      await entry.informer.stop();
    }
  }

  /** The resourceVersion of a watched object, or "absent"; part of a policy's compile fingerprint. */
  version(id: RefId): string {
    const e = this.#informers.get(id);
    if (e === undefined) return 'unwatched';
    return e.informer.get(e.name, e.namespace)?.metadata?.resourceVersion ?? 'absent';
  }

  /** The bytes `ref` names, from the cache; throws CrdError REF_NOT_FOUND / REF_KEY_NOT_FOUND. */
  resolve(kind: RefKind, namespace: string, ref: KeyRef, field: string): RefValue {
    const id = refId(kind, namespace, ref.name);
    const e = this.#informers.get(id);
    const obj = e?.informer.get(ref.name, namespace);
    if (e === undefined || !e.informer.synced) {
      throw new CrdError('REF_UNRESOLVED', `${field}: ${kind} ${namespace}/${ref.name} is not loaded yet`, {
        field,
      });
    }
    if (obj === undefined) {
      throw new CrdError('REF_NOT_FOUND', `${field}: ${kind} ${namespace}/${ref.name} not found`, { field });
    }
    const bytes =
      kind === 'Secret'
        ? secretValue(obj as SecretObject, ref.key)
        : configMapValue(obj as ConfigMapObject, ref.key);
    if (bytes === undefined) {
      throw new CrdError(
        'REF_KEY_NOT_FOUND',
        `${field}: ${kind} ${namespace}/${ref.name} has no key ${JSON.stringify(ref.key)}`,
        {
          field,
        },
      );
    }
    if (bytes.length > MAX_KEY_BYTES) {
      throw new CrdError(
        'CRD_INVALID',
        `${field}: key ${JSON.stringify(ref.key)} is larger than ${MAX_KEY_BYTES} bytes`,
        { field },
      );
    }
    return { kind: 'data', bytes };
  }

  async stop(): Promise<void> {
    await this.retain(new Set());
  }
}

function secretValue(s: SecretObject, key: string): Uint8Array | undefined {
  const v = s.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64');
}

function configMapValue(c: ConfigMapObject, key: string): Uint8Array | undefined {
  const text = c.data?.[key];
  if (text !== undefined) return Buffer.from(text, 'utf8');
  const bin = c.binaryData?.[key];
  return bin === undefined ? undefined : Buffer.from(bin, 'base64');
}
