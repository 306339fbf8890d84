/**
 * Property 5 of the merge (docs/design.md, "Merge on read"): stale information
 * never over-admits, and the level always refills.
 *
 * Dropping an item from a view removes two things at once: its checkpoint (a
 * bound on the level) and its consumption (a term that lowers every other
 * bound). So "a staler view gives a lower level" is false: a stale view gives a
 * *higher* level, and that is the over-admission property 4 bounds. The merge
 * also picks the best bound it can prove, so more information can raise the
 * level too (a checkpoint showing that refill was not thrown away). What holds:
 *
 *   (5a) with the newest count of every slot, the level is never above the
 *        exact level of everything admitted, however stale the checkpoints
 *        those items carry: stale checkpoints alone cannot over-admit;
 *   (5b, 5c) any older view (slots missing, older versions) is above the
 *        exact level by at most the tokens it has not seen;
 *   (5d) an extra older checkpoint never lifts the level above the exact one;
 *   (5e) with no traffic the level refills at R to exactly C from any reachable
 *        state, negative levels (a recorded debt) included: after Δ ms it is
 *        min(C, L + R·Δ).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BucketPolicy, levelAt, type SlotItem, viewOf } from '../../functions/core';
import { laggedHistoryArb } from './arbitraries';
import { type LaggedHistory, runLaggedHistory } from './lagged-history';

const RUNS = 1000;

/** Picks an older view V and a newer view W ⊒ V (per slot, same or newer version). */
const picksArb = fc.array(
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
  { minLength: 6, maxLength: 6 },
);

/** The exact level of everything the history admitted, at `nowMs` ≥ its end. */
function replayLevelAt(policy: BucketPolicy, history: LaggedHistory, nowMs: number): number {
  const capacity = policy.capacityTokens * policy.refillIntervalMs;
  const idleMs = nowMs - history.endMs;
  return Math.min(capacity, history.replayLevelAtEnd + policy.refillTokens * idleMs);
}

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

  it('(5b, 5c) an older view is above the exact level by at most the tokens it has not seen', () => {
    fc.assert(
      fc.property(
        laggedHistoryArb({ maxContainers: 1 }),
        picksArb,
        fc.integer({ min: 0, max: 1_000_000 }),
        (input, picks, laterMs) => {
          const history = runLaggedHistory(input);
          const { older, newer } = olderAndNewer(history, picks);
          const nowMs = history.endMs + laterMs;
          let unseen = 0;
          for (const item of newer.values()) {
            const seen = older.get(item.slot);
            unseen += item.n - (seen !== undefined && seen.inc === item.inc ? seen.n : 0);
          }
          const exact = replayLevelAt(input.policy, history, nowMs);
          const unit = input.policy.refillIntervalMs;
          // `newer` holds the history's newest items only when every pick is the last version.
          const full = viewOf([...history.versions.values()].flatMap((l) => l.slice(-1)));
          let unseenOfNewest = 0;
          for (const item of full.values()) {
            const seen = older.get(item.slot);
            unseenOfNewest += item.n - (seen !== undefined && seen.inc === item.inc ? seen.n : 0);
          }
          expect(unseen).toBeLessThanOrEqual(unseenOfNewest);
          expect(levelAt(input.policy, older, nowMs)).toBeLessThanOrEqual(
            exact + unseenOfNewest * unit,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('(5e) with no traffic the level refills at R to capacity from any reachable state', () => {
    fc.assert(
      fc.property(
        laggedHistoryArb({ maxContainers: 4, debts: true }),
        picksArb,
        fc.integer({ min: 0, max: 100_000_000 }),
        (input, picks, idleMs) => {
          const history = runLaggedHistory(input);
          const { older } = olderAndNewer(history, picks);
          const { policy } = input;
          const capacity = policy.capacityTokens * policy.refillIntervalMs;
          const level = levelAt(policy, older, history.endMs);
          const later = levelAt(policy, older, history.endMs + idleMs);
          expect(later).toBe(Math.min(capacity, level + policy.refillTokens * idleMs));
          // In particular the level is full once (C − L)/R has passed, whatever L was.
          const fullAfterMs = Math.ceil((capacity - level) / policy.refillTokens);
          expect(levelAt(policy, older, history.endMs + fullAfterMs)).toBe(capacity);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('(5d) an extra older checkpoint with the same counts never lifts the level above the exact one', () => {
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
          // An older checkpoint is true information about the past: it may tell the merge
          // that refill was not wasted (raising the level towards the exact one), never more.
          expect(levelAt(input.policy, withExtra, nowMs)).toBeLessThanOrEqual(
            history.replayLevelAtEnd,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('(5a) also with many containers per slot deciding from stale caches, and local-mode debt', () => {
    fc.assert(
      fc.property(laggedHistoryArb({ maxContainers: 8, debts: true }), (input) => {
        const history = runLaggedHistory(input);
        for (const decision of history.decisions) {
          expect(decision.fullLevelScaled).toBeLessThanOrEqual(decision.replayLevelScaled);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
