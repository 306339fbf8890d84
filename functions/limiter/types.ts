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
  /** Shadow mode: the decision that would have been enforced. */
  readonly shadow?: { readonly wouldAllow: boolean };
}

/** A rate-limit request. */
export interface LimitRequest {
  readonly policyId: string;
  /** The caller's key, already normalised and bounded by the caller. */
  readonly key: string;
  readonly costTokens: number;
}
