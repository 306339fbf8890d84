/**
 * The conditional write (`n <= maxCurrentN`) is what lets many containers of
 * one region decide from the same cached, stale view without a read-modify-
 * write loop. These tests apply writes the way DynamoDB would and show that
 * containers of one slot never admit more than the exact bucket, and that
 * without the condition they would.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applySlotWrite,
  type BucketPolicy,
  decide,
  EMPTY_VIEW,
  type SlotItem,
  type View,
  viewOf,
  withItem,
} from '../../functions/core';
import { laggedHistoryArb } from './arbitraries';
import { runLaggedHistory } from './lagged-history';
import { ReferenceBucket } from './reference-bucket';

const policy: BucketPolicy = { capacityTokens: 10, refillTokens: 1, refillIntervalMs: 1000 };
const HOUR_MS = 3_600_000;

/** `containers` containers decide at `nowMs` from the same `view`; writes are applied in turn. */
function concurrentBurst(
  view: View,
  containers: number,
  costTokens: number,
  nowMs: number,
  options: { honourCondition: boolean } = { honourCondition: true },
) {
  let stored = view.get('us');
  let admittedTokens = 0;
  let conditionFailures = 0;
  for (let i = 0; i < containers; i++) {
    const decision = decide({ policy, view, slot: 'us', costTokens, nowMs });
    if (!decision.allowed) continue;
    const next = options.honourCondition
      ? applySlotWrite(stored, decision.write)
      : applySlotWrite(stored, { ...decision.write, maxCurrentN: Number.MAX_SAFE_INTEGER });
    if (next === undefined) {
      conditionFailures++;
      continue;
    }
    stored = next;
    admittedTokens += decision.write.addTokens;
  }
  return { admittedTokens, conditionFailures, stored };
}

/** A slot that took 3 tokens at t = 0 and has been idle since. */
function idleView(): View {
  let view: View = EMPTY_VIEW;
  for (let i = 0; i < 3; i++) {
    const d = decide({ policy, view, slot: 'us', costTokens: 1, nowMs: 0 });
    if (!d.allowed) throw new Error('setup: expected an admission');
    view = withItem(view, d.write.expected);
  }
  return view;
}

describe('conditional write: many containers of one slot, one stale view', () => {
  it.each([
    {
      name: 'never-written bucket, 100 containers, cost 1',
      view: EMPTY_VIEW,
      cost: 1,
      expected: 10,
    },
    {
      name: 'full after an idle hour, 100 containers, cost 1',
      view: idleView(),
      cost: 1,
      expected: 10,
    },
    {
      name: 'full after an idle hour, 100 containers, cost 3',
      view: idleView(),
      cost: 3,
      expected: 9,
    },
  ])('$name: admits exactly what the exact bucket admits', ({ view, cost, expected }) => {
    const nowMs = HOUR_MS;
    const result = concurrentBurst(view, 100, cost, nowMs);
    expect(result.admittedTokens).toBe(expected);
    expect(result.conditionFailures).toBe(100 - expected / cost);
    const reference = new ReferenceBucket(policy);
    let referenceTokens = 0;
    for (let i = 0; i < 100; i++)
      if (reference.decide(nowMs, cost).allowed) referenceTokens += cost;
    expect(result.admittedTokens).toBe(referenceTokens);
  });

  it('a bucket at 4 tokens admits 4 even though every container saw the same level', () => {
    // 6 of 10 taken at t = 0; at t = 0 the level is 4.
    let view: View = EMPTY_VIEW;
    for (let i = 0; i < 6; i++) {
      const d = decide({ policy, view, slot: 'us', costTokens: 1, nowMs: 0 });
      if (d.allowed) view = withItem(view, d.write.expected);
    }
    expect(concurrentBurst(view, 100, 1, 0).admittedTokens).toBe(4);
  });

  it('without the condition the same burst would admit every container (why it exists)', () => {
    expect(
      concurrentBurst(idleView(), 100, 1, HOUR_MS, { honourCondition: false }).admittedTokens,
    ).toBe(100);
  });

  it('the condition accounts for other slots: headroom shrinks by what the checkpoint saw elsewhere', () => {
    // eu took 7 tokens at t = 0; us decides from a view holding eu's item.
    let view: View = EMPTY_VIEW;
    for (let i = 0; i < 7; i++) {
      const d = decide({ policy, view, slot: 'eu', costTokens: 1, nowMs: 0 });
      if (d.allowed) view = withItem(view, d.write.expected);
    }
    const burst = concurrentBurst(view, 50, 1, 0);
    expect(burst.admittedTokens).toBe(3);
    expect(viewOf([...view.values(), burst.stored as SlotItem]).get('us')?.n).toBe(3);
  });

  it('property: any number of containers with any stale views of one slot never over-admit', () => {
    fc.assert(
      fc.property(laggedHistoryArb({ maxSlots: 1, maxContainers: 8 }), (input) => {
        const history = runLaggedHistory(input);
        expect(history.worstExcessScaled).toBe(0);
      }),
      { numRuns: 1000 },
    );
  });
});
