// Background verification of running pods (`serve --verify-running`): every pod watched, its
// images judged as the webhook judges them, results written as policy reports by the Lease
// holder alone. Scans run again at once when policies or trust material change, on a schedule
// (fresh: no cached verdict or tag is trusted, so a removed signature shows), and for pods that
// appear or change; verifications have their own small budget so admissions come first, and
// leave each registry's request budget a reserve for admissions (skip results until the next
// fresh scan when they find it there).
import { asBackgroundWork, type BackgroundWork, oneLine } from '../image/index.ts';
import type { WorkloadPolicies } from '../policy/index.ts';
import {
  type BackgroundObserver,
  type ImageFinding,
  type ImageOutcome,
  type RunningResult,
  type ScanTrigger,
  scanRunning,
} from '../policy/running.ts';
import type { InformerOptions } from './informer.ts';
import { RunningPods } from './pods.ts';
import {
  type KnownResult,
  knownResults,
  namespaceReports,
  type ReportApi,
  ReportStore,
  resultKey,
} from './reports.ts';
import type { Rest } from './rest.ts';

export interface Leadership {
  readonly isLeader: boolean;
  onChange(listener: (leader: boolean) => void): void;
}

export interface BackgroundSettings {
  readonly rest: Rest;
  readonly policies: WorkloadPolicies;
  readonly leader: Leadership;
  /** Report APIs written; empty: results show in metrics and logs only. */
  readonly reports: readonly ReportApi[];
  /** Scheduled fresh scans. */
  readonly intervalMs: number;
  /** Verifications in flight at once. */
  readonly concurrency: number;
  /** Pod changes are gathered this long before their namespaces are scanned. */
  readonly debounceMs: number;
  /** A scan that left errors (a registry down) is repeated after this long. */
  readonly retryMs: number;
  /** Events about changed results per scan, at most (the rest are logged as a count). */
  readonly maxEvents: number;
  readonly informer: InformerOptions;
  readonly observer: BackgroundObserver;
  /** This replica's name, in Events. */
  readonly identity: string;
  readonly now: () => Date;
  readonly onError: (err: unknown, context: string) => void;
  readonly onInfo: (fields: Record<string, unknown>, message: string) => void;
}

export const DEFAULT_BACKGROUND = {
  intervalMs: 60 * 60_000,
  concurrency: 2,
  debounceMs: 1000,
  retryMs: 60_000,
  maxEvents: 50,
} as const;

type Request =
  | { readonly kind: 'full'; readonly fresh: boolean; readonly trigger: ScanTrigger }
  | { readonly kind: 'namespaces' };

/** A skip says nothing new about an image: it raises no Event and is no result to compare with. */
const EVENT_REASONS: Readonly<Record<Exclude<RunningResult, 'skip'>, string>> = {
  pass: 'ImageTrusted',
  fail: 'ImageNotTrusted',
  error: 'ImageNotVerified',
};

export class BackgroundVerifier {
  readonly #s: BackgroundSettings;
  readonly #pods: RunningPods;
  readonly #stores: ReportStore[];
  /** Verified outcomes by (image, policies, credential scope), reused by scans that need not be fresh. */
  #memo = new Map<string, ImageOutcome>();
  readonly #findings = new Map<string, ImageFinding[]>();
  /**
   * What this replica last published per namespace: where changes (Events) and unchanged
   * timestamps are read from; the reports' own content seeds it when it is empty.
   */
  readonly #published = new Map<string, Map<string, KnownResult>>();
  readonly #dirty = new Set<string>();
  #pending: Request | undefined;
  #running: Promise<void> | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #schedule: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  #started = false;

  constructor(settings: BackgroundSettings) {
    this.#s = settings;
    this.#pods = new RunningPods(settings.rest, {
      informer: settings.informer,
      onChange: (namespace) => this.#podsChanged(namespace),
    });
    this.#stores = settings.reports.map((api) => new ReportStore(settings.rest, api, settings.informer));
    settings.leader.onChange((leader) => {
      // Another replica may have published meanwhile: its reports are the truth from now on.
      this.#published.clear();
      if (leader) this.request({ kind: 'full', fresh: false, trigger: 'leader' });
    });
  }

  /** Resolves after the pods and reports were listed once and the first scan (when leading) ran. */
  async start(): Promise<void> {
    await Promise.all([this.#pods.start(), ...this.#stores.map((s) => s.start())]);
    this.#started = true;
    this.#armSchedule();
    this.request({ kind: 'full', fresh: false, trigger: 'start' });
    await this.idle();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#debounce);
    clearTimeout(this.#schedule);
    clearTimeout(this.#retry);
    await this.#running;
    await Promise.all([this.#pods.stop(), ...this.#stores.map((s) => s.stop())]);
  }

  /** Policies or the trust material they name changed: every pod is judged again, now. */
  policyChanged(): void {
    this.request({ kind: 'full', fresh: false, trigger: 'policy' });
  }

  /** Resolves when no scan runs or waits. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  get runningPods(): number {
    return this.#pods.size;
  }

  request(request: Request): void {
    if (this.#stopped || !this.#started) return;
    const p = this.#pending;
    if (request.kind === 'full') {
      this.#pending =
        p?.kind === 'full'
          ? { ...request, fresh: request.fresh || p.fresh, trigger: p.fresh ? p.trigger : request.trigger }
          : request;
    } else if (p === undefined) {
      this.#pending = request;
    }
    // The loop starts on a later microtask, once #running holds it: a loop with nothing to await
    // (this replica does not hold the Lease) would otherwise clear #running before it is set,
    // and idle() would then await a settled promise forever, starving the event loop.
    if (this.#running === undefined) this.#running = Promise.resolve().then(() => this.#loop());
  }

  #podsChanged(namespace: string): void {
    if (!this.#started) return;
    this.#dirty.add(namespace);
    if (this.#debounce !== undefined) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.request({ kind: 'namespaces' });
    }, this.#s.debounceMs);
    this.#debounce.unref();
  }

  #armSchedule(): void {
    clearTimeout(this.#schedule);
    this.#schedule = setTimeout(() => {
      this.request({ kind: 'full', fresh: true, trigger: 'schedule' });
      this.#armSchedule();
    }, this.#s.intervalMs);
    this.#schedule.unref();
  }

  async #loop(): Promise<void> {
    try {
      while (this.#pending !== undefined && !this.#stopped) {
        const request = this.#pending;
        this.#pending = undefined;
        if (!this.#s.leader.isLeader) continue;
        try {
          await this.#scan(request);
        } catch (err) {
          this.#s.onError(err, 'verifying running pods');
        }
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #scan(request: Request): Promise<void> {
    const started = performance.now();
    const full = request.kind === 'full';
    const namespaces = full ? undefined : new Set(this.#dirty);
    this.#dirty.clear();
    // A full scan starts a new memo, so outcomes of images no pod runs any more are dropped.
    const memo = full ? new Map<string, ImageOutcome>() : this.#memo;
    const work: BackgroundWork = { reserved: new Map() };
    const scan = await asBackgroundWork(work, () =>
      scanRunning(this.#s.policies, this.#pods.pods(namespaces), {
        fresh: full && request.fresh,
        concurrency: this.#s.concurrency,
        known: this.#memo,
        memo,
      }),
    );
    this.#memo = memo;
    const byNamespace = new Map<string, ImageFinding[]>();
    for (const f of scan.findings) {
      let list = byNamespace.get(f.namespace);
      if (list === undefined) {
        list = [];
        byNamespace.set(f.namespace, list);
      }
      list.push(f);
    }
    const scope = new Set<string>(namespaces ?? [...this.#findings.keys(), ...byNamespace.keys()]);
    if (full) for (const store of this.#stores) for (const ns of store.namespaces()) scope.add(ns);
    for (const ns of scope) {
      const list = byNamespace.get(ns);
      if (list === undefined) this.#findings.delete(ns);
      else this.#findings.set(ns, list);
    }
    await this.#publish(scope);
    const trigger = request.kind === 'full' ? request.trigger : 'pods';
    const seconds = (performance.now() - started) / 1000;
    this.#s.observer.scan(trigger, seconds, scan.distinct, scan.verified, scan.skipped);
    if (scan.skipped > 0) {
      const now = performance.now();
      const registries = [...work.reserved].map(([registry, at]) => ({
        registry,
        nextPullInSeconds: Math.max(0, Math.ceil((at - now) / 1000)),
      }));
      this.#s.onInfo(
        { trigger, skipped: scan.skipped, registries },
        'verifications put off until the next fresh scan: the registry budget is down to the reserve kept for admissions',
      );
    }
    this.#s.observer.runningImages(this.#counts());
    if (scan.findings.some((f) => f.result === 'error')) this.#armRetry();
  }

  #armRetry(): void {
    if (this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.request({ kind: 'full', fresh: false, trigger: 'retry' });
    }, this.#s.retryMs);
    this.#retry.unref();
  }

  #counts(): Record<RunningResult, number> {
    const counts: Record<RunningResult, number> = { pass: 0, fail: 0, error: 0, skip: 0 };
    for (const list of this.#findings.values()) for (const f of list) counts[f.result]++;
    return counts;
  }

  /** Writes the reports of `namespaces` and Events for the results that changed. */
  async #publish(namespaces: ReadonlySet<string>): Promise<void> {
    const now = this.#s.now();
    const seconds = Math.floor(now.getTime() / 1000);
    let events = 0;
    let skipped = 0;
    let applied = 0;
    let deleted = 0;
    for (const ns of [...namespaces].sort()) {
      if (!this.#s.leader.isLeader || this.#stopped) return;
      const findings = this.#findings.get(ns) ?? [];
      const known = this.#published.get(ns) ?? this.#stores[0]?.known(ns) ?? new Map<string, KnownResult>();
      const desired = namespaceReports(ns, findings, known, seconds);
      if (desired.length === 0) this.#published.delete(ns);
      else this.#published.set(ns, knownResults(desired));
      for (const f of findings) {
        const result = f.result;
        if (result === 'skip') continue;
        const before = known.get(resultKey(f.owner.uid, f.image));
        const changed =
          before === undefined || before.result === 'skip' ? result !== 'pass' : before.result !== result;
        if (!changed) continue;
        if (events >= this.#s.maxEvents) {
          skipped++;
          continue;
        }
        events++;
        this.#event(f, EVENT_REASONS[result], now);
      }
      for (const store of this.#stores) {
        try {
          const writes = await store.reconcile(ns, desired);
          applied += writes.applied;
          deleted += writes.deleted;
        } catch (err) {
          this.#s.onError(err, `writing the ${store.api} reports of namespace ${ns}`);
        }
      }
    }
    this.#s.observer.reportWrites('apply', applied);
    this.#s.observer.reportWrites('delete', deleted);
    this.#s.observer.reportWrites('event', events);
    if (skipped > 0) this.#s.onInfo({ skipped }, 'results changed beyond the events allowed per scan');
  }

  #event(f: ImageFinding, reason: string, now: Date): void {
    const stamp = now.toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${f.owner.name}.`, namespace: f.namespace },
      involvedObject: {
        apiVersion: f.owner.apiVersion,
        kind: f.owner.kind,
        name: f.owner.name,
        namespace: f.namespace,
        uid: f.owner.uid,
      },
      type: f.result === 'pass' ? 'Normal' : 'Warning',
      reason,
      message: oneLine(`image ${JSON.stringify(f.image)}: ${f.message}`, 1024),
      source: { component: 'portcullis' },
      reportingComponent: 'portcullis',
      reportingInstance: this.#s.identity,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      count: 1,
    };
    this.#s.rest
      .request('POST', `/api/v1/namespaces/${encodeURIComponent(f.namespace)}/events`, { body })
      .catch((err: unknown) => this.#s.onError(err, `recording an event on ${f.owner.kind}/${f.owner.name}`));
  }
}
