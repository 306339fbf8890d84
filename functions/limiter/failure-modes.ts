/**
 * The failure modes: the one place that decides what a request gets when
 * the store cannot decide it (see docs/design.md, "Failure semantics"), and
 * what the edge answers when the limiter itself failed.
 *
 * - `open`: admit. Nothing is counted: that is what `open` means, and what
 *   the `Fallbacks` alarm is for.
 * - `closed`: refuse with a short Retry-After (the edge answers 503: the
 *   caller is not over its limit, the limiter cannot tell).
 * - `local`: decide from a per-container bucket holding a share of the
 *   capacity and refill; what it admits is debt, recorded in the pending
 *   writes and written to the store once it answers. When the pending writes
 *   are full (a container that saw more buckets during the outage than it
 *   can remember), `local` refuses instead: it never admits what it could not
 *   record.
 *
 * A peek is answered the same way but consumes nothing and is not counted.
 */

import { quotaPeriodPolicy, type ResolvedPolicy } from '../config/resolve';
import { type Decision, decide, inspect, levelAt, scale, withItem } from '../core';
import type { BucketState } from './bucket-cache';
import { decisionAtLevel } from './levels';
import type { PendingWrites } from './pending-writes';
import { shapeResult } from './result';
import type { FallbackCause, LimitResult } from './types';

/** `Retry-After` given by the `closed` failure mode (ms). */
export const CLOSED_RETRY_AFTER_MS = 1000;

/** What a failure mode decided. */
export interface FallbackOutcome {
  readonly decision: Decision;
  readonly mode: 'open' | 'closed' | 'local';
  readonly cause: FallbackCause;
  /** `local` only: the tokens were admitted as debt (to be written once the store answers). */
  readonly debtTokens: number;
}

/** Decides requests the store could not decide. */
export class FailureModes {
  constructor(private readonly pending: PendingWrites) {}

  /**
   * The failure mode's answer for one request.
   *
   * @param consume - false for a peek: nothing is taken from the local bucket
   * @param recordDebt - false when the tokens are already carried by a write
   *   still in flight (its outcome decides whether they become debt)
   */
  decide(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
    cause: FallbackCause,
    consume: boolean,
    recordDebt = true,
  ): FallbackOutcome {
    const known = levelAt(policy.bucket, state.view, nowMs);
    switch (policy.onStoreError) {
      case 'open':
        return {
          decision: decisionAtLevel(policy.bucket, known, costTokens, true),
          mode: 'open',
          cause,
          debtTokens: 0,
        };
      case 'closed':
        return {
          decision: closedDecision(policy, known, costTokens),
          mode: 'closed',
          cause,
          debtTokens: 0,
        };
      case 'local':
        return this.#local(policy, state, costTokens, nowMs, cause, consume, recordDebt);
    }
  }

  /** What a request gets when the limiter itself failed: see {@link unexpectedFallback}. */
  unexpected(policy: ResolvedPolicy, costTokens: number): FallbackOutcome {
    return unexpectedFallback(policy, costTokens);
  }

  #local(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
    cause: FallbackCause,
    consume: boolean,
    recordDebt: boolean,
  ): FallbackOutcome {
    const local = policy.local;
    // The local bucket is smaller than the policy's: a cost beyond it can never fit.
    const cost = Math.min(costTokens, local.capacityTokens);
    if (!consume) {
      const peek = inspect(local, state.localView, nowMs, cost);
      return { decision: { ...peek, costTokens }, mode: 'local', cause, debtTokens: 0 };
    }
    if (recordDebt && !this.pending.canTake(state.bucketId)) {
      const level = levelAt(local, state.localView, nowMs);
      return {
        decision: { ...closedDecision(policy, level, costTokens) },
        mode: 'local',
        cause,
        debtTokens: 0,
      };
    }
    const decision = decide({
      policy: local,
      view: state.localView,
      slot: 'local',
      costTokens: cost,
      nowMs,
    });
    if (!decision.allowed)
      return { decision: { ...decision, costTokens }, mode: 'local', cause, debtTokens: 0 };
    state.localView = withItem(state.localView, decision.write.expected);
    if (recordDebt) this.pending.addDebt(state.bucketId, state.policyId, costTokens, nowMs);
    return { decision: { ...decision, costTokens }, mode: 'local', cause, debtTokens: costTokens };
  }
}

function closedDecision(policy: ResolvedPolicy, levelScaled: number, costTokens: number): Decision {
  return {
    ...decisionAtLevel(
      policy.bucket,
      levelScaled,
      Math.min(costTokens, policy.bucket.capacityTokens),
      false,
    ),
    costTokens,
    retryAfterMs: CLOSED_RETRY_AFTER_MS,
  };
}

/**
 * The answer to a request when the limiter itself failed (a bug, or a
 * limiter that threw): the policy's failure mode, from nothing but the
 * policy. The edge's last resort, so that a viewer request never fails
 * because of the limiter; `closed` refuses, `open` and `local` admit.
 */
export function unexpectedFailureResult(
  policy: ResolvedPolicy,
  costTokens: number,
  nowMs: number,
): LimitResult {
  const period = quotaPeriodPolicy(policy, nowMs);
  const fallback = unexpectedFallback(period, costTokens);
  return shapeResult(period, { decision: fallback.decision, source: 'fallback', fallback }, nowMs);
}

/**
 * The failure mode's answer when the limiter failed for a reason that is not
 * the store's: the policy's mode, without the local bucket (its state may be
 * what failed). `closed` refuses; `open` and `local` admit.
 */
export function unexpectedFallback(policy: ResolvedPolicy, costTokens: number): FallbackOutcome {
  const cost = Math.min(Math.max(1, costTokens), policy.bucket.capacityTokens);
  const mode = policy.onStoreError;
  if (mode === 'closed') {
    return { decision: closedDecision(policy, 0, cost), mode, cause: 'internal', debtTokens: 0 };
  }
  const full = policy.bucket.capacityTokens * scale(policy.bucket);
  return {
    decision: decisionAtLevel(policy.bucket, full, cost, true),
    mode,
    cause: 'internal',
    debtTokens: 0,
  };
}
