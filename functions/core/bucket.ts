/**
 * Merge on read: the level of a global token bucket from its slot items, and
 * the decision to admit a request (see docs/design.md, "Merge on read").
 *
 * The exact level of a token bucket that starts full at t₀ has a closed form.
 * Write `u(t) = C + R·(t − t₀) − A(t)` for the *uncapped* level (A: net
 * tokens taken by every slot so far) and `M(t) = max_{τ≤t} u(τ)` for its
 * running maximum; then the level is
 *
 *     L(t) = u(t) − (M(t) − C)
 *
 * (the cap at C throws away exactly the refill by which `u` ever rose above
 * its earlier maximum). `u(t)` needs only the current counts, which every
 * replica converges to; `M(t)` needs *when* tokens were taken, which no
 * replica knows exactly (A counts every token taken; tokens handed back are
 * treated as never taken, see below). Checkpoints carry what each writer knew:
 *
 * - checkpoint `i` (written at `ct_i` with level `cl_i`, having seen the
 *   counts `cv_i`) tells that `M(ct_i) ≤ m_i = u_i + C − cl_i`, where `u_i`
 *   is the uncapped level of what the writer saw;
 * - every count a checkpoint saw (`cv_i[s].n`), and the count of the item
 *   carrying it (written at `ct_i`), tell that the slot had taken at least
 *   that many tokens by `ct_i`: counts only grow, so the earliest checkpoint
 *   that saw a count bounds when those tokens were taken.
 *
 * From those, any checkpoint `i` gives an upper bound of `M(t)`: `m_i`, or
 * what `u` could have reached after `ct_i` with only the tokens known taken
 * by then. The level is `u(t) − (M̂(t) − C)` for the smallest such bound, and
 * since each bound is valid on its own, the smallest is valid too. In level
 * terms (scaled units, `S` per token, `R` per ms):
 *
 *     B_i = cl_i + R·(t − ct_i) − S·Σ_s (n_s − seen_i[s])            (1)
 *     g_j = C + R·(t − ct_{j+1}) − S·Σ_s (n_s − n̂_s(ct_j))          (2)
 *     L   = min(C, max( min_i B_i, max_i min(B_i, min_{j ≥ i} g_j) ))
 *
 * with checkpoints in `ct` order, `ct_{j+1} = t` after the last one, `n̂`
 * the largest count of each slot known taken at or before `ct_j`.
 * Bound (1) alone, minimised over all checkpoints, is the classic merge: safe
 * but it subtracts consumption a writer did not see as if it happened after
 * its checkpoint, so a side that sat at capacity through a partition drags
 * the level far below the exact one after the heal (it threw away refill the
 * other side's consumption had used). Choosing the best checkpoint whose
 * bound (2) says the refill could not have been thrown away since removes
 * that pessimism without ever reading a level above the exact one (the
 * property tests check both).
 *
 * Invariants: with the newest counts of every slot, `L` never exceeds the
 * exact level of everything admitted; what a reader has not seen can raise
 * `L` by at most what it has not seen; with no traffic the level refills at
 * `R` to exactly `C`, whatever it was (negative levels included); replicas
 * holding the same items compute the same level (a deterministic function of
 * the view, whose merge is a CRDT: slot.ts).
 *
 * Tokens handed back (a lease's unused tokens; tokens taken for a request
 * that another limit refused) were never served, so the merge treats them
 * as never taken. Only the container that took them knows where they sit in
 * its slot's count (the `n` its write returned), so it credits them in its
 * own next write: it evaluates the view with those tokens removed from its
 * count and from every observation made after it took them, and writes the
 * checkpoint of that evaluation. Other readers never credit anything (counts
 * only grow), so a hand-back is counted once, by the one writer that knows
 * it is true.
 *
 * Admission of cost `k` by slot `o` is one conditional write on `o`:
 * `ADD n k` if `n ≤ n_o + ⌊L/S⌋ − k`. Every term above falls by `S` per token
 * slot `o` takes, so the condition keeps the level at least `k` whatever
 * other containers of the same region wrote meanwhile.
 *
 * All arithmetic is in integer scaled units (policy.ts). Time is an argument;
 * every entry point checks its policy, time and cost.
 */

import {
  type BucketPolicy,
  checkedPolicy,
  checkedTime,
  InvalidPolicyError,
  msUntil,
  scale,
  scaledCapacity,
  ttlEpochSeconds,
  validateCost,
} from './policy';
import { applySlotWrite, type Checkpoint, type SeenCount, type SlotItem, type View } from './slot';

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

/** What a slot write does: one UpdateItem on the decider's own slot. */
export interface SlotWrite {
  /** The slot written (always the decider's own slot). */
  readonly slot: string;
  /** `ADD n :addTokens` (≥ 0): tokens taken. */
  readonly addTokens: number;
  /** Tokens this write hands back (credited in its checkpoint; `n` never falls). */
  readonly returnedTokens: number;
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
  /** Tokens this container took earlier and hands back with this write (never served). */
  readonly handBack?: readonly HandBack[];
  /** TTL grace in seconds (at least one hour). */
  readonly ttlGraceSeconds?: number;
}

/** Tokens one earlier write of this container took and that were never served. */
export interface HandBack {
  /** How many (at most what that write took). */
  readonly tokens: number;
  /** The own slot's `n` right after that write (its `ALL_NEW`). */
  readonly takenUpToN: number;
  /** The own slot's incarnation then: a slot recreated since has forgotten them anyway. */
  readonly inc: number;
}

/** The count and incarnation a reader knows of one slot. */
interface SlotCount {
  readonly n: number;
  readonly inc: number;
}

/**
 * The count a view knows per slot: each item's, raised to a checkpoint's
 * observation of that slot when the observation is newer (the reader's copy
 * lags behind what another writer saw stored). Observations of slots the
 * reader holds no item of are not used: such a slot may have expired, and
 * counting it would carry a dead slot through every later checkpoint.
 */
function knownCounts(view: View): Map<string, SlotCount> {
  const counts = new Map<string, SlotCount>();
  for (const item of view.values()) counts.set(item.slot, { n: item.n, inc: item.inc });
  for (const item of view.values()) {
    const cv = item.checkpoint?.cv;
    if (cv === undefined) continue;
    for (const slot of Object.keys(cv)) {
      const current = counts.get(slot);
      const seen = cv[slot] as SeenCount;
      // Only the same incarnation: a writer creating its slot records the
      // incarnation it proposes, which `if_not_exists` may not have kept.
      if (current !== undefined && seen.inc === current.inc && seen.n > current.n) {
        counts.set(slot, { n: seen.n, inc: seen.inc });
      }
    }
  }
  return counts;
}

/** `min(cap, base + R·elapsed)`, without forming a huge product after a long idle. */
function refilled(baseScaled: number, policy: BucketPolicy, elapsedMs: number, capScaled: number) {
  // A checkpoint in the reader's future (clock skew) counts negative refill: a region whose
  // clock is ahead credits itself R·δ reading others' checkpoints, and this takes it back
  // from everyone reading its own, so the credit never compounds through later checkpoints.
  if (elapsedMs <= 0) return Math.min(capScaled, baseScaled + policy.refillTokens * elapsedMs);
  if (baseScaled >= capScaled) return capScaled;
  const headroom = capScaled - baseScaled;
  if (elapsedMs >= Math.ceil(headroom / policy.refillTokens)) return capScaled;
  return baseScaled + policy.refillTokens * elapsedMs;
}

/**
 * The own slot's hand-backs, as a correction of counts: tokens removed from
 * the slot's count, and from every observation of it made after they were
 * taken (an observation of `n ≥ takenUpToN` includes them).
 */
interface OwnCorrection {
  readonly slot: string;
  readonly handBack: readonly HandBack[];
  /** Sum of the tokens handed back. */
  readonly tokens: number;
}

function correctedSeen(correction: OwnCorrection | undefined, slot: string, seenN: number): number {
  if (correction === undefined || correction.slot !== slot) return seenN;
  let n = seenN;
  for (const h of correction.handBack) if (seenN >= h.takenUpToN) n -= h.tokens;
  return Math.max(0, n);
}

/** A view evaluated at one moment. */
interface Evaluation {
  /** `L` in scaled units. */
  readonly levelScaled: number;
  /** The count used per slot (uncorrected: what is actually stored or observed). */
  readonly counts: ReadonlyMap<string, SlotCount>;
}

function evaluate(
  policy: BucketPolicy,
  view: View,
  nowMs: number,
  correction?: OwnCorrection,
): Evaluation {
  const s = scale(policy);
  const capacity = scaledCapacity(policy);
  const counts = knownCounts(view);
  const checkpoints: { readonly cp: Checkpoint; readonly slot: string; readonly n: number }[] = [];
  for (const item of view.values()) {
    if (item.checkpoint !== undefined) {
      // What the slot had taken when its checkpoint was written: takes since add `tk`.
      checkpoints.push({ cp: item.checkpoint, slot: item.slot, n: item.n - (item.tk ?? 0) });
    }
  }
  if (checkpoints.length === 0) return { levelScaled: capacity, counts };
  checkpoints.sort((a, b) => a.cp.ct - b.cp.ct || (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : 0));

  // Counts as the evaluation uses them: the own hand-backs removed.
  const taken = new Map<string, number>();
  let totalTaken = 0;
  for (const [slot, c] of counts) {
    const n =
      correction !== undefined && correction.slot === slot
        ? Math.max(0, c.n - correction.tokens)
        : c.n;
    taken.set(slot, n);
    totalTaken += n;
  }
  const seenBy = (cp: Checkpoint, slot: string, c: SlotCount): number => {
    const seen = cp.cv[slot];
    if (seen === undefined || seen.inc !== c.inc) return 0;
    return Math.min(correctedSeen(correction, slot, seen.n), taken.get(slot)!);
  };

  // (1) every checkpoint's bound; the classic merge is their minimum.
  const bounds = checkpoints.map(({ cp }) => {
    let since = 0;
    for (const [slot, c] of counts) since += taken.get(slot)! - seenBy(cp, slot, c);
    return refilled(cp.cl - since * s, policy, nowMs - cp.ct, capacity);
  });
  let classic = capacity;
  for (const b of bounds) if (b < classic) classic = b;

  // (2) how far u could have risen after each checkpoint with only the tokens known taken by then.
  // Takes (tokens added after an item's checkpoint, `tk`) are known taken by the item's `at`:
  // they add a point that teaches counts but claims no level.
  const points: { readonly atMs: number; readonly checkpoint: number; readonly slot: string }[] =
    checkpoints.map((c, i) => ({ atMs: c.cp.ct, checkpoint: i, slot: c.slot }));
  let newestCheckpointMs = Number.NEGATIVE_INFINITY;
  for (const c of checkpoints) if (c.cp.ct > newestCheckpointMs) newestCheckpointMs = c.cp.ct;
  let takenAfterNewest = false;
  for (const item of view.values()) {
    if ((item.tk ?? 0) <= 0) continue;
    points.push({ atMs: item.at, checkpoint: -1, slot: item.slot });
    if (item.at > newestCheckpointMs) takenAfterNewest = true;
  }
  points.sort(
    (a, b) =>
      a.atMs - b.atMs ||
      b.checkpoint - a.checkpoint ||
      (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : 0),
  );
  const known = new Map<string, number>();
  let knownTaken = 0;
  const rises: number[] = new Array(points.length);
  const learn = (slot: string, n: number) => {
    const before = known.get(slot) ?? 0;
    if (n > before) {
      known.set(slot, n);
      knownTaken += n - before;
    }
  };
  for (let j = 0; j < points.length; j++) {
    const point = points[j]!;
    if (point.checkpoint >= 0) {
      const { cp, slot: writer, n: writerN } = checkpoints[point.checkpoint]!;
      for (const [slot, c] of counts) learn(slot, seenBy(cp, slot, c));
      // The item carrying the checkpoint was written at ct: its count then (`n − tk`) was taken by then.
      learn(writer, Math.min(correctedSeen(correction, writer, writerN), taken.get(writer)!));
    } else {
      const item = view.get(point.slot)!;
      learn(
        point.slot,
        Math.min(correctedSeen(correction, point.slot, item.n), taken.get(point.slot)!),
      );
    }
    const nextMs = j + 1 < points.length ? points[j + 1]!.atMs : nowMs;
    rises[j] = refilled(capacity - (totalTaken - knownTaken) * s, policy, nowMs - nextMs, capacity);
  }
  let best = Number.NEGATIVE_INFINITY;
  let suffix = capacity;
  for (let j = points.length - 1; j >= 0; j--) {
    if (rises[j]! < suffix) suffix = rises[j]!;
    const i = points[j]!.checkpoint;
    if (i < 0) continue;
    const candidate = Math.min(bounds[i]!, suffix);
    if (candidate > best) best = candidate;
  }
  // The classic minimum is a bound only while nothing was taken after the newest checkpoint.
  const level = takenAfterNewest ? best : Math.max(classic, best);
  return { levelScaled: Math.min(capacity, level), counts };
}

function checked(policy: BucketPolicy, nowMs: number): void {
  checkedPolicy(policy);
  checkedTime(nowMs);
}

/** The bucket's level at `nowMs`, in scaled units (may be negative after over-admission). */
export function levelAt(policy: BucketPolicy, view: View, nowMs: number): number {
  checked(policy, nowMs);
  return evaluate(policy, view, nowMs).levelScaled;
}

/**
 * The level (scaled units) the decider's own next write would see: the view
 * with `handBack` credited to its own slot, as {@link decide} credits them.
 *
 * @throws RangeError for a malformed hand-back.
 */
export function levelWithHandBack(
  policy: BucketPolicy,
  view: View,
  slot: string,
  handBack: readonly HandBack[],
  nowMs: number,
): number {
  checked(policy, nowMs);
  return evaluate(policy, view, nowMs, ownCorrection(view, slot, handBack)).levelScaled;
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
 * @throws InvalidPolicyError for an invalid policy or a cost not an integer in `1..capacity`.
 * @throws InvalidTimeError when `nowMs` is not a safe integer.
 */
export function inspect(
  policy: BucketPolicy,
  view: View,
  nowMs: number,
  costTokens: number,
): Decision {
  checked(policy, nowMs);
  assertCost(policy, costTokens);
  const level = evaluate(policy, view, nowMs).levelScaled;
  const allowed = level >= costTokens * scale(policy);
  return decisionFromLevels(policy, costTokens, level, level, allowed);
}

/**
 * Decides one request for the decider's own slot. Admits iff the level is at
 * least the cost; an admission carries the conditional write that makes it
 * durable (and hands back `handBack`), a refusal writes nothing.
 *
 * @throws InvalidPolicyError for an invalid policy or a cost not an integer in `1..capacity`.
 * @throws InvalidTimeError when `nowMs` is not a safe integer.
 * @throws RangeError for a malformed hand-back.
 */
export function decide(input: DecideInput): Admission | Refusal {
  const { policy, slot, costTokens, nowMs } = input;
  checked(policy, nowMs);
  assertCost(policy, costTokens);
  const s = scale(policy);
  const correction = ownCorrection(input.view, slot, input.handBack);
  const { levelScaled, counts } = evaluate(policy, input.view, nowMs, correction);
  if (levelScaled < costTokens * s) {
    return decisionFromLevels(policy, costTokens, levelScaled, levelScaled, false) as Refusal;
  }
  const after = levelScaled - costTokens * s;
  const write = slotWrite(policy, input.view, counts, {
    slot,
    levelScaled,
    addTokens: costTokens,
    returnedTokens: correction?.tokens ?? 0,
    // Every bound falls by S per token the slot takes, whoever takes it.
    maxCurrentN: (counts.get(slot)?.n ?? 0) + Math.floor(levelScaled / s) - costTokens,
    nowMs,
    levelAfterScaled: after,
    ttlGraceSeconds: input.ttlGraceSeconds,
  });
  return {
    ...decisionFromLevels(policy, costTokens, levelScaled, after, true),
    allowed: true,
    write,
  };
}

/** Input of {@link recordingWrite}. */
export interface RecordingInput {
  readonly policy: BucketPolicy;
  readonly view: View;
  readonly slot: string;
  /** Tokens already handed out without the store, to count now (≥ 0). */
  readonly tokens: number;
  /** Tokens to hand back with the same write. */
  readonly handBack?: readonly HandBack[];
  readonly nowMs: number;
  readonly ttlGraceSeconds?: number;
}

/**
 * The write that records tokens admitted without the store (the `local`
 * failure mode's debt) and/or hands tokens back, into the own slot. It is
 * unconditional (`maxCurrentN` is the largest safe integer): the tokens were
 * already handed out, so the only honest thing left is to count them. Its
 * checkpoint is the level just before the write and the view's counts, like
 * any decision's, so every later merge subtracts these tokens; the level may
 * go negative, which makes the bucket refuse until it has refilled the debt
 * (and never longer: the level refills at R from any level).
 *
 * @throws InvalidPolicyError for an invalid policy; RangeError for negative or fractional token counts.
 */
export function recordingWrite(input: RecordingInput): SlotWrite {
  const { policy, slot, nowMs } = input;
  checked(policy, nowMs);
  if (!Number.isSafeInteger(input.tokens) || input.tokens < 0) {
    throw new RangeError(`tokens must be a non-negative integer (got ${input.tokens})`);
  }
  const correction = ownCorrection(input.view, slot, input.handBack);
  const { levelScaled, counts } = evaluate(policy, input.view, nowMs, correction);
  return slotWrite(policy, input.view, counts, {
    slot,
    levelScaled,
    addTokens: input.tokens,
    returnedTokens: correction?.tokens ?? 0,
    maxCurrentN: Number.MAX_SAFE_INTEGER,
    nowMs,
    levelAfterScaled: levelScaled - input.tokens * scale(policy),
    ttlGraceSeconds: input.ttlGraceSeconds,
  });
}

function slotWrite(
  policy: BucketPolicy,
  view: View,
  counts: ReadonlyMap<string, SlotCount>,
  w: {
    readonly slot: string;
    readonly levelScaled: number;
    readonly addTokens: number;
    readonly returnedTokens: number;
    readonly maxCurrentN: number;
    readonly nowMs: number;
    readonly levelAfterScaled: number;
    readonly ttlGraceSeconds: number | undefined;
  },
): SlotWrite {
  // The counts as stored or observed: the checkpoint's credit for hand-backs lives in cl only.
  const cv: Record<string, SeenCount> = {};
  for (const [slot, c] of counts) cv[slot] = { n: c.n, inc: c.inc };
  const own = counts.get(w.slot);
  if (own === undefined) cv[w.slot] = { n: 0, inc: w.nowMs };
  const checkpoint: Checkpoint = { ct: w.nowMs, cl: w.levelScaled, cv };
  const base = {
    slot: w.slot,
    addTokens: w.addTokens,
    maxCurrentN: w.maxCurrentN,
    checkpoint,
    atMs: w.nowMs,
  };
  const stored = view.get(w.slot);
  // The own count as known (an observation may be newer than the cached item).
  const ownItem: SlotItem | undefined =
    own === undefined
      ? undefined
      : { slot: w.slot, n: own.n, v: stored?.v ?? 0, inc: own.inc, at: stored?.at ?? w.nowMs };
  return {
    ...base,
    returnedTokens: w.returnedTokens,
    ttlEpochSeconds: ttlEpochSeconds(policy, w.nowMs, w.ttlGraceSeconds, w.levelAfterScaled),
    expected: applySlotWrite(ownItem, {
      ...base,
      maxCurrentN: Number.MAX_SAFE_INTEGER,
      ttlEpochSeconds: ttlEpochSeconds(policy, w.nowMs, w.ttlGraceSeconds, w.levelAfterScaled),
    })!,
  };
}

/**
 * The valid hand-backs of the own slot: whole positive token counts of the
 * slot's current incarnation, never more in total than the slot has taken.
 * Hand-backs of an older incarnation are dropped (the slot expired with them).
 */
function ownCorrection(
  view: View,
  slot: string,
  handBack: readonly HandBack[] | undefined,
): OwnCorrection | undefined {
  if (handBack === undefined || handBack.length === 0) return undefined;
  const own = view.get(slot);
  if (own === undefined) return undefined;
  const valid: HandBack[] = [];
  let tokens = 0;
  for (const h of handBack) {
    for (const [name, value] of [
      ['tokens', h.tokens],
      ['takenUpToN', h.takenUpToN],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`handBack.${name} must be a non-negative integer (got ${value})`);
      }
    }
    if (h.inc !== own.inc || h.tokens === 0) continue;
    const t = Math.min(h.tokens, h.takenUpToN, own.n - tokens);
    if (t <= 0) continue;
    valid.push({ ...h, tokens: t });
    tokens += t;
  }
  return tokens === 0 ? undefined : { slot, handBack: valid, tokens };
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

/** When a refused caller may next be admitted: `t + (k − L)/R`. */
export function blockedUntilMs(decision: Decision, nowMs: number): number {
  return nowMs + decision.retryAfterMs;
}
