// Leader election on a coordination.k8s.io/v1 Lease (client-go's protocol: holderIdentity,
// renewTime, leaseDurationSeconds; optimistic concurrency on resourceVersion). Only the leader
// writes status and Events; every replica compiles policies and answers admissions.
import { type KubeApi, KubeError, type Lease } from './types.ts';

export interface LeaderOptions {
  readonly namespace: string;
  readonly name: string;
  /** This replica's identity (the pod name). */
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  /** How often the lease is renewed or tried; well under leaseDurationSeconds. */
  readonly retryPeriodMs: number;
  readonly now: () => Date;
  readonly onError: (err: unknown) => void;
}

export class LeaderElector {
  readonly #api: KubeApi;
  readonly #o: LeaderOptions;
  readonly #listeners = new Set<(leader: boolean) => void>();
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  /** The round in progress, if any: a release waits for it, or its renewal would undo the release. */
  #round: Promise<unknown> = Promise.resolve();

  constructor(api: KubeApi, options: LeaderOptions) {
    this.#api = api;
    this.#o = options;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  onChange(listener: (leader: boolean) => void): void {
    this.#listeners.add(listener);
  }

  start(): void {
    this.#stopped = false;
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#set(false);
  }

  /**
   * Stops, and hands the Lease back when this replica holds it (client-go's ReleaseOnCancel), so a
   * remaining replica takes it at its next try instead of after leaseDurationSeconds.
   */
  async release(): Promise<void> {
    this.stop();
    // A renewal already sent would otherwise land after the release and undo it.
    await this.#round;
    this.#set(false);
    const { namespace, name, identity } = this.#o;
    try {
      const lease = await this.#api.readLease(namespace, name);
      if (lease === undefined || lease.spec.holderIdentity !== identity) return;
      const now = this.#o.now().toISOString();
      await this.#api.replaceLease({
        metadata: lease.metadata,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: now,
          acquireTime: now,
        },
      });
    } catch (err) {
      // Another holder already, or no API server: the Lease then expires as usual.
      if (!(err instanceof KubeError && err.code === 'CONFLICT')) this.#o.onError(err);
    }
  }

  async #loop(): Promise<void> {
    if (this.#stopped) return;
    this.#round = this.tryAcquireOrRenew();
    await this.#round;
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#loop(), this.#o.retryPeriodMs);
    this.#timer.unref();
  }

  /** One round: take a free or expired lease, renew our own, or learn someone else holds it. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.#o;
    const now = this.#o.now().toISOString();
    try {
      const lease = await this.#api.readLease(namespace, name);
      if (lease === undefined) {
        await this.#api.createLease({
          metadata: { namespace, name },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        });
        return this.#set(true);
      }
      const holder = lease.spec.holderIdentity;
      if (holder !== identity && holder !== undefined && holder !== '' && !this.#expired(lease))
        return this.#set(false);
      const taking = holder !== identity;
      await this.#api.replaceLease({
        metadata: lease.metadata,
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds,
          acquireTime: taking ? now : lease.spec.acquireTime,
          renewTime: now,
          leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (taking ? 1 : 0),
        },
      });
      return this.#set(true);
    } catch (err) {
      // A lost race (CONFLICT) or an unreachable API server: stop acting as leader at once, so
      // two replicas never write status together.
      if (!(err instanceof KubeError && err.code === 'CONFLICT')) this.#o.onError(err);
      return this.#set(false);
    }
  }

  #expired(lease: Lease): boolean {
    const renewed = Date.parse(lease.spec.renewTime ?? '');
    if (Number.isNaN(renewed)) return true;
    const duration = (lease.spec.leaseDurationSeconds ?? this.#o.leaseDurationSeconds) * 1000;
    return renewed + duration < this.#o.now().getTime();
  }

  #set(leader: boolean): boolean {
    if (leader !== this.#leader) {
      this.#leader = leader;
      for (const l of this.#listeners) l(leader);
    }
    return leader;
  }
}
