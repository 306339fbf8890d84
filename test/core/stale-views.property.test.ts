/**
 * DESIGN.md §4 property 5: stale checkpoints never over-admit.
 *
 * Dropping an item from a view removes two things at once: its checkpoint (an
 * upper bound on the level) and its consumption (a term that lowers every other
 * bound). So "a staler view gives a lower level" is false: a stale view gives a
 * *higher* level, and that is the over-admission property 4 bounds. What holds:
 *
 *   (5a) with the newest count of every slot, the level is never above the
 *        exact level of everything admitted, however stale the checkpoints
 *        those items carry: stale checkpoints alone cannot over-admit;
 *   (5b) adding the item of a slot the view lacked never raises the level
 *        (one more bound, more consumption);
 *   (5c) replacing a slot's item by a newer version never raises the level,
 *        as long as each version was written from a view holding the slot's
 *        previous version (one writer per slot, refreshed by ALL_NEW). With
 *        several containers deciding from stale caches of their own slot a
 *        newer version can carry a checkpoint from an older view and so raise
 *        the level; (5a) still holds there, and the conditional write keeps
 *        one slot exact (conditional-write.test.ts);
 *   (5d) an added checkpoint never raises the level: the same counts with
 *        an extra (older) checkpoint give a level at most as high.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { levelAt, type SlotItem, viewOf } from '../../functions/core';
import { laggedHistoryArb } from './arbitraries';
import { type LaggedHistory, runLaggedHistory } from './lagged-history';

const RUNS = 1000;

/** Picks an older view V and a newer view W ⊒ V (per slot, same or newer version). */
const picksArb = fc.array(
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
  { minLength: 6, maxLength: 6 },
);

function olderAndNewer(history: LaggedHistory, picks: readonly (readonly [number, number])[]) {
  const older: SlotItem[] = [];
  const newer: SlotItem[] = [];
  [...history.versions.values()].forEach((list, i) => {
    const [a, b] = picks[i] ?? [1, 1];
    // -1 means "slot absent from the view".
    const olderIndex = Math.min(list.length - 1, Math.floor(a * (list.length + 1)) - 1);
    const newerIndex = Math.min(
      list.length - 1,
      olderIndex + Math.floor(b * (list.length - olderIndex)),
    );
    if (olderIndex >= 0) older.push(list[olderIndex]!);
    if (newerIndex >= 0) newer.push(list[newerIndex]!);
  });
  return { older: viewOf(older), newer: viewOf(newer) };
}

describe('property 5: stale checkpoints never over-admit', () => {
  it('(5a) the newest counts give a level at most the exact level of all admissions', () => {
    fc.assert(
      fc.property(laggedHistoryArb(), (input) => {
        const history = runLaggedHistory(input);
        for (const decision of history.decisions) {
          expect(decision.fullLevelScaled).toBeLessThanOrEqual(decision.replayLevelScaled);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('(5b, 5c) a newer view never has a higher level (one writer per slot)', () => {
    fc.assert(
      fc.property(
        laggedHistoryArb({ maxContainers: 1 }),
        picksArb,
        fc.integer({ min: 0, max: 1_000_000 }),
        (input, picks, laterMs) => {
          const history = runLaggedHistory(input);
          const { older, newer } = olderAndNewer(history, picks);
          const nowMs = history.endMs + laterMs;
          expect(levelAt(input.policy, newer, nowMs)).toBeLessThanOrEqual(
            levelAt(input.policy, older, nowMs),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('(5d) an extra older checkpoint with the same counts never raises the level', () => {
    fc.assert(
      fc.property(
        laggedHistoryArb({ minSlots: 2 }),
        fc.nat(),
        fc.nat(),
        (input, slotPick, versionPick) => {
          const history = runLaggedHistory(input);
          const lists = [...history.versions.values()].filter((l) => l.length > 0);
          fc.pre(lists.length > 0);
          const full = viewOf(lists.map((l) => l[l.length - 1]!));
          const list = lists[slotPick % lists.length]!;
          const stale = list[versionPick % list.length]!;
          // The stale checkpoint rides on a pseudo-slot with no consumption of its own.
          const extra: SlotItem = { ...stale, slot: 'stale-copy', n: 0 };
          const nowMs = history.endMs;
          const withExtra = viewOf([...full.values(), extra]);
          expect(levelAt(input.policy, withExtra, nowMs)).toBeLessThanOrEqual(
            levelAt(input.policy, full, nowMs),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('(5a) also with many containers per slot deciding from stale caches', () => {
    fc.assert(
      fc.property(laggedHistoryArb({ maxContainers: 8 }), (input) => {
        const history = runLaggedHistory(input);
        for (const decision of history.decisions) {
          expect(decision.fullLevelScaled).toBeLessThanOrEqual(decision.replayLevelScaled);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
