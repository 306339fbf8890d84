/**
 * Watched buckets: shared buckets (a global cap, say) whose level the
 * reconciler reports, and how far the replicas disagree about it.
 *
 * Why the spread matters: every replica merges the slots it holds, so while
 * replication lags, replicas see different levels; the gap (max − min level
 * at one instant) is what a region may over-admit on top of the limit, and it
 * must return to zero once replication catches up (equal views give equal
 * levels exactly, since levels are integers in scaled units). All replicas
 * are evaluated at ONE `nowMs`, so the spread never includes refill that
 * happened between two reads.
 *
 * Pure: no SDK, no clock.
 */

import { bucketPolicyOf, type PolicyConfig } from '../config/schema';
import { levelTokensAt, type SlotItem, viewOf } from '../core';
import { bucketGeneration, bucketIdOf } from '../limiter/bucket-id';

/** A watched (policy, key) pair and its bucket id. */
export interface WatchedBucket {
  readonly policy: PolicyConfig;
  /** The key as configured in `watchKeys`. */
  readonly key: string;
  /** The bucket's partition key. */
  readonly bucketId: string;
}

/** A configured watch that is not measured, and why. */
export interface SkippedWatch {
  readonly policy: string;
  readonly key: string;
  readonly reason: string;
}

/**
 * The watched buckets of a config, in config order, at most `maxBuckets`.
 * Watches beyond the cap, on `strong` policies (their single slot lives on
 * the MRSC table, which has no replica spread to report) and with invalid
 * keys are returned as skipped, with the reason.
 */
export function watchedBucketsOf(
  policies: readonly PolicyConfig[],
  maxBuckets: number,
  maxKeyLength?: number,
): { buckets: WatchedBucket[]; skipped: SkippedWatch[] } {
  const buckets: WatchedBucket[] = [];
  const skipped: SkippedWatch[] = [];
  for (const policy of policies) {
    for (const key of policy.watchKeys ?? []) {
      if (policy.consistency === 'strong') {
        skipped.push({ policy: policy.id, key, reason: 'strong policies are not watched' });
      } else if (buckets.length >= maxBuckets) {
        skipped.push({ policy: policy.id, key, reason: `more than ${maxBuckets} watched buckets` });
      } else {
        try {
          buckets.push({
            policy,
            key,
            bucketId: bucketIdOf(
              policy.id,
              bucketGeneration(policy.version, policy.refillIntervalMs),
              key,
              maxKeyLength,
            ),
          });
        } catch (error) {
          skipped.push({ policy: policy.id, key, reason: `invalid key: ${String(error)}` });
        }
      }
    }
  }
  return { buckets, skipped };
}

/** A watched bucket's levels at one instant. */
export interface WatchedLevels {
  /** Level in tokens per replica that answered (may be negative after over-admission). */
  readonly levelTokensByRegion: ReadonlyMap<string, number>;
  /** Level / capacity in the local replica; `null` when the local replica did not answer. */
  readonly levelRatio: number | null;
  /** Max − min level across the replicas that answered; `null` with fewer than two. */
  readonly divergenceTokens: number | null;
}

/**
 * Levels of one bucket from the slot items each replica returned, all at
 * `nowMs`.
 *
 * @param itemsByRegion - slot items per replica that answered (absent: it did not)
 * @param localRegion - the replica whose level the ratio reports
 */
export function watchedLevels(
  policy: PolicyConfig,
  itemsByRegion: ReadonlyMap<string, readonly SlotItem[]>,
  localRegion: string,
  nowMs: number,
): WatchedLevels {
  const shape = bucketPolicyOf(policy);
  const levelTokensByRegion = new Map<string, number>();
  // The core works in whole milliseconds; a clock may give fractions (performance.now based).
  const atMs = Math.floor(nowMs);
  for (const [region, items] of itemsByRegion) {
    levelTokensByRegion.set(region, levelTokensAt(shape, viewOf(items), atMs));
  }
  const local = levelTokensByRegion.get(localRegion);
  const levels = [...levelTokensByRegion.values()];
  return {
    levelTokensByRegion,
    levelRatio: local === undefined ? null : local / shape.capacityTokens,
    divergenceTokens: levels.length < 2 ? null : Math.max(...levels) - Math.min(...levels),
  };
}
