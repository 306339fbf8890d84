/**
 * Small pure helpers the limiter needs on top of the core: shaping a decision
 * from a known level (the blocked-until cache, fallbacks) and the bucket a
 * container may use alone when the store is down.
 *
 * They use only the core's exported arithmetic and never read a clock.
 */
import {
  type BucketPolicy,
  type Decision,
  decisionFromLevels,
  scale,
  scaledCapacity,
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
  return {
    capacityTokens,
    refillTokens: policy.refillTokens,
    refillIntervalMs,
    ...(policy.endsAtMs === undefined ? {} : { endsAtMs: policy.endsAtMs }),
  };
}
