// Watches ImageTrustException objects in every namespace: serves the active ones to the webhook,
// writes each one's state (Active, Expired, Invalid) and expiry to its status while this replica
// leads, and records an Event when one admits an image.

import type { DockerReference } from '../image/index.ts';
import {
  EXCEPTION_KIND,
  type ExceptionSource,
  type ExceptionState,
  exceptionCovers,
  exceptionState,
  type TrustException,
} from '../policy/index.ts';
import { Informer, type InformerOptions } from './informer.ts';
import type { LeaderElector } from './leader.ts';
import type { KubeApi, KubeObject } from './types.ts';

export interface ExceptionWatcherOptions {
  readonly api: KubeApi;
  /** Status is written only while this replica leads; undefined: always write. */
  readonly leader: LeaderElector | undefined;
  readonly informer: InformerOptions;
  readonly now: () => number;
  readonly onError: (err: unknown, context: string) => void;
  /** One Event per exception and image at most this often. */
  readonly eventIntervalMs: number;
}

interface ExceptionObject extends KubeObject {
  readonly metadata?: KubeObject['metadata'] & { readonly creationTimestamp?: string };
  readonly status?: { readonly state?: string; readonly expiresAt?: string; readonly message?: string };
}

const MAX_EVENT_KEYS = 10_000;

export class ExceptionWatcher implements ExceptionSource {
  readonly #o: ExceptionWatcherOptions;
  readonly #informer: Informer<ExceptionObject>;
  /** Objects by namespace, then name. */
  readonly #objects = new Map<string, Map<string, ExceptionObject>>();
  readonly #expiryTimers = new Map<string, NodeJS.Timeout>();
  readonly #lastEvent = new Map<string, number>();

  constructor(options: ExceptionWatcherOptions) {
    this.#o = options;
    this.#informer = new Informer(
      options.api.watch<ExceptionObject>({ resource: 'imagetrustexceptions' }),
      options.informer,
    );
    this.#informer.on('add', (o) => this.#changed(o));
    this.#informer.on('update', (o) => this.#changed(o));
    this.#informer.on('delete', (o) => this.#deleted(o));
    options.leader?.onChange((leading) => {
      if (!leading) return;
      for (const byName of this.#objects.values()) for (const o of byName.values()) this.#writeStatus(o);
    });
  }

  start(): Promise<void> {
    return this.#informer.start();
  }

  ready(): boolean {
    return this.#informer.synced;
  }

  async stop(): Promise<void> {
    for (const timer of this.#expiryTimers.values()) clearTimeout(timer);
    this.#expiryTimers.clear();
    await this.#informer.stop();
  }

  has(namespace: string): boolean {
    return (this.#objects.get(namespace)?.size ?? 0) > 0;
  }

  covering(namespace: string, ref: DockerReference): TrustException | undefined {
    const now = this.#o.now();
    for (const o of this.#objects.get(namespace)?.values() ?? []) {
      const state = exceptionState(o, now);
      if (state.kind === 'active' && exceptionCovers(state.exception, ref)) return state.exception;
    }
    return undefined;
  }

  used(exception: TrustException, image: string): void {
    const key = `${exception.uid}\0${image}`;
    const now = this.#o.now();
    const last = this.#lastEvent.get(key);
    if (last !== undefined && now - last < this.#o.eventIntervalMs) return;
    if (this.#lastEvent.size >= MAX_EVENT_KEYS) this.#lastEvent.clear();
    this.#lastEvent.set(key, now);
    this.#o.api
      .createEvent({
        involved: {
          kind: EXCEPTION_KIND,
          name: exception.name,
          namespace: exception.namespace,
          uid: exception.uid,
        },
        type: 'Warning',
        reason: 'BreakGlassAdmission',
        message: `image ${JSON.stringify(image.slice(0, 512))} admitted without signature verification (owner ${exception.owner})`,
      })
      .catch((err: unknown) =>
        this.#o.onError(err, `event on ${EXCEPTION_KIND} ${exception.namespace}/${exception.name}`),
      );
  }

  #changed(o: ExceptionObject): void {
    const { namespace, name } = o.metadata ?? {};
    if (namespace === undefined || name === undefined) return;
    let byName = this.#objects.get(namespace);
    if (byName === undefined) {
      byName = new Map();
      this.#objects.set(namespace, byName);
    }
    byName.set(name, o);
    this.#writeStatus(o);
    this.#scheduleExpiry(o);
  }

  #deleted(o: ExceptionObject): void {
    const { namespace, name } = o.metadata ?? {};
    if (namespace === undefined || name === undefined) return;
    const byName = this.#objects.get(namespace);
    byName?.delete(name);
    if (byName?.size === 0) this.#objects.delete(namespace);
    const key = `${namespace}/${name}`;
    clearTimeout(this.#expiryTimers.get(key));
    this.#expiryTimers.delete(key);
  }

  /** At expiry the status turns Expired (the webhook stops honouring it by its own clock anyway). */
  #scheduleExpiry(o: ExceptionObject): void {
    const key = `${o.metadata?.namespace}/${o.metadata?.name}`;
    clearTimeout(this.#expiryTimers.get(key));
    this.#expiryTimers.delete(key);
    const state = exceptionState(o, this.#o.now());
    if (state.kind !== 'active') return;
    // setTimeout holds at most ~24.8 days; exceptions last at most 7.
    const timer = setTimeout(
      () => {
        this.#expiryTimers.delete(key);
        const current = this.#objects.get(o.metadata?.namespace ?? '')?.get(o.metadata?.name ?? '');
        if (current !== undefined) this.#writeStatus(current);
      },
      state.exception.expiresAt - this.#o.now() + 50,
    );
    timer.unref();
    this.#expiryTimers.set(key, timer);
  }

  #writeStatus(o: ExceptionObject): void {
    if (this.#o.leader !== undefined && !this.#o.leader.isLeader) return;
    const status = statusOf(exceptionState(o, this.#o.now()), o.metadata?.generation);
    const current = o.status;
    if (
      current?.state === status.state &&
      current.expiresAt === status.expiresAt &&
      current.message === status.message
    ) {
      return;
    }
    const { namespace, name } = o.metadata ?? {};
    this.#o.api
      .patchPolicyStatus('imagetrustexceptions', namespace, name ?? '', status)
      .catch((err: unknown) => this.#o.onError(err, `status of ${EXCEPTION_KIND} ${namespace}/${name}`));
  }
}

function statusOf(state: ExceptionState, generation: number | undefined) {
  const observedGeneration = generation ?? 0;
  switch (state.kind) {
    case 'active':
    case 'expired': {
      const expiresAt = new Date(state.exception.expiresAt).toISOString().replace(/\.\d+Z$/, 'Z');
      const active = state.kind === 'active';
      return {
        state: active ? 'Active' : 'Expired',
        expiresAt,
        message: active
          ? `admits its images without verification until ${expiresAt}`
          : `expired at ${expiresAt}: admits nothing; delete it, or create a new exception`,
        observedGeneration,
      };
    }
    case 'invalid':
      return { state: 'Invalid', message: `${state.message}: admits nothing`, observedGeneration };
    default:
      return { state: 'Invalid', message: 'unknown state: admits nothing', observedGeneration };
  }
}
