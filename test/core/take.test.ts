/**
 * Takes (functions/core/take.ts): the one-round-trip way to decide a bucket
 * the container has no fresh view of. The lagged-history properties
 * (lag-bound, stale-views) run takes among the other writes; these tests pin
 * the pieces: what a take writes, how the state before it is recovered, and
 * that the level after takes stays exact where the timing is known.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applySlotWrite,
  applyTakeWrite,
  type BucketPolicy,
  decide,
  EMPTY_VIEW,
  levelAt,
  levelBeforeTake,
  type SlotItem,
  takeHandBack,
  takeWrite,
  type View,
  withItem,
} from '../../functions/core';
import { policyArb } from './arbitraries';
import { ReferenceBucket } from './reference-bucket';

const POLICY: BucketPolicy = { capacityTokens: 10, refillTokens: 1, refillIntervalMs: 1000 };
const S = POLICY.refillIntervalMs;

describe('takeWrite and applyTakeWrite', () => {
  it('creates a slot with the trivial checkpoint and counts the take after it', () => {
    const write = takeWrite(POLICY, 'eu', 3, 5_000);
    const item = applyTakeWrite(undefined, write)!;
    expect(item).toMatchObject({ slot: 'eu', n: 3, v: 1, inc: 5_000, at: 5_000, tk: 3 });
    expect(item.checkpoint).toEqual({ ct: 5_000, cl: 10 * S, cv: { eu: { n: 0, inc: 5_000 } } });
    // Nothing known taken at the checkpoint, 3 tokens by `at`: the level is exact.
    expect(levelAt(POLICY, new Map([['eu', item]]), 5_000)).toBe(7 * S);
  });

  it('keeps an existing checkpoint, adds to tk, and a conditional write clears tk', () => {
    const first = decide({ policy: POLICY, view: EMPTY_VIEW, slot: 'eu', costTokens: 2, nowMs: 0 });
    if (!first.allowed) throw new Error('a full bucket admits');
    const stored = applySlotWrite(undefined, first.write)!;
    const taken = applyTakeWrite(stored, takeWrite(POLICY, 'eu', 4, 1_000))!;
    expect(taken).toMatchObject({ n: 6, v: 2, tk: 4, at: 1_000, checkpoint: stored.checkpoint });
    const view: View = new Map([['eu', taken]]);
    const next = decide({ policy: POLICY, view, slot: 'eu', costTokens: 1, nowMs: 1_000 });
    if (!next.allowed) throw new Error('4 tokens are left');
    const after = applySlotWrite(taken, next.write)!;
    expect(after.tk).toBeUndefined();
    expect(after.n).toBe(7);
  });

  it('is refused by a slot whose stored expiry is later (a long debt keeps its expiry)', () => {
    const write = takeWrite(POLICY, 'eu', 1, 0);
    const debtor: SlotItem = {
      slot: 'eu',
      n: 500,
      v: 9,
      inc: 0,
      at: 0,
      ttl: write.ttlEpochSeconds + 1,
    };
    expect(applyTakeWrite(debtor, write)).toBeUndefined();
    expect(applyTakeWrite({ ...debtor, ttl: write.ttlEpochSeconds }, write)).toBeDefined();
  });

  it('rejects a take of no tokens or a fraction', () => {
    expect(() => takeWrite(POLICY, 'eu', 0, 0)).toThrow(RangeError);
    expect(() => takeWrite(POLICY, 'eu', 1.5, 0)).toThrow(RangeError);
  });
});

describe('takeHandBack', () => {
  it('hands back only a positive number of tokens, tied to the count the take left', () => {
    const item = applyTakeWrite(undefined, takeWrite(POLICY, 'eu', 2, 0))!;
    expect(takeHandBack(item, 0)).toBeUndefined();
    expect(takeHandBack(item, 2)).toEqual({ tokens: 2, takenUpToN: 2, inc: 0 });
  });
});

describe('a take decides like the conditional write on one slot', () => {
  it('levelBeforeTake equals the exact level, and the level after a take is exact too', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(
          fc.record({
            gapMs: fc.integer({ min: 0, max: 5_000 }),
            take: fc.boolean(),
            cost: fc.integer({ min: 1, max: 5 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (policy, steps) => {
          const reference = new ReferenceBucket(policy);
          const s = policy.refillIntervalMs;
          let stored: SlotItem | undefined;
          let nowMs = 0;
          let tookLast = false;
          for (const step of steps) {
            nowMs += step.gapMs;
            const cost = Math.min(step.cost, policy.capacityTokens);
            const expected = reference.decide(nowMs, cost);
            const view: View = stored === undefined ? EMPTY_VIEW : new Map([['eu', stored]]);
            // One take between conditional writes (a refusal writes nothing; the time of a
            // second take's tokens is not kept: that reads lower, next test), and only admitted ones (a refused one holds
            // its tokens until handed back).
            if (step.take && expected.allowed && !tookLast) {
              tookLast = true;
              const next = applyTakeWrite(stored, takeWrite(policy, 'eu', cost, nowMs))!;
              expect(levelBeforeTake(policy, view, 'eu', stored, nowMs)).toBe(expected.levelScaled);
              stored = next;
              expect(levelAt(policy, new Map([['eu', stored]]), nowMs)).toBe(
                expected.levelScaled - cost * s,
              );
            } else {
              const decision = decide({ policy, view, slot: 'eu', costTokens: cost, nowMs });
              expect(decision.allowed).toBe(expected.allowed);
              if (decision.allowed) {
                stored = applySlotWrite(stored, decision.write)!;
                tookLast = false;
              }
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('two takes between checkpoints can only read the level lower, never higher', () => {
    const view0 = withItem(EMPTY_VIEW, applyTakeWrite(undefined, takeWrite(POLICY, 'eu', 5, 0))!);
    const second = applyTakeWrite(view0.get('eu'), takeWrite(POLICY, 'eu', 5, 4_000))!;
    // Exact: 10 − 5 at 0, refilled to 9 by 4 s, − 5 = 4. The first take's time is forgotten.
    const level = levelAt(POLICY, new Map([['eu', second]]), 4_000);
    expect(level).toBeLessThanOrEqual(4 * S);
    expect(level).toBe(0);
  });
});
