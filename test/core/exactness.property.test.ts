/**
 * Properties 1 and 2 of the merge (docs/design.md, "Merge on read"): with no replication lag the merge on read is
 * an exact token bucket, for one slot and for several slots.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, EMPTY_VIEW, inspect, type View, withItem } from '../../functions/core';
import { type Scenario, scenarioArb, slotIds } from './arbitraries';
import { ReferenceBucket } from './reference-bucket';

const RUNS = 1000;

/** Runs a scenario on `slotCount` slots sharing one view; fails on the first difference. */
function runScenario(scenario: Scenario, slotCount: number) {
  const { policy } = scenario;
  const slots = slotIds(slotCount);
  const reference = new ReferenceBucket(policy);
  let view: View = EMPTY_VIEW;
  let nowMs = scenario.startMs;
  for (const step of scenario.steps) {
    nowMs += step.gapMs;
    const slot = slots[step.slotIndex % slotCount]!;
    const peek = inspect(policy, view, nowMs, step.costTokens);
    const expected = reference.decide(nowMs, step.costTokens);
    const decision = decide({ policy, view, slot, costTokens: step.costTokens, nowMs });
    const got = {
      allowed: decision.allowed,
      levelScaled: decision.levelScaled,
      remainingTokens: decision.remainingTokens,
      retryAfterMs: decision.retryAfterMs,
      resetAfterMs: decision.resetAfterMs,
    };
    expect(got).toEqual(expected);
    expect(peek.allowed).toBe(expected.allowed);
    expect(peek.levelScaled).toBe(expected.levelScaled);
    if (decision.allowed) {
      expect(decision.write.slot).toBe(slot);
      expect(decision.write.addTokens).toBe(step.costTokens);
      // The conditional write must accept the current n (no concurrent writer here).
      expect(view.get(slot)?.n ?? 0).toBeLessThanOrEqual(decision.write.maxCurrentN);
      view = withItem(view, decision.write.expected);
    }
  }
}

describe('property 1: one slot equals the exact reference bucket', () => {
  it('every decision, level, remaining and retry time match', () => {
    fc.assert(
      fc.property(scenarioArb(), (scenario) => {
        runScenario(scenario, 1);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('property 2: several slots with instant replication equal the reference', () => {
  it('2..6 slots deciding in turn from the shared view match the reference', () => {
    fc.assert(
      fc.property(scenarioArb(), fc.integer({ min: 2, max: 6 }), (scenario, slotCount) => {
        runScenario(scenario, slotCount);
      }),
      { numRuns: RUNS },
    );
  });
});
