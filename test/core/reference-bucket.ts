/**
 * An exact, single-store token bucket: the oracle the core is compared with.
 *
 * Why a second implementation: the core computes the level from checkpoints
 * merged on read; this one keeps the level itself and refills it lazily, the
 * textbook way. Both work in the same integer scaled units (policy.ts), so
 * every comparison is exact: no epsilon, no rounding slack.
 *
 * Also here: {@link ForcedReplay}, the same bucket fed a list of admissions
 * that it must accept even when they overdraw it. Its lowest level is the
 * worst over-admission of that list in any time window:
 *
 *     max over windows W of (tokens admitted in W − C − R·|W|) = −min level
 *
 * (a bucket that starts full and is drained by force reaches −x exactly when
 * some window admitted x more than the token-bucket envelope allows).
 */

import type { BucketPolicy } from '../../functions/core';

/** What the reference answers for one request. */
export interface ReferenceDecision {
  readonly allowed: boolean;
  /** Level before the decision (returned tokens included), scaled units. */
  readonly levelScaled: number;
  readonly remainingTokens: number;
  readonly retryAfterMs: number;
  readonly resetAfterMs: number;
}

function msUntilRef(policy: BucketPolicy, levelScaled: number, targetScaled: number): number {
  return levelScaled >= targetScaled
    ? 0
    : Math.ceil((targetScaled - levelScaled) / policy.refillTokens);
}

/** A token bucket that starts full and refills continuously, capped at capacity. */
export class ReferenceBucket {
  private level: number;
  private lastMs: number | undefined;
  private readonly capacity: number;
  private readonly unit: number;

  constructor(private readonly policy: BucketPolicy) {
    this.unit = policy.refillIntervalMs;
    this.capacity = policy.capacityTokens * this.unit;
    this.level = this.capacity;
  }

  /** The level at `nowMs` in scaled units (times must not go backwards). */
  levelAt(nowMs: number): number {
    if (this.lastMs === undefined) return this.level;
    if (nowMs < this.lastMs)
      throw new Error(`reference time went backwards: ${nowMs} < ${this.lastMs}`);
    return Math.min(this.capacity, this.level + this.policy.refillTokens * (nowMs - this.lastMs));
  }

  /**
   * Decides a request of `costTokens` at `nowMs`. `returnTokens` are unused
   * tokens handed back with the request: they count only if it is admitted
   * (a refusal writes nothing, so nothing is handed back either).
   */
  decide(nowMs: number, costTokens: number, returnTokens = 0): ReferenceDecision {
    const refilled = this.levelAt(nowMs);
    const before = Math.min(this.capacity, refilled + returnTokens * this.unit);
    const cost = costTokens * this.unit;
    const allowed = before >= cost;
    const after = allowed ? before - cost : before;
    if (allowed) {
      this.level = after;
      this.lastMs = nowMs;
    }
    return {
      allowed,
      levelScaled: before,
      remainingTokens: Math.max(0, Math.floor(after / this.unit)),
      retryAfterMs: msUntilRef(this.policy, after, cost),
      resetAfterMs: msUntilRef(this.policy, after, this.capacity),
    };
  }
}

/** Replays admissions that already happened, letting the level go negative. */
export class ForcedReplay {
  private level: number;
  private lastMs: number | undefined;
  private lowest: number;
  private readonly capacity: number;

  constructor(private readonly policy: BucketPolicy) {
    this.capacity = policy.capacityTokens * policy.refillIntervalMs;
    this.level = this.capacity;
    this.lowest = this.capacity;
  }

  /** The level at `nowMs` (scaled), given every admission recorded so far. */
  levelAt(nowMs: number): number {
    if (this.lastMs === undefined) return this.level;
    if (nowMs < this.lastMs)
      throw new Error(`replay time went backwards: ${nowMs} < ${this.lastMs}`);
    return Math.min(this.capacity, this.level + this.policy.refillTokens * (nowMs - this.lastMs));
  }

  /** Records an admission of `tokens` (negative: tokens handed back). */
  admit(nowMs: number, tokens: number): void {
    const refilled = this.levelAt(nowMs);
    this.level = Math.min(this.capacity, refilled - tokens * this.policy.refillIntervalMs);
    this.lastMs = nowMs;
    if (this.level < this.lowest) this.lowest = this.level;
  }

  /** Worst over-admission in any window so far, in scaled units (0 when none). */
  worstExcessScaled(): number {
    return Math.max(0, -this.lowest);
  }
}
