/**
 * Merge on read with checkpoints: the level of a global bucket and the decision
 * to admit a request (DESIGN.md §4).
 *
 * Every write leaves a checkpoint `(ct, cl, cv)`: the level `cl` its writer saw
 * at `ct` and the `n` of every slot it saw. Any checkpoint `i` bounds the level:
 *
 *     B_i(t) = cl_i + R·(t − ct_i) − S·Σ_s max(0, n_s − cv_i[s])
 *
 * (consumption since the checkpoint can only lower the level; refill can raise
 * it at most at rate R). The level is `L = min(C, min_i B_i)`, an empty view
 * being a full bucket. The newest checkpoint is exact when the view is
 * complete, so with no replication lag this equals an exact token bucket; any
 * missing or stale data only removes terms that would lower `L` from *other*
 * slots, and stale checkpoints only add upper bounds (never raise `L`).
 *
 * Admission of cost `k` by slot `o` is one conditional write on `o`:
 * `ADD n k` if `n <= limit`, where `limit` keeps every bound above still ≥ k
 * whatever other writers of the same slot (other containers of the region)
 * added meanwhile:
 *
 *     limit = min( n_o + C, min_i (cv_i[o] + ⌊K_i / S⌋) ) − k
 *
 * with `K_i` = `B_i` without slot `o`'s term. The `n_o + C` term carries the
 * capacity cap into the condition, so a full bucket after a long idle cannot
 * be drained by many concurrent containers beyond `C`.
 *
 * All arithmetic is in integer scaled units (policy.ts). Time is an argument.
 */

import {
  type BucketPolicy,
  InvalidPolicyError,
  msUntil,
  scale,
  scaledCapacity,
  ttlEpochSeconds,
  validateCost,
} from './policy';
import { type Checkpoint, type SeenCount, type SlotItem, seenCount, type View } from './slot';

/** The outcome of a decision, as data (being over the limit is not an error). */
export interface Decision {
  /** Whether the request is admitted. */
  readonly allowed: boolean;
  /** Tokens this request costs. */
  readonly costTokens: number;
  /** The bucket's capacity. */
  readonly limitTokens: number;
  /** Whole tokens left after this decision (never negative). */
  readonly remainingTokens: number;
  /** Milliseconds until one more request of this cost would be admitted (0 = now). */
  readonly retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  readonly resetAfterMs: number;
  /** The level seen before the decision, in scaled units. */
  readonly levelScaled: number;
}

/** What an admitting slot writes: one conditional UpdateItem. */
export interface SlotWrite {
  /** The slot written (always the decider's own slot). */
  readonly slot: string;
  /** `ADD n :addTokens`: the cost minus any returned lease tokens (may be negative). */
  readonly addTokens: number;
  /** Condition `attribute_not_exists(n) OR n <= :maxCurrentN`. */
  readonly maxCurrentN: number;
  /** The checkpoint written with it. */
  readonly checkpoint: Checkpoint;
  /** `at` (ms). */
  readonly atMs: number;
  /** `ttl` (epoch seconds). */
  readonly ttlEpochSeconds: number;
  /** The item after the write if no other container wrote the slot meanwhile. */
  readonly expected: SlotItem;
}

/** A decision that admits, with the write that makes it durable. */
export interface Admission extends Decision {
  readonly allowed: true;
  readonly write: SlotWrite;
}

/** A decision that refuses; nothing is written. */
export interface Refusal extends Decision {
  readonly allowed: false;
}

/** Input of {@link decide}. */
export interface DecideInput {
  readonly policy: BucketPolicy;
  /** Newest known item per slot, the decider's own slot included when it exists. */
  readonly view: View;
  /** The decider's own slot id. */
  readonly slot: string;
  /** Cost of this request, `1 ≤ k ≤ capacity`. */
  readonly costTokens: number;
  readonly nowMs: number;
  /** Unused lease tokens handed back with this write (default 0). */
  readonly returnTokens?: number;
  /** TTL grace in seconds (at least one hour). */
  readonly ttlGraceSeconds?: number;
}

/** Level and the own slot's headroom, from one pass over the view. */
interface Evaluation {
  /** `L` in scaled units. */
  readonly levelScaled: number;
  /** `limit + k`: the largest own `n` after which k more tokens still fit. */
  readonly headroomN: number;
}

function evaluate(policy: BucketPolicy, view: View, nowMs: number, ownSlot?: string): Evaluation {
  const s = scale(policy);
  const capacity = scaledCapacity(policy);
  const own = ownSlot === undefined ? undefined : view.get(ownSlot);
  let level = capacity;
  let headroomN = (own?.n ?? 0) + policy.capacityTokens;
  for (const item of view.values()) {
    const cp = item.checkpoint;
    if (cp === undefined) continue;
    let othersTokens = 0;
    let ownTokens = 0;
    for (const other of view.values()) {
      const since = Math.max(0, other.n - seenCount(cp, other.slot, other.inc));
      if (other.slot === ownSlot) ownTokens = since;
      else othersTokens += since;
    }
    const consumed = (othersTokens + ownTokens) * s;
    const elapsedMs = nowMs - cp.ct;
    // Refill beyond "full plus everything consumed since" cannot matter (the
    // result is capped at C); clamping keeps the product a safe integer.
    const refill =
      elapsedMs > 0
        ? Math.min(policy.refillTokens * elapsedMs, capacity + consumed)
        : policy.refillTokens * elapsedMs;
    const bound = cp.cl + refill - consumed;
    if (bound < level) level = bound;
    if (ownSlot !== undefined) {
      const withoutOwn = cp.cl + refill - othersTokens * s;
      const ownSeen = own === undefined ? 0 : seenCount(cp, ownSlot, own.inc);
      const h = ownSeen + Math.floor(withoutOwn / s);
      if (h < headroomN) headroomN = h;
    }
  }
  return { levelScaled: level, headroomN };
}

/** The bucket's level at `nowMs`, in scaled units (may be negative after over-admission). */
export function levelAt(policy: BucketPolicy, view: View, nowMs: number): number {
  return evaluate(policy, view, nowMs).levelScaled;
}

/** The level in (possibly fractional) tokens. */
export function levelTokensAt(policy: BucketPolicy, view: View, nowMs: number): number {
  return levelAt(policy, view, nowMs) / scale(policy);
}

/**
 * A decision as data from the level before it and the level after it (equal
 * unless the request consumed): remaining whole tokens, the time until one
 * more request of this cost, and the time until full, all from `after`.
 */
export function decisionFromLevels(
  policy: BucketPolicy,
  costTokens: number,
  before: number,
  after: number,
  allowed: boolean,
): Decision {
  const s = scale(policy);
  return {
    allowed,
    costTokens,
    limitTokens: policy.capacityTokens,
    remainingTokens: Math.max(0, Math.floor(after / s)),
    retryAfterMs: msUntil(policy, after, costTokens * s),
    resetAfterMs: msUntil(policy, after, scaledCapacity(policy)),
    levelScaled: before,
  };
}

/**
 * What a request of `costTokens` would get now, without consuming anything
 * (a peek). `allowed` says whether it would be admitted.
 *
 * @throws InvalidPolicyError when the cost is not an integer in `1..capacity`.
 */
export function inspect(
  policy: BucketPolicy,
  view: View,
  nowMs: number,
  costTokens: number,
): Decision {
  assertCost(policy, costTokens);
  const level = levelAt(policy, view, nowMs);
  const allowed = level >= costTokens * scale(policy);
  return decisionFromLevels(policy, costTokens, level, level, allowed);
}

/**
 * Decides one request for the decider's own slot. Admits iff the level is at
 * least the cost; an admission carries the conditional write that makes it
 * durable, a refusal writes nothing.
 *
 * @throws InvalidPolicyError when the cost is not an integer in `1..capacity`.
 */
export function decide(input: DecideInput): Admission | Refusal {
  const { policy, slot, costTokens, nowMs } = input;
  assertCost(policy, costTokens);
  const s = scale(policy);
  const own = input.view.get(slot);
  const returned = Math.min(Math.max(0, input.returnTokens ?? 0), own?.n ?? 0);
  const view =
    returned > 0 && own !== undefined ? withOwnN(input.view, own, own.n - returned) : input.view;
  const ownNow = view.get(slot);
  const { levelScaled, headroomN } = evaluate(policy, view, nowMs, slot);
  if (levelScaled < costTokens * s) {
    return decisionFromLevels(policy, costTokens, levelScaled, levelScaled, false) as Refusal;
  }
  const cv: Record<string, SeenCount> = {};
  for (const item of view.values()) cv[item.slot] = { n: item.n, inc: item.inc };
  const inc = ownNow?.inc ?? nowMs;
  if (ownNow === undefined) cv[slot] = { n: 0, inc };
  const checkpoint: Checkpoint = { ct: nowMs, cl: levelScaled, cv };
  const ttl = ttlEpochSeconds(policy, nowMs, input.ttlGraceSeconds);
  const expected: SlotItem = {
    slot,
    n: (ownNow?.n ?? 0) + costTokens,
    v: (own?.v ?? 0) + 1,
    inc,
    at: nowMs,
    checkpoint,
  };
  const write: SlotWrite = {
    slot,
    addTokens: costTokens - returned,
    maxCurrentN: headroomN - costTokens + returned,
    checkpoint,
    atMs: nowMs,
    ttlEpochSeconds: ttl,
    expected,
  };
  const after = levelScaled - costTokens * s;
  return {
    ...decisionFromLevels(policy, costTokens, levelScaled, after, true),
    allowed: true,
    write,
  };
}

/**
 * A cost above capacity could never be admitted (and its retry time would be
 * a lie), a non-integer cost breaks the integer arithmetic: both are caller
 * bugs, reported as {@link InvalidPolicyError} rather than as a refusal.
 */
function assertCost(policy: BucketPolicy, costTokens: number): void {
  const problems = validateCost(policy, costTokens);
  if (problems.length > 0) throw new InvalidPolicyError(problems);
}

function withOwnN(view: View, own: SlotItem, n: number): View {
  const next = new Map(view);
  next.set(own.slot, { ...own, n });
  return next;
}

/** When a refused caller may next be admitted: `t + (k − L)/R`. */
export function blockedUntilMs(decision: Decision, nowMs: number): number {
  return nowMs + decision.retryAfterMs;
}
