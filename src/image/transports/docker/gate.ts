// When a request to a registry may go: its request budget (manifest reads per period, a token
// bucket) and the pause a `Retry-After` asked for, which holds back every request to it. The
// session keeps one RegistryGate per registry (session.ts); the client passes it before every
// request, its pings included, and a temporary failure's Retry-After pauses it. A wait that would
// end after the caller stops waiting fails at once, with a temporary error. Background work
// (asBackgroundWork) never waits for the budget and leaves its reserve to admissions.
import { AsyncLocalStorage } from 'node:async_hooks';
import { DockerError } from './errors.ts';
import { describeUrl, type HttpMethod } from './http.ts';
import type { Bounds, Sleep } from './retry.ts';
import type { RegistryBudget } from './session.ts';

/** The longest pause a Retry-After imposes on a registry. */
export const MAX_PAUSE_MS = 10 * 60_000;

/** Whose request: an admission's may take the whole budget; background work leaves the reserve. */
export type RequestPurpose = 'admission' | 'background';

/**
 * When requests to one registry may go: its budget of pulls, and the pause a `Retry-After`
 * asked for (which holds back every request to it). Times are performance.now() values.
 */
export class RegistryGate {
  readonly #budget: RegistryBudget | undefined;
  /** Pulls a background request leaves in the bucket. */
  readonly #reserve: number;
  /** Below zero: pulls already promised to waiting requests. */
  #tokens: number;
  #refilledAt: number;
  #pausedUntil = 0;

  constructor(budget: RegistryBudget | undefined, now = performance.now()) {
    this.#budget = budget;
    this.#reserve = budget?.reserve ?? 0;
    this.#tokens = budget?.pulls ?? 0;
    this.#refilledAt = now;
  }

  /**
   * When a request may go: at `at`, its pull taken, when that is by `latest`; otherwise nothing
   * is taken, and `by` says what holds it back. A background pull goes only while the bucket
   * keeps its reserve after it, and never waits for the bucket to refill (`by: 'reserve'`, `at`
   * when it could go).
   */
  reserve(
    pull: boolean,
    now: number,
    latest: number,
    purpose: RequestPurpose = 'admission',
  ):
    | { readonly go: true; readonly at: number }
    | { readonly go: false; readonly at: number; readonly by: 'pause' | 'budget' | 'reserve' } {
    const budget = pull ? this.#budget : undefined;
    let budgetAt = now;
    if (budget !== undefined) {
      const msPerPull = budget.periodMs / budget.pulls;
      this.#tokens = Math.min(budget.pulls, this.#tokens + (now - this.#refilledAt) / msPerPull);
      this.#refilledAt = now;
      const floor = purpose === 'background' ? this.#reserve : 0;
      if (this.#tokens < floor + 1) {
        budgetAt = now + (floor + 1 - this.#tokens) * msPerPull;
        if (purpose === 'background')
          return { go: false, at: Math.max(this.#pausedUntil, budgetAt), by: 'reserve' };
      }
    }
    const at = Math.max(this.#pausedUntil, budgetAt);
    if (at > latest) return { go: false, at, by: this.#pausedUntil >= budgetAt ? 'pause' : 'budget' };
    if (budget !== undefined) this.#tokens -= 1;
    return { go: true, at };
  }

  /** Gives back a pull reserved by a request that did not go. */
  unreserve(pull: boolean): void {
    if (pull && this.#budget !== undefined) this.#tokens += 1;
  }

  /**
   * Holds back every request until `until` (a Retry-After), MAX_PAUSE_MS from `now` at most: a
   * registry cannot shut itself out for longer by mistake. A pause never shortens another.
   */
  pause(until: number, now: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, Math.min(until, now + MAX_PAUSE_MS));
  }
}

/** A GET of a manifest: what Docker Hub counts as a pull, and what a registry budget meters. */
export function isPull(method: HttpMethod, path: string): boolean {
  return method === 'GET' && /\/v2\/.+\/manifests\/[^/?]+(\?|$)/.test(path);
}

/** What background work met at the gates while it ran (asBackgroundWork). */
export interface BackgroundWork {
  /** Registries whose budget was down to its reserve, and when a background pull could go next (performance.now()). */
  readonly reserved: Map<string, number>;
}

// The purpose travels with the asynchronous work rather than through every layer between a
// background scan and the client (checker, policy, transport): what runs inside
// asBackgroundWork, and what it starts, is background work.
const backgroundWork = new AsyncLocalStorage<BackgroundWork>();

/** Runs `run` as background work: its registry requests leave each budget's reserve to admissions. */
export function asBackgroundWork<T>(work: BackgroundWork, run: () => Promise<T>): Promise<T> {
  return backgroundWork.run(work, run);
}

/** Whether the caller runs as background work (inside asBackgroundWork). */
export function isBackgroundWork(): boolean {
  return backgroundWork.getStore() !== undefined;
}

/** A client's way through its registry's gate. */
export interface GatePass {
  readonly gate: RegistryGate;
  readonly registry: string;
  /** No request waits at the gate longer than this (the retry policy's total time). */
  readonly maxWaitMs: number;
  readonly sleep: Sleep;
}

/** A `Retry-After` on a temporary failure holds back every request to the registry. */
export function noteRetryAfter(gate: RegistryGate, err: DockerError): void {
  if (err.temporary && err.retryAfter !== undefined) {
    const now = performance.now();
    gate.pause(now + err.retryAfter * 1000, now);
  }
}

/**
 * Waits until the registry's gate lets a request to `url` go (a `Retry-After` pause, the
 * budget's next pull), or fails at once when that is later than the caller waits.
 */
export async function passGate(pass: GatePass, pull: boolean, url: string, bounds: Bounds): Promise<void> {
  const now = performance.now();
  const latest = Math.min(bounds.deadline, now + pass.maxWaitMs);
  const work = backgroundWork.getStore();
  const reserved = pass.gate.reserve(pull, now, latest, work === undefined ? 'admission' : 'background');
  if (!reserved.go) {
    const seconds = Math.ceil((reserved.at - now) / 1000);
    const what = describeUrl(url);
    switch (reserved.by) {
      case 'pause':
        throw new DockerError(
          'TOOMANYREQUESTS',
          `${what}: ${pass.registry} asked to wait ${seconds} s (Retry-After), longer than the caller waits`,
          { temporary: true, retryAfter: seconds },
        );
      case 'budget':
        throw new DockerError(
          'BUDGET_EXHAUSTED',
          `${what}: the request budget for ${pass.registry} allows the next manifest read in ${seconds} s, later than the caller waits`,
          { temporary: true, retryAfter: seconds },
        );
      case 'reserve': {
        const earliest = work?.reserved.get(pass.registry) ?? reserved.at;
        work?.reserved.set(pass.registry, Math.min(earliest, reserved.at));
        throw new DockerError(
          'BUDGET_RESERVED',
          `${what}: the request budget for ${pass.registry} is down to the manifest reads kept for admissions; background verification is put off`,
          { temporary: true, retryAfter: seconds },
        );
      }
      default:
        throw new DockerError('BLOCKED', `${what}: held back at the gate of ${pass.registry}`);
    }
  }
  if (reserved.at <= now) return;
  try {
    await pass.sleep(reserved.at - now, bounds.signal);
  } catch (err) {
    pass.gate.unreserve(pull);
    throw err;
  }
}
