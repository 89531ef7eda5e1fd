// Watches ClusterImagePolicies, ImagePolicies, Namespaces and the Secrets/ConfigMaps policies
// reference; compiles each policy version once; serves the policies in force per namespace.
//
// How policies combine: see src/policy/crd/source.ts.

import { truncate } from '../image/index.ts';
import {
  type CompiledPolicy,
  compilePolicyObject,
  type PolicyCompiler,
  policyKey,
} from '../policy/crd/compile.ts';
import { type PolicySettings, policySettings, specToPolicyJson } from '../policy/crd/convert.ts';
import { CrdError, type CrdErrorCode } from '../policy/crd/errors.ts';
import type { ActivePolicy, PolicyChange, PolicySource } from '../policy/crd/source.ts';
import {
  POLICY_KINDS,
  type PolicyCondition,
  type PolicyKind,
  type PolicyObject,
  type PolicyStatus,
  type RefKind,
} from '../policy/crd/types.ts';
import { Informer, type InformerOptions } from './informer.ts';
import type { LeaderElector } from './leader.ts';
import { type RefId, RefStore, refId } from './refs.ts';
import { selectorMatches } from './selector.ts';
import { type KubeApi, KubeError, type KubeObject } from './types.ts';

export interface PolicyControllerOptions<T> {
  readonly api: KubeApi;
  readonly compile: PolicyCompiler<T>;
  /** Where ClusterImagePolicy key references are looked up (the controller's own namespace). */
  readonly controllerNamespace: string;
  /** Status and Events are written only while this replica leads; undefined: always write. */
  readonly leader: LeaderElector | undefined;
  readonly informer: InformerOptions;
  /** How long a reconcile waits for a newly referenced Secret/ConfigMap to load. */
  readonly refLoadTimeoutMs: number;
  readonly now: () => Date;
  readonly onError: (err: unknown, context: string) => void;
}

interface PolicyState<T> {
  readonly kind: PolicyKind;
  obj: PolicyObject;
  good: CompiledPolicy<T> | undefined;
  failure:
    | { readonly generation: number; readonly code: CrdErrorCode | 'INTERNAL'; readonly message: string }
    | undefined;
  /** generation + versions of referenced objects the last compile saw. */
  fingerprint: string;
  refs: ReadonlySet<RefId>;
}

const REASONS: Record<CrdErrorCode | 'INTERNAL', string> = {
  CRD_INVALID: 'SpecInvalid',
  REF_NOT_FOUND: 'ReferenceNotFound',
  REF_KEY_NOT_FOUND: 'ReferenceKeyNotFound',
  REF_UNRESOLVED: 'ReferenceNotLoaded',
  POLICY_INVALID: 'PolicyInvalid',
  EXPORT_FAILED: 'SpecInvalid',
  INTERNAL: 'InternalError',
};

const NO_REFS: ReadonlySet<RefId> = new Set();

export class PolicyController<T> implements PolicySource<T> {
  readonly #o: PolicyControllerOptions<T>;
  readonly #informers: Record<PolicyKind, Informer<PolicyObject>>;
  readonly #namespaces: Informer<KubeObject>;
  readonly #refs: RefStore;
  readonly #states = new Map<string, PolicyState<T>>();
  readonly #listeners = new Set<(change: PolicyChange) => void>();
  #byNamespace = new Map<string, readonly ActivePolicy<T>[]>();
  /** Reconciles run one at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  #started = false;
  #initialDone = false;

  constructor(options: PolicyControllerOptions<T>) {
    this.#o = options;
    const { api } = options;
    this.#informers = {
      ClusterImagePolicy: new Informer(
        api.watch<PolicyObject>({ resource: 'clusterimagepolicies' }),
        options.informer,
      ),
      ImagePolicy: new Informer(api.watch<PolicyObject>({ resource: 'imagepolicies' }), options.informer),
    };
    this.#namespaces = new Informer(api.watch<KubeObject>({ resource: 'namespaces' }), options.informer);
    this.#refs = new RefStore(api, options.informer, (id) => this.#refChanged(id));
    for (const kind of Object.keys(this.#informers) as PolicyKind[]) {
      const informer = this.#informers[kind];
      for (const type of ['add', 'update', 'delete'] as const) {
        informer.on(type, (obj) => this.#enqueue(kind, obj.metadata.namespace, obj.metadata.name ?? ''));
      }
    }
    for (const type of ['add', 'update', 'delete'] as const)
      this.#namespaces.on(type, () => this.#invalidate([]));
    options.leader?.onChange((leader) => {
      if (leader)
        for (const st of this.#states.values())
          this.#enqueue(st.kind, st.obj.metadata.namespace, st.obj.metadata.name ?? '');
    });
  }

  /** Starts the informers; resolves when all synced and every existing policy was compiled once. */
  async start(): Promise<void> {
    this.#started = true;
    await Promise.all([
      this.#informers.ClusterImagePolicy.start(),
      this.#informers.ImagePolicy.start(),
      this.#namespaces.start(),
    ]);
    for (const kind of Object.keys(this.#informers) as PolicyKind[]) {
      for (const obj of this.#informers[kind].list())
        this.#enqueue(kind, obj.metadata.namespace, obj.metadata.name ?? '');
    }
    await this.#queue;
    this.#initialDone = true;
  }

  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all([
      this.#informers.ClusterImagePolicy.stop(),
      this.#informers.ImagePolicy.stop(),
      this.#namespaces.stop(),
    ]);
    await this.#queue;
    await this.#refs.stop();
  }

  ready(): boolean {
    return (
      this.#initialDone &&
      this.#informers.ClusterImagePolicy.synced &&
      this.#informers.ImagePolicy.synced &&
      this.#namespaces.synced
    );
  }

  /** Resolves once every change queued so far has been applied (for tests and shutdown). */
  settled(): Promise<void> {
    return this.#queue;
  }

  onChange(listener: (change: PolicyChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  policiesFor(namespace: string): readonly ActivePolicy<T>[] {
    // An empty list before the first sync would read as "no policy applies".
    if (!this.#initialDone)
      throw new KubeError('NOT_SYNCED', 'policies: the policy informers have not synced yet');
    const cached = this.#byNamespace.get(namespace);
    if (cached !== undefined) return cached;
    const ns = this.#namespaces.get(namespace);
    const labels = ns?.metadata?.labels ?? {};
    const out: ActivePolicy<T>[] = [];
    for (const [key, st] of this.#states) {
      if (st.kind === 'ImagePolicy' && st.obj.metadata.namespace !== namespace) continue;
      if (st.kind === 'ClusterImagePolicy') {
        const selector = (st.good?.settings ?? safeSettings(st)).namespaceSelector;
        // A namespace not in the cache yet (just created) gets every cluster policy: policies
        // only add requirements, so applying one too many can deny, never admit by mistake.
        if (ns !== undefined && !selectorMatches(selector, labels)) continue;
      }
      out.push(active(key, st));
    }
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.#byNamespace.set(namespace, out);
    return out;
  }

  #enqueue(kind: PolicyKind, namespace: string | undefined, name: string): void {
    if (!this.#started) return;
    this.#queue = this.#queue.then(() =>
      this.#reconcile(kind, namespace, name).catch((err) =>
        this.#o.onError(err, `reconciling ${kind} ${name}`),
      ),
    );
  }

  #refChanged(id: RefId): void {
    for (const st of this.#states.values()) {
      if (st.refs.has(id)) this.#enqueue(st.kind, st.obj.metadata.namespace, st.obj.metadata.name ?? '');
    }
  }

  #refNamespace(kind: PolicyKind, obj: PolicyObject): string {
    return kind === 'ClusterImagePolicy' ? this.#o.controllerNamespace : (obj.metadata.namespace ?? '');
  }

  async #reconcile(kind: PolicyKind, namespace: string | undefined, name: string): Promise<void> {
    const key = policyKey(kind, namespace, name);
    const obj = this.#informers[kind].get(name, POLICY_KINDS[kind].namespaced ? namespace : undefined);
    const st = this.#states.get(key);
    if (obj === undefined) {
      if (st === undefined) return;
      this.#states.delete(key);
      await this.#releaseRefs();
      this.#invalidate(st.good === undefined ? [] : [st.good.hash]);
      return;
    }
    const refNamespace = this.#refNamespace(kind, obj);
    const refs = referencedObjects(obj.spec);
    // Bounded: a reference that cannot load (RBAC, outage) fails this policy, not the whole queue;
    // its informer's first sync triggers a recompile later.
    await Promise.race([
      Promise.allSettled(refs.map((r) => this.#refs.ensure(r.kind, refNamespace, r.name))),
      delay(this.#o.refLoadTimeoutMs),
    ]);
    const refIds = new Set(refs.map((r) => refId(r.kind, refNamespace, r.name)));
    const generation = obj.metadata.generation ?? 0;
    const fingerprint = `${obj.metadata.uid ?? ''}/${generation}/${[...refIds].map((id) => `${id}@${this.#refs.version(id)}`).join(',')}`;
    const state: PolicyState<T> = st ?? {
      kind,
      obj,
      good: undefined,
      failure: undefined,
      fingerprint: '',
      refs: NO_REFS,
    };
    state.obj = obj;
    const previous = state.refs;
    state.refs = refIds;
    this.#states.set(key, state);
    if (state.fingerprint !== fingerprint) {
      state.fingerprint = fingerprint;
      const retired = await this.#compile(state, refNamespace);
      if (!sameSet(previous, refIds)) await this.#releaseRefs();
      this.#invalidate(retired);
    }
    await this.#writeStatus(state);
  }

  /** Compiles the object's current version; returns the hashes it retires. */
  async #compile(state: PolicyState<T>, refNamespace: string): Promise<string[]> {
    const { obj, kind } = state;
    const generation = obj.metadata.generation ?? 0;
    const resolver = {
      resolve: (refKind: RefKind, ref: { name: string; key: string }, field: string) =>
        this.#refs.resolve(refKind, refNamespace, ref, field),
    };
    const before = state.good;
    const failedBefore = state.failure;
    try {
      const compiled = await compilePolicyObject(kind, obj, resolver, this.#o.compile);
      state.good = compiled;
      state.failure = undefined;
      if (before?.hash !== compiled.hash) {
        this.#event(
          state,
          'Normal',
          'Compiled',
          `generation ${generation} is in force (policy hash ${compiled.hash})`,
        );
      }
      return before !== undefined && before.hash !== compiled.hash ? [before.hash] : [];
    } catch (err) {
      const code = err instanceof CrdError ? err.code : 'INTERNAL';
      const message = err instanceof Error ? err.message : String(err);
      state.failure = { generation, code, message };
      if (failedBefore?.message !== message) {
        const kept =
          before === undefined ? 'no version is in force' : `generation ${before.generation} stays in force`;
        this.#event(
          state,
          'Warning',
          REASONS[code],
          `${truncate(message, EVENT_MESSAGE_MAX - kept.length - 2)}; ${kept}`,
        );
      }
      // An invalid policy with no good version changes what applies (to "undecided"): callers re-read.
      return [];
    }
  }

  async #releaseRefs(): Promise<void> {
    const keep = new Set<RefId>();
    for (const st of this.#states.values()) for (const id of st.refs) keep.add(id);
    await this.#refs.retain(keep);
  }

  #invalidate(retiredHashes: readonly string[]): void {
    this.#byNamespace = new Map();
    for (const l of this.#listeners) {
      try {
        l({ retiredHashes });
      } catch (err) {
        this.#o.onError(err, 'policy change listener');
      }
    }
  }

  #leading(): boolean {
    return this.#o.leader === undefined || this.#o.leader.isLeader;
  }

  #event(state: PolicyState<T>, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (!this.#leading()) return;
    const m = state.obj.metadata;
    this.#o.api
      .createEvent({
        involved: { kind: state.kind, name: m.name ?? '', namespace: m.namespace, uid: m.uid },
        type,
        reason,
        message,
      })
      .catch((err) => this.#o.onError(err, `recording event on ${state.kind} ${m.name}`));
  }

  async #writeStatus(state: PolicyState<T>): Promise<void> {
    if (!this.#leading()) return;
    const current = state.obj.status;
    const desired = desiredStatus(state, current, this.#o.now());
    if (sameStatus(current, desired)) return;
    const m = state.obj.metadata;
    try {
      await this.#o.api.patchPolicyStatus(
        POLICY_KINDS[state.kind].plural as 'clusterimagepolicies' | 'imagepolicies',
        state.kind === 'ImagePolicy' ? m.namespace : undefined,
        m.name ?? '',
        desired,
      );
    } catch (err) {
      this.#o.onError(err, `writing status of ${state.kind} ${m.name}`);
    }
  }
}

/** Status messages stay far below the schema's 32 KiB so a long parser error cannot block the patch. */
const STATUS_MESSAGE_MAX = 4096;
/** What the API server allows an events.k8s.io note, and what its own components cap Events at. */
const EVENT_MESSAGE_MAX = 1024;

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

const sameSet = <V>(a: ReadonlySet<V>, b: ReadonlySet<V>) =>
  a.size === b.size && [...a].every((v) => b.has(v));

function safeSettings<T>(st: PolicyState<T>): PolicySettings {
  try {
    return policySettings(st.kind, st.obj.spec);
  } catch {
    return { mode: 'enforce', namespaceSelector: undefined };
  }
}

function active<T>(key: string, st: PolicyState<T>): ActivePolicy<T> {
  if (st.good !== undefined) {
    const g = st.good;
    return {
      key,
      mode: g.settings.mode,
      state: 'ready',
      hash: g.hash,
      generation: g.generation,
      compiled: g.compiled,
    };
  }
  const reason =
    st.failure === undefined ? 'not compiled yet' : `${REASONS[st.failure.code]}: ${st.failure.message}`;
  return {
    key,
    mode: safeSettings(st).mode,
    state: 'failed',
    reason: `policy ${key} has no valid version (${reason})`,
  };
}

/** The Secrets and ConfigMaps a spec references (whatever else is wrong with it). */
function referencedObjects(spec: unknown): { kind: RefKind; name: string }[] {
  const found = new Map<string, { kind: RefKind; name: string }>();
  try {
    specToPolicyJson(spec, {
      resolve: (kind, ref) => {
        found.set(`${kind}/${ref.name}`, { kind, name: ref.name });
        return { kind: 'data', bytes: new Uint8Array() };
      },
    });
  } catch {
    // The compile that follows reports what is wrong with the spec.
  }
  return [...found.values()];
}

type StatusBody = {
  observedGeneration: number;
  activeGeneration: number | null;
  policyHash: string | null;
  conditions: PolicyCondition[];
};

function desiredStatus<T>(st: PolicyState<T>, current: PolicyStatus | undefined, now: Date): StatusBody {
  const generation = st.obj.metadata.generation ?? 0;
  const good = st.good;
  const failure = st.failure;
  const condition = (
    type: PolicyCondition['type'],
    status: PolicyCondition['status'],
    reason: string,
    message: string,
  ) => {
    const old = current?.conditions?.find((c) => c.type === type);
    const lastTransitionTime =
      old !== undefined && old.status === status ? old.lastTransitionTime : now.toISOString();
    return { type, status, reason, message, observedGeneration: generation, lastTransitionTime };
  };
  const conditions =
    failure === undefined
      ? [
          condition('Ready', 'True', 'Compiled', `generation ${generation} is in force`),
          condition('Invalid', 'False', 'Compiled', 'the policy compiled'),
        ]
      : [
          condition(
            'Ready',
            'False',
            REASONS[failure.code],
            good === undefined
              ? 'no version of this policy is valid: images it covers are denied (enforce) or warned about'
              : `generation ${generation} is invalid; generation ${good.generation} stays in force`,
          ),
          condition('Invalid', 'True', REASONS[failure.code], truncate(failure.message, STATUS_MESSAGE_MAX)),
        ];
  return {
    observedGeneration: generation,
    activeGeneration: good?.generation ?? null,
    policyHash: good?.hash ?? null,
    conditions,
  };
}

function sameStatus(current: PolicyStatus | undefined, desired: StatusBody): boolean {
  if (current === undefined) return false;
  const strip = (cs: readonly PolicyCondition[] | undefined) =>
    JSON.stringify(
      (cs ?? []).map(({ type, status, reason, message, observedGeneration }) => [
        type,
        status,
        reason,
        message,
        observedGeneration,
      ]),
    );
  return (
    current.observedGeneration === desired.observedGeneration &&
    (current.activeGeneration ?? null) === desired.activeGeneration &&
    (current.policyHash ?? null) === desired.policyHash &&
    strip(current.conditions) === strip(desired.conditions)
  );
}
