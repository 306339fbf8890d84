/**
 * Small pure helpers the limiter needs on top of the core: shaping a decision
 * from a known level (the blocked-until cache, fallbacks), the bucket a
 * container may use alone when the store is down, and the write that records
 * tokens already admitted elsewhere (the local failure mode's debt).
 *
 * They use only the core's exported arithmetic and never read a clock.
 */
import {
  type BucketPolicy,
  type Checkpoint,
  type Decision,
  decisionFromLevels,
  levelAt,
  type SeenCount,
  type SlotWrite,
  scale,
  scaledCapacity,
  ttlEpochSeconds,
  type View,
} from '../core';

/** A decision shaped from a level in scaled units (before the request). */
export function decisionAtLevel(
  policy: BucketPolicy,
  levelScaled: number,
  costTokens: number,
  allowed: boolean,
): Decision {
  const after = allowed ? levelScaled - costTokens * scale(policy) : levelScaled;
  return decisionFromLevels(policy, costTokens, levelScaled, after, allowed);
}

/**
 * An upper bound of a bucket's level at `nowMs`, from a level observed at
 * `atMs`: merging more data can only lower a level, and refill raises it by
 * at most `R` per unit of time, capped at capacity.
 */
export function levelUpperBound(
  policy: BucketPolicy,
  levelScaled: number,
  atMs: number,
  nowMs: number,
): number {
  const elapsedMs = Math.max(0, nowMs - atMs);
  const capacity = scaledCapacity(policy);
  if (levelScaled >= capacity) return capacity;
  return Math.min(capacity, levelScaled + policy.refillTokens * elapsedMs);
}

/**
 * The per-container bucket of the `local` failure mode: `share` of the
 * capacity (at least one token) and `share` of the refill rate, expressed
 * with integer fields by stretching the refill interval.
 */
export function localPolicyOf(policy: BucketPolicy, share: number): BucketPolicy {
  const capacityTokens = Math.max(1, Math.floor(policy.capacityTokens * share));
  const refillIntervalMs = Math.max(1, Math.round(policy.refillIntervalMs / share));
  return { capacityTokens, refillTokens: policy.refillTokens, refillIntervalMs };
}

/**
 * The write that records `tokens` admitted without the store (the local
 * failure mode) into the own slot. It is unconditional (`maxCurrentN` is the
 * largest safe integer): the tokens were already handed out, so the only
 * honest thing left is to count them. Its checkpoint is the level just before
 * the write and the view's counts, like any decision's, so every later merge
 * subtracts these tokens; the level may go negative, which makes the bucket
 * refuse until it has refilled the debt.
 */
export function recordingWrite(
  policy: BucketPolicy,
  view: View,
  slot: string,
  tokens: number,
  nowMs: number,
  ttlGraceSeconds?: number,
): SlotWrite {
  const own = view.get(slot);
  const cv: Record<string, SeenCount> = {};
  for (const item of view.values()) cv[item.slot] = { n: item.n, inc: item.inc };
  const inc = own?.inc ?? nowMs;
  if (own === undefined) cv[slot] = { n: 0, inc };
  const checkpoint: Checkpoint = { ct: nowMs, cl: levelAt(policy, view, nowMs), cv };
  return {
    slot,
    addTokens: tokens,
    maxCurrentN: Number.MAX_SAFE_INTEGER,
    checkpoint,
    atMs: nowMs,
    ttlEpochSeconds: ttlEpochSeconds(policy, nowMs, ttlGraceSeconds),
    expected: { slot, n: (own?.n ?? 0) + tokens, v: (own?.v ?? 0) + 1, inc, at: nowMs, checkpoint },
  };
}
