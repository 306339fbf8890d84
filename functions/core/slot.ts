/**
 * Slot items and the view: the CRDT half of the bucket.
 *
 * A bucket is stored as one item per *slot* (a region, or the single `global`
 * slot in strong mode). Only one region ever writes a slot, so each slot is a
 * single-writer register ordered by `(inc, v)`: incarnation (creation time,
 * which changes only when the item expired and was created again) and then
 * version (`ADD v 1` on every write).
 *
 * A slot's count `n` (tokens it has taken) only ever grows within an
 * incarnation: tokens handed back (unused lease tokens, or tokens taken for a
 * request that was refused after all) are credited in the returning write's
 * checkpoint, never subtracted from `n` (see bucket.ts). A count that only
 * grows tells, from any earlier observation of it, how much had been taken
 * by then; that is what lets a reader reason about *when* tokens were taken.
 *
 * The merge of two views keeps, per slot, the item with the higher `(inc, v)`.
 * It is commutative, associative and idempotent (a join on a total order per
 * slot); equal `(inc, v)` with different contents cannot come from one writer,
 * but is still broken deterministically so that every replica converges.
 */

/** What a checkpoint saw of one slot, tied to that slot's incarnation. */
export interface SeenCount {
  /** The slot's `n` (tokens taken) when the checkpoint was written. */
  readonly n: number;
  /** The slot's incarnation at that time. */
  readonly inc: number;
}

/** A checkpoint: the level a writer computed just before its write. */
export interface Checkpoint {
  /** Time of the write (ms). */
  readonly ct: number;
  /** Level just before this write, in scaled units (see policy.ts). */
  readonly cl: number;
  /** The `n` of every slot the writer saw, its own pre-write `n` included. */
  readonly cv: Readonly<Record<string, SeenCount>>;
}

/** One slot of a bucket as stored (see docs/design.md, "Data model"). */
export interface SlotItem {
  /** Slot id: `<region>` or `global`. */
  readonly slot: string;
  /** Tokens this slot has taken (only grows within an incarnation). */
  readonly n: number;
  /** Version; `ADD v 1` on every write. */
  readonly v: number;
  /** Incarnation: creation time (ms), set once with `if_not_exists`. */
  readonly inc: number;
  /** Last write time (ms). */
  readonly at: number;
  /** The checkpoint of the last write, absent only on foreign or legacy items. */
  readonly checkpoint?: Checkpoint;
  /**
   * Tokens taken after the checkpoint by takes that kept it (the one-round-trip
   * path, see {@link applyTakeWrite}); absent means 0. The slot's count at the
   * checkpoint's time is `n − tk`: a conditional write, which writes a new
   * checkpoint, clears it.
   */
  readonly tk?: number;
  /** Expiry (epoch seconds) as stored, when the store reports it. */
  readonly ttl?: number;
}

/** Newest known item per slot. */
export type View = ReadonlyMap<string, SlotItem>;

/** The empty view: a bucket nobody has written is full. */
export const EMPTY_VIEW: View = new Map();

/**
 * Orders two items of the same slot: positive when `a` is newer. Ties on
 * `(inc, v)` fall back to the contents so the order is total; it depends on
 * what the items hold, never on the order a decoder built their fields in.
 */
export function compareItems(a: SlotItem, b: SlotItem): number {
  if (a.inc !== b.inc) return a.inc - b.inc;
  if (a.v !== b.v) return a.v - b.v;
  if (a.n !== b.n) return a.n - b.n;
  if (a.at !== b.at) return a.at - b.at;
  if ((a.tk ?? 0) !== (b.tk ?? 0)) return (a.tk ?? 0) - (b.tk ?? 0);
  return compareCheckpoints(a.checkpoint, b.checkpoint);
}

/**
 * A total order of checkpoints by content: none first, then time, level, the
 * number of slots seen, and each seen slot in the order of its id. Two
 * reads of one stored item (the common tie) compare equal without sorting.
 */
function compareCheckpoints(a: Checkpoint | undefined, b: Checkpoint | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  if (a.ct !== b.ct) return a.ct - b.ct;
  if (a.cl !== b.cl) return a.cl - b.cl;
  const slotsA = Object.keys(a.cv);
  const slotsB = Object.keys(b.cv);
  if (slotsA.length !== slotsB.length) return slotsA.length - slotsB.length;
  if (sameObservations(a, slotsA, b)) return 0;
  slotsA.sort();
  slotsB.sort();
  for (let i = 0; i < slotsA.length; i++) {
    const slotA = slotsA[i]!;
    const slotB = slotsB[i]!;
    if (slotA !== slotB) return slotA < slotB ? -1 : 1;
    const seenA = a.cv[slotA]!;
    const seenB = b.cv[slotB]!;
    if (seenA.n !== seenB.n) return seenA.n - seenB.n;
    if (seenA.inc !== seenB.inc) return seenA.inc - seenB.inc;
  }
  return 0;
}

/** Whether `b` saw every slot of `slotsA` (all of `a`'s) as `a` did: the common tie, without sorting. */
function sameObservations(a: Checkpoint, slotsA: readonly string[], b: Checkpoint): boolean {
  for (const slot of slotsA) {
    const seenA = a.cv[slot]!;
    const seenB = b.cv[slot];
    if (seenB === undefined || seenB.n !== seenA.n || seenB.inc !== seenA.inc) return false;
  }
  return true;
}

/** The newer of two items of one slot. */
export function mergeItem(a: SlotItem, b: SlotItem): SlotItem {
  return compareItems(a, b) >= 0 ? a : b;
}

/** Adds one item to a view, keeping the newer item per slot; returns a new view. */
export function withItem(view: View, item: SlotItem): View {
  const current = view.get(item.slot);
  if (current !== undefined && mergeItem(current, item) === current) return view;
  const next = new Map(view);
  next.set(item.slot, item);
  return next;
}

/** Builds a view from items in any order (duplicates merge). */
export function viewOf(items: Iterable<SlotItem>): View {
  const out = new Map<string, SlotItem>();
  for (const item of items) {
    const current = out.get(item.slot);
    out.set(item.slot, current === undefined ? item : mergeItem(current, item));
  }
  return out;
}

/** The CRDT join of two views. */
export function mergeViews(a: View, b: View): View {
  return viewOf([...a.values(), ...b.values()]);
}

/** The `n` a checkpoint saw for `slot`, or 0 when absent or from another incarnation. */
export function seenCount(checkpoint: Checkpoint, slot: string, inc: number | undefined): number {
  const seen = checkpoint.cv[slot];
  return seen !== undefined && seen.inc === inc ? seen.n : 0;
}

/**
 * Applies a slot write the way the store applies it (one conditional
 * UpdateItem, see functions/store/dynamodb-store.ts): `ADD n k, v 1`,
 * `SET ct, cl, cv, at`, `inc = if_not_exists(inc, at)`, `REMOVE tk`, accepted only when
 * the slot does not exist yet or its stored `n` is at most `maxCurrentN`.
 * Returns the item as stored afterwards, or `undefined` when the condition
 * fails (nothing is written then). Every in-memory store (tests, the
 * simulator) applies writes through this one function.
 */
export function applySlotWrite(
  stored: SlotItem | undefined,
  write: {
    readonly slot: string;
    readonly addTokens: number;
    readonly maxCurrentN: number;
    readonly checkpoint: Checkpoint;
    readonly atMs: number;
    readonly ttlEpochSeconds?: number;
  },
): SlotItem | undefined {
  if (stored !== undefined && stored.n > write.maxCurrentN) return undefined;
  const next: SlotItem = {
    slot: write.slot,
    n: (stored?.n ?? 0) + write.addTokens,
    v: (stored?.v ?? 0) + 1,
    inc: stored?.inc ?? write.atMs,
    at: write.atMs,
    checkpoint: write.checkpoint,
  };
  return write.ttlEpochSeconds === undefined ? next : { ...next, ttl: write.ttlEpochSeconds };
}

/**
 * A take: tokens added to the own slot before the decision is known, sent
 * in parallel with the read of the view so that a bucket the container has
 * no fresh view of costs one round trip (docs/design.md, "Takes"). It keeps
 * the slot's checkpoint (`tk` records what it added after it) and gives a
 * new slot the trivial checkpoint {@link initialCheckpoint}.
 */
export interface TakeWrite {
  /** The slot written (always the taker's own slot). */
  readonly slot: string;
  /** `ADD n :addTokens, tk :addTokens` (≥ 1). */
  readonly addTokens: number;
  /** `at` (ms), and `ct`/`inc` of a new slot. */
  readonly atMs: number;
  /** `ttl` (epoch seconds); the take is refused when the stored one is later. */
  readonly ttlEpochSeconds: number;
  /** The checkpoint of a slot the take creates. */
  readonly initialCheckpoint: Checkpoint;
}

/**
 * The checkpoint a take gives a slot it creates: at `atMs`, the level is at
 * most full and nothing of any slot is known taken. Every reader therefore
 * subtracts every slot's whole count from it, which makes it a valid lower
 * bound whatever the bucket's history (a level is never below capacity minus
 * everything ever taken), and it never raises anyone's level.
 */
export function initialCheckpoint(slot: string, capacityScaled: number, atMs: number): Checkpoint {
  return { ct: atMs, cl: capacityScaled, cv: { [slot]: { n: 0, inc: atMs } } };
}

/**
 * Applies a take the way the store applies it (functions/store/dynamodb-store.ts):
 * `ADD n k, v 1, tk k`, `SET at, ttl`, and `inc`, `ct`, `cl`, `cv` only when
 * absent; accepted unless the stored `ttl` is later than the take's (a slot
 * carrying a long debt keeps its expiry: the caller decides it the
 * two-round-trip way). Returns the stored item afterwards, or `undefined`
 * when refused (nothing is written then).
 */
export function applyTakeWrite(
  stored: SlotItem | undefined,
  write: TakeWrite,
): SlotItem | undefined {
  if (stored !== undefined && stored.ttl !== undefined && stored.ttl > write.ttlEpochSeconds) {
    return undefined;
  }
  return {
    slot: write.slot,
    n: (stored?.n ?? 0) + write.addTokens,
    v: (stored?.v ?? 0) + 1,
    inc: stored?.inc ?? write.atMs,
    at: write.atMs,
    checkpoint: stored?.checkpoint ?? write.initialCheckpoint,
    tk: (stored?.tk ?? 0) + write.addTokens,
    ttl: write.ttlEpochSeconds,
  };
}
