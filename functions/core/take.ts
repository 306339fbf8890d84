/**
 * Takes: deciding a bucket in one round trip (see docs/design.md, "Takes").
 *
 * A container that has no fresh view of a bucket would need two round trips
 * to decide a request the conditional way: read the view, then write with a
 * condition computed from it. A take sends both at once: the read, and a
 * write that adds the tokens to the own slot unconditionally (keeping the
 * slot's checkpoint; `tk` records what it added after it). When both have
 * answered, the decision is made exactly as a conditional write would have
 * made it at the moment the take was applied: the own slot as it was just
 * before the take (the write returns it, `ALL_OLD`, whatever other
 * containers of the region wrote before or after), the other slots from the
 * read; the slot after the take follows from it ({@link applyTakeWrite}). Tokens the decision does
 * not keep (all of them for a refusal) are handed back by the container's
 * next write of the slot, like a lease's unused tokens.
 *
 * Why this is as safe as the conditional write: concurrent takes and writes
 * of one slot are serialised by the store's atomic `ADD`, and each take is
 * judged against everything applied before it, so no two of them can spend
 * the same tokens. Until their hand-back, refused takes only lower the level
 * others see (under-admission, never over-admission).
 */

import { type HandBack, levelAt } from './bucket';
import {
  type BucketPolicy,
  checkedPolicy,
  checkedTime,
  scale,
  scaledCapacity,
  ttlEpochSeconds,
} from './policy';
import { initialCheckpoint, type SlotItem, type TakeWrite, type View } from './slot';

/**
 * The take of `tokens` for `slot` at `nowMs`. Its `ttl` covers a debt of a
 * whole capacity beyond the take; a slot whose stored expiry is later
 * (a longer debt) refuses the take, and the caller decides it the
 * two-round-trip way.
 *
 * @throws InvalidPolicyError for an invalid policy; InvalidTimeError for a bad time;
 *   RangeError when `tokens` is not a positive safe integer.
 */
export function takeWrite(
  policy: BucketPolicy,
  slot: string,
  tokens: number,
  nowMs: number,
  ttlGraceSeconds?: number,
): TakeWrite {
  checkedPolicy(policy);
  checkedTime(nowMs);
  if (!Number.isSafeInteger(tokens) || tokens < 1) {
    throw new RangeError(`a take must add a positive whole number of tokens (got ${tokens})`);
  }
  const s = scale(policy);
  return {
    slot,
    addTokens: tokens,
    atMs: nowMs,
    ttlEpochSeconds: ttlEpochSeconds(
      policy,
      nowMs,
      ttlGraceSeconds,
      -scaledCapacity(policy) - tokens * s,
    ),
    initialCheckpoint: initialCheckpoint(slot, scaledCapacity(policy), nowMs),
  };
}

/**
 * The level (scaled units) the bucket had for the taker when its take was
 * applied: `view`'s other slots, and the own slot as it was just before the
 * take (`before`: the take's `ALL_OLD`, undefined when the take created the
 * slot). Admitting `k` is allowed iff this is at least `k` tokens; keeping
 * `m` as a lease iff it is at least `m` (and the lease rules allow it).
 */
export function levelBeforeTake(
  policy: BucketPolicy,
  view: View,
  slot: string,
  before: SlotItem | undefined,
  nowMs: number,
): number {
  const prior = new Map(view);
  if (before === undefined) prior.delete(slot);
  else prior.set(slot, before);
  return levelAt(policy, prior, nowMs);
}

/** The hand-back of `tokens` of a take that left the own slot as `stored`. */
export function takeHandBack(stored: SlotItem, tokens: number): HandBack | undefined {
  return tokens > 0 ? { tokens, takenUpToN: stored.n, inc: stored.inc } : undefined;
}
