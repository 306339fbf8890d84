/**
 * Bounds on the reconciler's work: a concurrency limit for store calls, a
 * per-call timeout joined with the run's signal, and an abortable sleep.
 *
 * Why: the reconciler fans out to every replica for every watched bucket. A
 * slow or unreachable replica must cost at most one call timeout per call,
 * and the number of calls in flight must not grow with the number of
 * regions and watched buckets, so that one run always ends within its
 * budget whatever the table and the network do.
 */

/** Runs async tasks with at most `limit` of them in flight. */
export interface ConcurrencyLimit {
  /** Runs `task` once a slot is free; resolves or rejects with it. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks currently running (for tests and logs). */
  readonly active: number;
}

/**
 * A FIFO concurrency limit.
 *
 * @param limit - most tasks in flight, at least 1
 */
export function concurrencyLimit(limit: number): ConcurrencyLimit {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`concurrency limit must be a positive integer (got ${limit})`);
  }
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    active -= 1;
    const next = waiting.shift();
    if (next !== undefined) next();
  };
  return {
    get active() {
      return active;
    },
    run<T>(task: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const start = () => {
          active += 1;
          task().then(resolve, reject).finally(release);
        };
        if (active < limit) start();
        else waiting.push(start);
      });
    },
  };
}

/**
 * The signal of one call: aborted when the run's signal aborts or after
 * `timeoutMs`, whichever comes first.
 */
export function callSignal(runSignal: AbortSignal, timeoutMs: number): AbortSignal {
  return AbortSignal.any([runSignal, AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)))]);
}

/** A sleep that ends early (resolving) when `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** {@link Sleep} on real timers. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
