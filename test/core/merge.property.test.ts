/**
 * Property 3 of the merge (docs/design.md, "Merge on read"): the merge of views is a CRDT join (commutative,
 * associative, idempotent), and replicas that received the same items, in any
 * order and with duplicates, compute the same level.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareItems,
  levelAt,
  mergeViews,
  type SlotItem,
  type View,
  viewOf,
  withItem,
} from '../../functions/core';
import { laggedHistoryArb } from './arbitraries';
import { runLaggedHistory } from './lagged-history';

const RUNS = 1000;

/** Arbitrary items, including ties on (inc, v) with different contents. */
const itemArb: fc.Arbitrary<SlotItem> = fc.record(
  {
    slot: fc.constantFrom('us', 'eu', 'ap'),
    n: fc.integer({ min: 0, max: 20 }),
    v: fc.integer({ min: 1, max: 4 }),
    inc: fc.constantFrom(1000, 2000),
    at: fc.integer({ min: 0, max: 5000 }),
    checkpoint: fc.record({
      ct: fc.integer({ min: 0, max: 5000 }),
      cl: fc.integer({ min: 0, max: 10_000 }),
      cv: fc.dictionary(
        fc.constantFrom('us', 'eu', 'ap'),
        fc.record({ n: fc.integer({ min: 0, max: 20 }), inc: fc.constantFrom(1000, 2000) }),
      ),
    }),
  },
  { requiredKeys: ['slot', 'n', 'v', 'inc', 'at'] },
);
const viewArb: fc.Arbitrary<View> = fc.array(itemArb, { maxLength: 8 }).map(viewOf);

/** A view as plain data, so views from different merge orders compare by value. */
function plain(view: View) {
  return [...view.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('property 3: merge is a CRDT join', () => {
  it('is commutative', () => {
    fc.assert(
      fc.property(viewArb, viewArb, (a, b) => {
        expect(plain(mergeViews(a, b))).toEqual(plain(mergeViews(b, a)));
      }),
      { numRuns: RUNS },
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(viewArb, viewArb, viewArb, (a, b, c) => {
        expect(plain(mergeViews(mergeViews(a, b), c))).toEqual(
          plain(mergeViews(a, mergeViews(b, c))),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('is idempotent, and withItem agrees with mergeViews', () => {
    fc.assert(
      fc.property(viewArb, itemArb, (a, item) => {
        expect(plain(mergeViews(a, a))).toEqual(plain(a));
        expect(plain(withItem(a, item))).toEqual(plain(mergeViews(a, viewOf([item]))));
      }),
      { numRuns: RUNS },
    );
  });

  it('orders items by what they hold: a checkpoint built in another key order is the same item', () => {
    fc.assert(
      fc.property(itemArb, itemArb, (a, b) => {
        const reordered = (item: SlotItem): SlotItem =>
          item.checkpoint === undefined
            ? { ...item }
            : {
                ...item,
                checkpoint: {
                  cl: item.checkpoint.cl,
                  ct: item.checkpoint.ct,
                  cv: Object.fromEntries(Object.entries(item.checkpoint.cv).reverse()),
                },
              };
        expect(compareItems(a, reordered(a))).toBe(0);
        expect(Math.sign(compareItems(reordered(a), b))).toBe(Math.sign(compareItems(a, b)));
        expect(Math.sign(compareItems(b, a))).toBe(-Math.sign(compareItems(a, b)));
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps the newer incarnation, then the higher version, per slot', () => {
    fc.assert(
      fc.property(itemArb, itemArb, (a, b) => {
        const merged = viewOf([a, { ...b, slot: a.slot }]).get(a.slot)!;
        const other = merged === a ? { ...b, slot: a.slot } : a;
        expect(merged.inc > other.inc || (merged.inc === other.inc && merged.v >= other.v)).toBe(
          true,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('replicas that saw the same items in any order, with duplicates, compute the same level', () => {
    fc.assert(
      fc.property(
        laggedHistoryArb(),
        fc.array(fc.nat(), { maxLength: 200 }),
        fc.integer({ min: 0, max: 100_000 }),
        (input, order, laterMs) => {
          const history = runLaggedHistory(input);
          const items = [...history.versions.values()].flat();
          // A replica receiving a shuffled stream with duplicates, one item at a time.
          const shuffled = order
            .map((i) => items[i % Math.max(1, items.length)])
            .filter((item): item is SlotItem => item !== undefined);
          let replica: View = new Map();
          for (const item of [...shuffled, ...items.slice().reverse()])
            replica = withItem(replica, item);
          const inOrder = viewOf(items);
          const nowMs = history.endMs + laterMs;
          expect(plain(replica)).toEqual(plain(inOrder));
          expect(levelAt(input.policy, replica, nowMs)).toBe(levelAt(input.policy, inOrder, nowMs));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
