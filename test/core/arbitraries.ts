/**
 * fast-check generators shared by the core's property tests: random bucket
 * policies and request sequences whose times never go backwards.
 *
 * Why these shapes: refill intervals include 1 ms (one scaled unit per token)
 * and 3000 ms (fractional refill per millisecond, e.g. 1 token per 3 s); gaps
 * mix bursts (0 ms), sub-token gaps, seconds and idle periods far longer than a
 * full refill, so refill boundaries, the capacity cap and long idles all occur.
 */

import fc from 'fast-check';
import type { BucketPolicy } from '../../functions/core';
import type { LaggedHistoryInput, LaggedStep } from './lagged-history';

/** A valid policy: small capacities so the bucket empties and refills often. */
export const policyArb: fc.Arbitrary<BucketPolicy> = fc.record({
  capacityTokens: fc.integer({ min: 1, max: 40 }),
  refillTokens: fc.integer({ min: 1, max: 20 }),
  refillIntervalMs: fc.constantFrom(1, 7, 100, 1000, 3000, 60_000),
});

/** A gap between two requests, in ms. */
export const gapMsArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 300 }) },
  { weight: 3, arbitrary: fc.integer({ min: 301, max: 20_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 20_001, max: 50_000_000 }) },
);

/** One request of a sequence: gap since the previous one, cost, which slot decides. */
export interface RequestStep {
  readonly gapMs: number;
  readonly costTokens: number;
  /** Index of the deciding slot (taken modulo the slot count). */
  readonly slotIndex: number;
}

/** A request step whose cost is between 1 and the capacity. */
export function stepArb(policy: BucketPolicy): fc.Arbitrary<RequestStep> {
  const maxCost = policy.capacityTokens;
  return fc.record({
    gapMs: gapMsArb,
    costTokens: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: Math.min(3, maxCost) }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: maxCost }) },
    ),
    slotIndex: fc.nat({ max: 1000 }),
  });
}

/** A policy, a start time (epoch ms) and a request sequence for it. */
export interface Scenario {
  readonly policy: BucketPolicy;
  readonly startMs: number;
  readonly steps: readonly RequestStep[];
}

/** Scenarios with up to `maxSteps` requests. */
export function scenarioArb(maxSteps = 60): fc.Arbitrary<Scenario> {
  return policyArb.chain((policy) =>
    fc.record({
      policy: fc.constant(policy),
      startMs: fc.integer({ min: 0, max: 2_000_000_000_000 }),
      steps: fc.array(stepArb(policy), { minLength: 1, maxLength: maxSteps }),
    }),
  );
}

/** Slot ids `s0`, `s1`, … */
export function slotIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `s${i}`);
}

/** Settings for a lagged multi-slot history (see lagged-history.ts). */
export interface LaggedArbOptions {
  readonly minSlots?: number;
  readonly maxSlots?: number;
  readonly maxContainers?: number;
  /** Whether every container refreshes its view from its replica before deciding. */
  readonly alwaysRefresh?: boolean;
  readonly maxSteps?: number;
  /** Whether admissions may reserve tokens and hand them back later (as leases do). @default true */
  readonly reservations?: boolean;
  /** Whether containers sometimes record local-mode debt (admitted without the store). @default false */
  readonly debts?: boolean;
  /** Whether containers sometimes decide by a take (one round trip). @default true */
  readonly takes?: boolean;
}

/** Lagged histories: 1..6 slots, 1..4 containers per slot, lag 0 to 10 s. */
export function laggedHistoryArb(options: LaggedArbOptions = {}): fc.Arbitrary<LaggedHistoryInput> {
  const {
    minSlots = 1,
    maxSlots = 6,
    maxContainers = 4,
    alwaysRefresh = false,
    maxSteps = 60,
    reservations = true,
    debts = false,
    takes = true,
  } = options;
  return policyArb.chain((policy) =>
    fc.record({
      policy: fc.constant(policy),
      startMs: fc.integer({ min: 0, max: 2_000_000_000_000 }),
      slotCount: fc.integer({ min: minSlots, max: maxSlots }),
      containersPerSlot: fc.integer({ min: 1, max: maxContainers }),
      lagMs: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 201, max: 10_000 }),
      ),
      steps: fc.array(
        fc
          .record({
            base: stepArb(policy),
            containerIndex: fc.nat({ max: 100 }),
            refresh: alwaysRefresh ? fc.constant(true) : fc.boolean(),
            deliverySeed: fc.nat(),
            reserveTokens: reservations
              ? fc.oneof(
                  { weight: 6, arbitrary: fc.constant(0) },
                  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) },
                )
              : fc.constant(0),
            recordTokens: debts
              ? fc.oneof(
                  { weight: 8, arbitrary: fc.constant(0) },
                  { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }) },
                )
              : fc.constant(0),
            take: takes
              ? fc.oneof(
                  { weight: 2, arbitrary: fc.constant(false) },
                  { weight: 1, arbitrary: fc.constant(true) },
                )
              : fc.constant(false),
          })
          .map(({ base, ...rest }): LaggedStep => ({ ...base, ...rest })),
        { minLength: 1, maxLength: maxSteps },
      ),
    }),
  );
}
