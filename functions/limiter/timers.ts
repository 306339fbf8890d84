/**
 * The limiter's time: a clock and timers, injected so that every part runs on
 * virtual time in tests (no real timer anywhere in the limiter's logic).
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** What the limiter needs of time. */
export interface Time {
  /** Milliseconds since the epoch (an integer): the time decisions are taken at. */
  now(): number;
  /** A monotonic clock in ms (any origin): what waits and latencies are measured with. */
  monotonicMs(): number;
  /** Calls `fn` once, after `ms` milliseconds. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired yet (no-op otherwise). */
  clearTimer(handle: TimerHandle): void;
}

/** Real time: `Date.now` and `setTimeout`, timers unref'd so they never keep a process alive. */
export const REAL_TIME: Time = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/**
 * Another clock for decisions with real timers and real latency measurement
 * (tests over a real store that freeze the bucket's clock but not the network).
 */
export function timeWithClock(clock: () => number): Time {
  return { ...REAL_TIME, now: clock };
}
