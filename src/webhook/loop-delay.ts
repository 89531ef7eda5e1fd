// How early a review's deadline fires, so that its answer still reaches the client in time while
// the event loop stalls (verification, garbage collection, a neighbour on the same CPU).
import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Kept on an idle loop: the answer is serialised and written after the deadline fires, timers
 * round to whole milliseconds, and a stall shorter than a sampling interval goes unmeasured. The
 * slowest of these, a stall of up to 25 ms on each side of the review, fits.
 */
export const MARGIN_FLOOR_MS = 50;
/** Never more of the deadline than this share, however slow the loop: a stall does not eat it. */
export const MARGIN_CAP_SHARE = 0.1;
/** Sampling interval of the delay histogram. */
const RESOLUTION_MS = 10;
/** One histogram window, and how many past windows the margin remembers. */
const WINDOW_MS = 1000;
const WINDOWS = 5;

/**
 * The margin for a loop whose stalls last up to `stallMs`: a request can wait one stall before
 * serve sees it arrive, and its answer one more when the deadline fires; the floor comes on top.
 */
export function marginFor(stallMs: number, deadlineMs: number): number {
  return Math.min(deadlineMs * MARGIN_CAP_SHARE, MARGIN_FLOOR_MS + 2 * Math.max(0, stallMs));
}

/** The current deadline margin, from the event-loop delay of the last few seconds. */
export interface DeadlineMargin {
  /** Milliseconds before the deadline at which a review stops waiting. */
  readonly ms: number;
  /** Stops measuring; MUST be called when the webhook closes. */
  stop(): void;
}

/**
 * Measures the event loop's delay with `monitorEventLoopDelay`: the margin follows the longest
 * stall of the current window and the WINDOWS before it. `report` receives the margin at the end
 * of each window (the metric).
 */
export function loopDelayMargin(deadlineMs: number, report: (ms: number) => void): DeadlineMargin {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  // A sample is the time between two ticks of the sampling timer: its interval plus the stall,
  // counted in whole milliseconds (an idle loop's timers come a fraction of one late).
  const currentStall = () => Math.floor(histogram.max / 1e6) - RESOLUTION_MS;
  const stalls: number[] = [];
  let longest = 0;
  report(marginFor(0, deadlineMs));
  const rotate = () => {
    stalls.push(currentStall());
    if (stalls.length > WINDOWS) stalls.shift();
    histogram.reset();
    longest = Math.max(...stalls);
    report(marginFor(longest, deadlineMs));
  };
  const timer = setInterval(rotate, WINDOW_MS);
  timer.unref();
  return {
    get ms() {
      return marginFor(Math.max(longest, currentStall()), deadlineMs);
    },
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
