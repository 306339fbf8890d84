/**
 * The store guard: every call of the limiter to one store (one replica) goes
 * through it. It owns how long a decision waits, how a store that has
 * stopped answering is told apart from a slow one, and the store-call
 * metrics.
 *
 * Why this shape (see docs/design.md, "Failure semantics"):
 * - a slow answer costs only its own decision. A decision waits for its call
 *   up to a wait that follows the measured round trip (twice the smoothed
 *   latency plus four deviations plus one TCP retransmission timeout, never
 *   below `budgetMs`, never above `maxWaitMs`); past it, that decision alone
 *   goes to its failure mode and the call carries on in the background until
 *   the hard ceiling, where its result is still used (a late write is a
 *   write: see {@link StoreWaitError}).
 *   A healthy store therefore never causes a fallback, however far away it
 *   is: its latency raises the wait;
 * - a store that is down is detected by failures, not by one slow answer:
 *   the guard opens (every decision goes to its failure mode without calling
 *   the store) after `errorsToOpen` consecutive failed calls, or when a call
 *   has had no answer for twice the wait while nothing else succeeded. While
 *   open it lets one probe call through every `openMs` (doubling up to
 *   `maxOpenMs`); a success closes it;
 * - throttling is not "down": a throttled call fails its own decision only
 *   (DynamoDB throttles one hot item, not the whole table), and the caller
 *   may back off that bucket.
 *
 * - Lambda freezes a container when its handler returns, and its clock
 *   keeps running meanwhile. A call that outlives its invocation is
 *   answered while the container is frozen and seen only at the next
 *   invocation, so: only a call a decision was still waiting for teaches
 *   the guard its latency; background calls ({@link CallOptions.background})
 *   never time a decision and their timeouts never count as failures; and
 *   the guard's own timers (the ceiling, the down watch) act one timer turn
 *   after they fire, so that an answer already received when the container
 *   thaws is seen first.
 *
 * The guard never reads a clock or a timer of its own: both come from
 * {@link Time}, so tests drive it on virtual time.
 */

import { CallAbort, type CallSignal } from '../store/call-signal';
import { StoreError, type StoreErrorKind } from '../store/types';
import type { Time, TimerHandle } from './timers';
import type { StoreOperation } from './types';

/** Settings of a {@link StoreGuard}. */
export interface StoreGuardOptions {
  readonly time: Time;
  /** The least wait of a warm decision (ms). */
  readonly budgetMs: number;
  /** The wait until the store has answered once (connection set-up) (ms). */
  readonly coldBudgetMs: number;
  /** Hard ceiling of any call and any wait (ms). */
  readonly maxWaitMs: number;
  /** Consecutive failed calls that open the guard. @default 3 */
  readonly errorsToOpen?: number;
  /** First open period (ms), doubling while probes fail. @default 250 */
  readonly openMs?: number;
  /** Longest open period (ms). @default 5000 */
  readonly maxOpenMs?: number;
  /** Told about every call when it settles (metrics, counters). */
  readonly onCall?: (event: StoreCallEvent) => void;
  /** Told when the guard opens or closes. */
  readonly onStateChange?: (open: boolean, reason: string) => void;
}

/** One settled store call. */
export interface StoreCallEvent {
  readonly operation: StoreOperation;
  readonly latencyMs: number;
  /** Set when the call failed. */
  readonly errorKind?: StoreErrorKind;
  /** Whether the decision that made it had stopped waiting for it. */
  readonly late: boolean;
}

/**
 * A decision stopped waiting for its call (the store is slow, or down); the
 * call itself goes on. `late` settles with the call's own outcome, so that a
 * write that lands after its decision gave up is still accounted for.
 */
export class StoreWaitError<T = unknown> extends StoreError {
  override readonly name = 'StoreWaitError';
  constructor(
    message: string,
    readonly late: Promise<T>,
    options?: { cause?: unknown },
  ) {
    super(message, 'timeout', options);
  }
}

/** The guard is open: the store was not called. */
export class StoreDownError extends StoreError {
  override readonly name = 'StoreDownError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'unavailable', options);
  }
}

/** How one call is made. */
export interface CallOptions {
  /**
   * No decision waits for this call (a lease refresh, a pending write): it
   * gets no wait of its own (only the ceiling), teaches no latency, and a
   * timeout of it does not count as a failure. @default false
   */
  readonly background?: boolean;
}

/**
 * Whether a failed write may still have been applied by the store. A
 * rejected condition, throttling, an invalid request and a call the guard
 * never sent were not applied; a timeout or a lost connection may have been
 * (the request may have reached the store). Tokens a write hands back are
 * credited when it is applied, so a write that may have landed must not hand
 * them back again: they are dropped instead (under-admission by at most
 * those tokens), never credited twice.
 */
export function writeMayHaveLanded(error: unknown): boolean {
  if (error instanceof StoreDownError) return false;
  if (!(error instanceof StoreError)) return true;
  return error.kind === 'timeout' || error.kind === 'unavailable';
}

/**
 * What one lost packet adds to a round trip (ms): TCP resends it after its
 * retransmission timeout, never less than Linux's 200 ms minimum. The wait
 * covers it, so that one lost packet on a healthy link costs its decision
 * time, not a fallback.
 */
export const RETRANSMISSION_ALLOWANCE_MS = 200;

interface Outstanding {
  /** Answered calls when this one started: none since means the store has stopped answering. */
  readonly answeredBefore: number;
}

/** Guards the calls to one store. */
export class StoreGuard {
  readonly #time: Time;
  readonly #budgetMs: number;
  readonly #coldBudgetMs: number;
  readonly #maxWaitMs: number;
  readonly #errorsToOpen: number;
  readonly #openMs: number;
  readonly #maxOpenMs: number;
  readonly #onCall: (event: StoreCallEvent) => void;
  readonly #onStateChange: (open: boolean, reason: string) => void;
  readonly #outstanding = new Set<Outstanding>();
  #answered = false;
  #smoothedMs: number | undefined;
  #deviationMs = 0;
  #consecutiveFailures = 0;
  /** Calls answered so far (successes and rejected conditions). */
  #answeredCalls = 0;
  /** Open until this monotonic time (then half-open: one probe). */
  #openUntilMs: number | undefined;
  #currentOpenMs: number;
  #probeInFlight = false;

  constructor(options: StoreGuardOptions) {
    this.#time = options.time;
    this.#budgetMs = options.budgetMs;
    this.#coldBudgetMs = Math.max(options.coldBudgetMs, options.budgetMs);
    this.#maxWaitMs = Math.max(options.maxWaitMs, this.#coldBudgetMs);
    this.#errorsToOpen = options.errorsToOpen ?? 3;
    this.#openMs = options.openMs ?? 250;
    this.#maxOpenMs = options.maxOpenMs ?? 5000;
    this.#currentOpenMs = this.#openMs;
    this.#onCall = options.onCall ?? (() => undefined);
    this.#onStateChange = options.onStateChange ?? (() => undefined);
  }

  /** Whether a decision may call the store now (closed, or a probe is due). */
  available(): boolean {
    if (this.#openUntilMs === undefined) return true;
    return this.#time.monotonicMs() >= this.#openUntilMs && !this.#probeInFlight;
  }

  /** Whether the guard is open (the store is considered down). */
  get open(): boolean {
    return this.#openUntilMs !== undefined;
  }

  /** How long a decision waits for one call now (ms). */
  waitMs(): number {
    if (!this.#answered || this.#smoothedMs === undefined) return this.#coldBudgetMs;
    const adaptive = 2 * this.#smoothedMs + 4 * this.#deviationMs + RETRANSMISSION_ALLOWANCE_MS;
    return Math.min(this.#maxWaitMs, Math.max(this.#budgetMs, Math.ceil(adaptive)));
  }

  /**
   * How long a call takes at worst when no packet is lost (ms): twice the
   * smoothed latency plus four deviations, without the wait's retransmission
   * allowance and without its `budgetMs` floor (a least patience, not a
   * latency). What the limiter plans ahead with (when to take the next
   * lease), since a lost packet is rare; the cold wait until the store has
   * answered once.
   */
  roundTripMs(): number {
    if (!this.#answered || this.#smoothedMs === undefined) return this.#coldBudgetMs;
    const adaptive = 2 * this.#smoothedMs + 4 * this.#deviationMs;
    return Math.min(this.#maxWaitMs, Math.ceil(adaptive));
  }

  /** The smoothed latency of answered calls (ms), for reporting; undefined before any. */
  get smoothedLatencyMs(): number | undefined {
    return this.#smoothedMs;
  }

  /**
   * Calls the store. `run` receives a signal that aborts at the hard ceiling.
   *
   * @throws {@link StoreDownError} when the guard is open (nothing called).
   * @throws {@link StoreWaitError} when the wait ran out (the call goes on).
   * @throws StoreError (any kind) when the call itself failed.
   */
  call<T>(
    operation: StoreOperation,
    run: (signal: CallSignal) => Promise<T>,
    options: CallOptions = {},
  ): Promise<T> {
    const background = options.background === true;
    const startedAt = this.#time.monotonicMs();
    let probe = false;
    if (this.#openUntilMs !== undefined) {
      if (startedAt < this.#openUntilMs || this.#probeInFlight) {
        return Promise.reject(new StoreDownError(`store considered down: ${operation} not sent`));
      }
      probe = true;
      this.#probeInFlight = true;
    }
    const entry: Outstanding = { answeredBefore: this.#answeredCalls };
    this.#outstanding.add(entry);
    const controller = new CallAbort();
    const ceiling = this.#afterTurn(() => {
      const reason = new StoreError(
        `${operation}: no answer within ${this.#maxWaitMs} ms`,
        'timeout',
      );
      // The call fails at the ceiling whether or not the store heeds its signal.
      running.abort(reason);
      controller.abort(reason);
    }, this.#maxWaitMs);
    const running = invoke(() => run(controller.signal));
    // An answer a decision was waiting for measures the store. One that came after its
    // decision gave up may have waited through a freeze: it says only that the round trip
    // is longer than the wait, and teaches at most twice that (enough to raise the wait
    // above a slower round trip within a few calls, never a freeze's length).
    let waiting = !background;
    let lateCapMs = Number.POSITIVE_INFINITY;
    const sample = (latencyMs: number): number | undefined =>
      background ? undefined : Math.min(latencyMs, lateCapMs);
    const settled = running.promise.then(
      (value) => {
        this.#finish(entry, ceiling, probe);
        const latencyMs = this.#time.monotonicMs() - startedAt;
        this.#succeeded(sample(latencyMs));
        this.#onCall({ operation, latencyMs, late: !waiting });
        return value;
      },
      (error: unknown) => {
        this.#finish(entry, ceiling, probe);
        const latencyMs = this.#time.monotonicMs() - startedAt;
        const failure = asStoreError(error, operation);
        if (failure.kind === 'conflict') this.#succeeded(sample(latencyMs));
        else if (!(background && failure.kind === 'timeout')) this.#failed(failure, probe);
        this.#onCall({ operation, latencyMs, errorKind: failure.kind, late: !waiting });
        throw failure;
      },
    );
    if (background) {
      // The late outcome is for whoever wants it; an unobserved rejection is not an error.
      settled.catch(() => undefined);
      return settled;
    }
    const waitMs = this.waitMs();
    return new Promise<T>((resolve, reject) => {
      const giveUp = () => {
        waiting = false;
        lateCapMs = 2 * waitMs;
        reject(
          new StoreWaitError(
            `${operation}: no answer within ${waitMs} ms`,
            settled as Promise<unknown>,
          ),
        );
        // Twice the wait with no answer to anything: the store has stopped answering.
        this.#watchForDown(entry, waitMs);
      };
      const waiter = this.#time.setTimer(giveUp, waitMs);
      settled.then(
        (value) => {
          this.#time.clearTimer(waiter);
          if (waiting) resolve(value);
        },
        (error: unknown) => {
          this.#time.clearTimer(waiter);
          if (waiting) reject(error);
        },
      );
    });
  }

  /**
   * A timer whose action runs one timer turn after it fires: on a real event
   * loop, I/O already received (an answer that arrived while the container
   * was frozen) is processed before it.
   */
  #afterTurn(fn: () => void, ms: number): { handle: TimerHandle | undefined } {
    const ref: { handle: TimerHandle | undefined } = { handle: undefined };
    ref.handle = this.#time.setTimer(() => {
      ref.handle = this.#time.setTimer(fn, 0);
    }, ms);
    return ref;
  }

  #watchForDown(entry: Outstanding, waitMs: number): void {
    this.#afterTurn(() => {
      if (this.#outstanding.has(entry) && this.#answeredCalls === entry.answeredBefore) {
        this.#open(`no answer for ${2 * waitMs} ms`);
      }
    }, waitMs);
  }

  #finish(entry: Outstanding, ceiling: { handle: TimerHandle | undefined }, probe: boolean): void {
    this.#outstanding.delete(entry);
    if (ceiling.handle !== undefined) this.#time.clearTimer(ceiling.handle);
    if (probe) this.#probeInFlight = false;
  }

  /** An answer; `latencyMs` when it measures the store (undefined for background calls). */
  #succeeded(latencyMs: number | undefined): void {
    this.#answered = true;
    this.#answeredCalls += 1;
    this.#consecutiveFailures = 0;
    if (latencyMs !== undefined) this.#learn(latencyMs);
    if (this.#openUntilMs !== undefined) {
      this.#openUntilMs = undefined;
      this.#currentOpenMs = this.#openMs;
      this.#onStateChange(false, 'the store answered');
    }
  }

  #learn(latencyMs: number): void {
    // RFC 6298's smoothing: α = 1/8 for the mean, β = 1/4 for the deviation.
    if (this.#smoothedMs === undefined) {
      this.#smoothedMs = latencyMs;
      this.#deviationMs = latencyMs / 2;
    } else {
      this.#deviationMs = 0.75 * this.#deviationMs + 0.25 * Math.abs(this.#smoothedMs - latencyMs);
      this.#smoothedMs = 0.875 * this.#smoothedMs + 0.125 * latencyMs;
    }
  }

  #failed(failure: StoreError, probe: boolean): void {
    // A hot item is throttled, not the table: that is the bucket's problem, not the store's.
    if (failure.kind === 'throttled') return;
    this.#consecutiveFailures += 1;
    if (probe) {
      this.#currentOpenMs = Math.min(this.#maxOpenMs, this.#currentOpenMs * 2);
      this.#open(`probe failed (${failure.kind})`);
    } else if (this.#consecutiveFailures >= this.#errorsToOpen) {
      this.#open(`${this.#consecutiveFailures} failed calls in a row (${failure.kind})`);
    }
  }

  #open(reason: string): void {
    const wasOpen = this.#openUntilMs !== undefined;
    this.#openUntilMs = this.#time.monotonicMs() + this.#currentOpenMs;
    if (!wasOpen) this.#onStateChange(true, reason);
  }
}

/**
 * Runs one store call; `abort` rejects it at once (the ceiling), even when the
 * store ignores its signal. No listener on the signal: the guard's own timer
 * is the only thing that aborts it.
 */
function invoke<T>(run: () => Promise<T>): {
  readonly promise: Promise<T>;
  readonly abort: (reason: unknown) => void;
} {
  let abort!: (reason: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    abort = reject;
    // A throw rejects the call (the executor's); Promise.resolve takes a native promise as it
    // is, without the two turns that resolving with it would take.
    Promise.resolve(run()).then(resolve, reject);
  });
  return { promise, abort };
}

function asStoreError(error: unknown, operation: StoreOperation): StoreError {
  return error instanceof StoreError
    ? error
    : new StoreError(`${operation} failed: ${String(error)}`, 'unavailable', { cause: error });
}
