/**
 * Slot items and the view: the CRDT half of the bucket.
 *
 * A bucket is stored as one item per *slot* (a region, a region shard, or the
 * single `global` slot in strong mode). Only one region ever writes a slot, so
 * each slot is a single-writer register ordered by `(inc, v)`: incarnation
 * (creation time, which changes only when the item expired and was created
 * again) and then version (`ADD v 1` on every write).
 *
 * The merge of two views keeps, per slot, the item with the higher `(inc, v)`.
 * It is commutative, associative and idempotent (a join on a total order per
 * slot); equal `(inc, v)` with different contents cannot come from one writer,
 * but is still broken deterministically so that every replica converges.
 */

/** The `n` a checkpoint saw for one slot, tied to that slot's incarnation. */
export interface SeenCount {
  /** The slot's `n` when the checkpoint was written. */
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
  /** `n` of every slot in the writer's view, its own pre-write `n` included. */
  readonly cv: Readonly<Record<string, SeenCount>>;
}

/** One slot of a bucket as stored (DESIGN.md §3). */
export interface SlotItem {
  /** Slot id: `<region>`, `<region>#<shard>` or `global`. */
  readonly slot: string;
  /** Net tokens this slot has taken (consumed minus returned lease tokens). */
  readonly n: number;
  /** Version; `ADD v 1` on every write. */
  readonly v: number;
  /** Incarnation: creation time (ms), set once with `if_not_exists`. */
  readonly inc: number;
  /** Last write time (ms). */
  readonly at: number;
  /** The checkpoint of the last write, absent only on foreign or legacy items. */
  readonly checkpoint?: Checkpoint;
}

/** Newest known item per slot. */
export type View = ReadonlyMap<string, SlotItem>;

/** The empty view: a bucket nobody has written is full. */
export const EMPTY_VIEW: View = new Map();

/**
 * Orders two items of the same slot: positive when `a` is newer. Ties on
 * `(inc, v)` fall back to the contents so the order is total.
 */
export function compareItems(a: SlotItem, b: SlotItem): number {
  if (a.inc !== b.inc) return a.inc - b.inc;
  if (a.v !== b.v) return a.v - b.v;
  if (a.n !== b.n) return a.n - b.n;
  if (a.at !== b.at) return a.at - b.at;
  const ja = JSON.stringify(a.checkpoint ?? null);
  const jb = JSON.stringify(b.checkpoint ?? null);
  return ja < jb ? -1 : ja > jb ? 1 : 0;
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
