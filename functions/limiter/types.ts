/**
 * What the limiter answers, shared by the regional API and the edge handler.
 * Being over the limit is data, not an exception.
 */

/** Where a decision came from. */
export type DecisionSource =
  /** decided with a store round trip */
  | 'store'
  /** served from a lease held in this container */
  | 'lease'
  /** refused from the blocked-until cache, no store call */
  | 'blocked'
  /** the key is on the policy's allow list */
  | 'allowlist'
  /** the key is on the policy's deny list */
  | 'denylist'
  /** the store failed or ran out of time; the policy's onStoreError decided */
  | 'fallback';

/** One decision as the handlers shape it into a response. */
export interface LimitResult {
  /** Whether the request may go on (always true in shadow mode, unless denylisted). */
  readonly allowed: boolean;
  /** Policy id. */
  readonly policy: string;
  /** Capacity of the bucket. */
  readonly limitTokens: number;
  /** Whole tokens left. */
  readonly remainingTokens: number;
  /** Milliseconds until one more request of this cost would be admitted. */
  readonly retryAfterMs: number;
  /** Milliseconds until the bucket is full. */
  readonly resetAfterMs: number;
  /** Refill window in seconds for `RateLimit-Policy` (`w=`): the time to refill from empty. */
  readonly windowSeconds: number;
  readonly source: DecisionSource;
  /** With source `fallback`: which mode decided. */
  readonly fallback?: 'open' | 'closed' | 'local';
  /** With source `fallback`: why the store did not decide. */
  readonly fallbackCause?: FallbackCause;
  /** Shadow mode: the decision that would have been enforced. */
  readonly shadow?: { readonly wouldAllow: boolean };
}

/**
 * Why a failure mode decided instead of the store:
 * `store-down` (the store guard is open: nothing was sent), `store-error` (the
 * call failed), `store-slow` (the decision stopped waiting; the call went
 * on), `throttled` (the bucket's item is throttled), `internal` (the limiter
 * itself failed: a bug, logged).
 */
export type FallbackCause = 'store-down' | 'store-error' | 'store-slow' | 'throttled' | 'internal';

/** One request charged to several limits ({@link LimitRequest}s): all or none. */
export interface MultiLimitResult {
  /** Whether every limit admitted it (shadow policies never refuse). */
  readonly allowed: boolean;
  /**
   * One result per limit decided, in the request's order; a request refused
   * before every limit was asked (a deny list, a cached refusal) carries only
   * the one that refused.
   */
  readonly results: readonly LimitResult[];
  /**
   * Index in `results` of the limit the answer follows: when refused, the
   * refusing limit with the longest wait (its `Retry-After`).
   */
  readonly decidedBy: number;
}

/** A rate-limit request. */
export interface LimitRequest {
  readonly policyId: string;
  /** The caller's key, already normalised and bounded by the caller. */
  readonly key: string;
  readonly costTokens: number;
}

/** What the limiter reports about its work; handlers send it to CloudWatch (functions/shared/metrics.ts). */
export interface LimiterMetrics {
  /** One decision was answered. `remainingRatio` is remaining tokens / capacity, in 0..1. */
  decision(event: {
    readonly policy: string;
    readonly outcome: DecisionOutcome;
    readonly remainingRatio: number;
  }): void;
  /** One store call finished, successfully or not (`errorKind` set when it failed). */
  storeCall(event: {
    readonly operation: StoreOperation;
    readonly latencyMs: number;
    readonly errorKind?: 'conflict' | 'throttled' | 'timeout' | 'unavailable' | 'invalid';
  }): void;
  /** A failure mode decided instead of the store. */
  fallback(event: { readonly policy: string; readonly mode: 'open' | 'closed' | 'local' }): void;
  /** A conditional write was rejected and the decision was taken again. */
  conditionalRetry(event: { readonly policy: string }): void;
  /**
   * What the container owes the store after a pass of pending writes: tokens
   * the `local` mode admitted and tokens to hand back, not yet written. What a
   * recycled container loses is at most the last value reported.
   */
  pending?(event: { readonly debtTokens: number; readonly handBackTokens: number }): void;
}

/** The Outcome dimension of a decision (see functions/shared/metric-names.ts). */
export type DecisionOutcome =
  | 'allowed'
  | 'refused'
  | 'shadow-refused'
  | 'denylisted'
  | 'allowlisted';

/** Which store call. */
export type StoreOperation = 'readView' | 'readSlot' | 'write';

/** A metrics sink that drops everything (the default). */
export const NOOP_METRICS: LimiterMetrics = {
  decision: () => undefined,
  storeCall: () => undefined,
  fallback: () => undefined,
  conditionalRetry: () => undefined,
};

/**
 * Counters of one limiter (one container), readable at any time by benchmarks
 * and tests. They only grow.
 */
export interface LimiterCounters {
  /** Decisions answered by `limit` (peeks excluded). */
  decisions: number;
  /** `limit` decisions that admitted. */
  admitted: number;
  /** `limit` decisions that refused. */
  refused: number;
  /** Store reads (`readView` + `readSlot`). */
  reads: number;
  /** Store writes (`applyWrite`). */
  writes: number;
  /** Store calls that failed (any kind, conflicts included). */
  storeErrors: number;
  /** Conditional writes rejected and decided again. */
  conditionalRetries: number;
  /** Decisions taken by a failure mode. */
  fallbacks: number;
  /** Tokens admitted by the local failure mode and not yet written to the store. */
  pendingLocalTokens: number;
  /** Writes that landed after their decision had stopped waiting (their tokens were reconciled). */
  lateWrites: number;
  /** Tokens handed back to the store (unused leases, writes whose request was refused). */
  handedBackTokens: number;
  /** Times a store guard opened (the store was considered down). */
  storeDownEvents: number;
  /**
   * Tokens that would have been handed back by a write whose outcome is
   * unknown (a timeout, a lost connection): dropped rather than risk
   * crediting them twice (under-admission, never over-admission).
   */
  droppedHandBackTokens: number;
  /**
   * Tokens given back because another limit of the same request refused it
   * (see {@link MultiLimitResult}).
   */
  refundedTokens: number;
}

/** A fresh set of {@link LimiterCounters}, every one at zero. */
export function zeroCounters(): LimiterCounters {
  return {
    decisions: 0,
    admitted: 0,
    refused: 0,
    reads: 0,
    writes: 0,
    storeErrors: 0,
    conditionalRetries: 0,
    fallbacks: 0,
    pendingLocalTokens: 0,
    lateWrites: 0,
    handedBackTokens: 0,
    storeDownEvents: 0,
    droppedHandBackTokens: 0,
    refundedTokens: 0,
  };
}
