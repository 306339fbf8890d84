/**
 * Leases (docs/design.md, "Leases"): a container takes `m ≥ k` tokens in one write and
 * serves later requests from memory, handing the unused part back with its
 * next write. The tokens are debited when leased, so the debits follow the
 * exact bucket; what a lease serves can only trail its debit.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BucketPolicy,
  decide,
  EMPTY_VIEW,
  type Lease,
  type LeasePolicy,
  leaseHandBack,
  leaseSize,
  levelAt,
  openLease,
  serveFromLease,
  unusedTokens,
  type View,
  validateLeasePolicy,
  withItem,
} from '../../functions/core';
import { policyArb, stepArb } from './arbitraries';
import { ForcedReplay, ReferenceBucket } from './reference-bucket';

const RUNS = 1000;

const leasePolicyArb: fc.Arbitrary<LeasePolicy> = fc.record({
  maxTokens: fc.integer({ min: 1, max: 20 }),
  ttlMs: fc.integer({ min: 1, max: 5000 }),
  maxShareOfLevel: fc.constantFrom(0.05, 0.1, 0.25, 0.5),
});

const leaseScenarioArb = policyArb.chain((policy) =>
  fc.record({
    policy: fc.constant(policy),
    lease: leasePolicyArb,
    containers: fc.integer({ min: 1, max: 3 }),
    steps: fc.array(stepArb(policy), { minLength: 1, maxLength: 80 }),
  }),
);

/**
 * Runs containers of one slot with leases over a shared, instantly updated
 * view. A container whose lease cannot serve hands back what it holds with its
 * next write. Returns what was debited, served and held.
 */
function runLeases(
  policy: BucketPolicy,
  lease: LeasePolicy,
  containers: number,
  steps: readonly { gapMs: number; costTokens: number; slotIndex: number }[],
  onWrite?: (
    got: { allowed: boolean; levelScaled: number },
    taken: number,
    returned: number,
    nowMs: number,
  ) => void,
) {
  let view: View = EMPTY_VIEW;
  const leases: (Lease | undefined)[] = Array.from({ length: containers }, () => undefined);
  const debits = new ForcedReplay(policy);
  const served = new ForcedReplay(policy);
  let nowMs = 0;
  let maxHeldTokens = 0;
  for (const step of steps) {
    nowMs += step.gapMs;
    const c = step.slotIndex % containers;
    const held = leases[c];
    const fromLease =
      held === undefined ? undefined : serveFromLease(policy, held, step.costTokens, nowMs);
    if (fromLease !== undefined) {
      expect(fromLease.decision.allowed).toBe(true);
      expect(fromLease.lease.tokensLeft).toBeGreaterThanOrEqual(0);
      leases[c] = fromLease.lease;
      served.admit(nowMs, step.costTokens);
      continue;
    }
    const returned = held?.tokensLeft ?? 0;
    const taken = leaseSize(policy, lease, levelAt(policy, view, nowMs), step.costTokens);
    const decision = decide({
      policy,
      view,
      slot: 'us',
      costTokens: taken,
      nowMs,
      handBack:
        held === undefined || returned === 0
          ? []
          : [{ tokens: returned, takenUpToN: held.takenUpToN, inc: held.inc }],
    });
    onWrite?.(decision, taken, returned, nowMs);
    if (!decision.allowed) continue;
    view = withItem(view, decision.write.expected);
    debits.admit(nowMs, decision.write.addTokens - decision.write.returnedTokens);
    served.admit(nowMs, step.costTokens);
    leases[c] = openLease(
      lease,
      decision,
      policy,
      taken,
      step.costTokens,
      nowMs,
      decision.write.expected,
    );
    const heldNow = leases.reduce((sum, l) => sum + (l?.tokensLeft ?? 0), 0);
    maxHeldTokens = Math.max(maxHeldTokens, heldNow);
  }
  return { debits, served, maxHeldTokens };
}

describe('leases', () => {
  it('one container: every lease write, returns included, equals the exact reference bucket', () => {
    fc.assert(
      fc.property(leaseScenarioArb, ({ policy, lease, steps }) => {
        const reference = new ReferenceBucket(policy);
        runLeases(policy, lease, 1, steps, (got, taken, returned, nowMs) => {
          const expected = reference.decide(nowMs, taken, returned);
          expect({ allowed: got.allowed, levelScaled: got.levelScaled }).toEqual({
            allowed: expected.allowed,
            levelScaled: expected.levelScaled,
          });
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('never over-admits: debits never overdraw; served tokens trail them by at most what leases hold', () => {
    fc.assert(
      fc.property(leaseScenarioArb, ({ policy, lease, containers, steps }) => {
        const { debits, served, maxHeldTokens } = runLeases(policy, lease, containers, steps);
        expect(debits.worstExcessScaled()).toBe(0);
        expect(served.worstExcessScaled()).toBeLessThanOrEqual(
          maxHeldTokens * policy.refillIntervalMs,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('lease size grows with the level, is a whole number of requests and shrinks to the cost as the bucket empties', () => {
    fc.assert(
      fc.property(
        policyArb,
        leasePolicyArb,
        fc.integer({ min: 1, max: 5 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (policy, lease, rawCost, a, b) => {
          const cost = Math.min(rawCost, policy.capacityTokens);
          const capacity = policy.capacityTokens * policy.refillIntervalMs;
          const low = Math.floor(Math.min(a, b) * capacity);
          const high = Math.floor(Math.max(a, b) * capacity);
          const atLow = leaseSize(policy, lease, low, cost);
          const atHigh = leaseSize(policy, lease, high, cost);
          expect(atLow).toBeLessThanOrEqual(atHigh);
          expect(atHigh % cost).toBe(0);
          expect(atHigh).toBeGreaterThanOrEqual(cost);
          if (atHigh > cost) {
            expect(atHigh).toBeLessThanOrEqual(lease.maxTokens);
            expect(atHigh * policy.refillIntervalMs).toBeLessThanOrEqual(
              (lease.maxShareOfLevel ?? 0.1) * high,
            );
          }
          expect(leaseSize(policy, lease, 0, cost)).toBe(cost);
        },
      ),
      { numRuns: RUNS },
    );
  });

  const policy: BucketPolicy = { capacityTokens: 100, refillTokens: 10, refillIntervalMs: 1000 };
  const leasePolicy: LeasePolicy = { maxTokens: 10, ttlMs: 1000, maxShareOfLevel: 0.1 };

  it('serves from memory until the lease is used up or expires, then returns the unused tokens', () => {
    const policy: BucketPolicy = { capacityTokens: 100, refillTokens: 1, refillIntervalMs: 1000 };
    const first = decide({ policy, view: EMPTY_VIEW, slot: 'us', costTokens: 10, nowMs: 0 });
    if (!first.allowed) throw new Error('expected an admission');
    let lease = openLease(leasePolicy, first, policy, 10, 1, 0, first.write.expected);
    expect(lease.tokensLeft).toBe(9);
    for (let i = 0; i < 3; i++) {
      const served = serveFromLease(policy, lease, 1, 100);
      expect(served?.decision.allowed).toBe(true);
      lease = served!.lease;
    }
    expect(lease.tokensLeft).toBe(6);
    expect(serveFromLease(policy, lease, 7, 100)).toBeUndefined();
    expect(unusedTokens(lease, 999)).toBe(0);
    expect(serveFromLease(policy, lease, 1, 1000)).toBeUndefined();
    expect(unusedTokens(lease, 1000)).toBe(6);
    expect(serveFromLease(policy, lease, 1, -1)).toBeUndefined();

    // Handing the 6 back restores the level as if only 4 had been taken at t = 0.
    const view = withItem(EMPTY_VIEW, first.write.expected);
    expect(leaseHandBack(lease, 999)).toBeUndefined();
    const handBack = leaseHandBack(lease, 1000)!;
    expect(handBack).toEqual({ tokens: 6, takenUpToN: 10, inc: 0 });
    const next = decide({
      policy,
      view,
      slot: 'us',
      costTokens: 1,
      nowMs: 1000,
      handBack: [handBack],
    });
    const reference = new ReferenceBucket(policy);
    reference.decide(0, 4);
    expect(next.levelScaled).toBe(reference.levelAt(1000));
    expect(next.levelScaled).toBe((100 - 4 + 1) * 1000);
    // n only grows: the write takes 1 and credits the 6 in its checkpoint.
    expect(next.allowed && [next.write.addTokens, next.write.returnedTokens]).toEqual([1, 6]);
    expect(next.allowed && next.write.expected.n).toBe(11);
    // A later reader, who knows nothing of the lease, reads the credited level.
    const after = withItem(view, next.allowed ? next.write.expected : view.get('us')!);
    expect(levelAt(policy, after, 1000)).toBe((100 - 4 + 1 - 1) * 1000);
    // Without the return the level is 6 tokens lower.
    const without = decide({ policy, view, slot: 'us', costTokens: 1, nowMs: 1000 });
    expect(next.levelScaled - without.levelScaled).toBe(6 * 1000);
  });

  it('reports the level after the lease plus what it still holds, refilled since, never above capacity', () => {
    const first = decide({ policy, view: EMPTY_VIEW, slot: 'us', costTokens: 10, nowMs: 0 });
    if (!first.allowed) throw new Error('expected an admission');
    const lease = openLease(leasePolicy, first, policy, 10, 1, 0, first.write.expected);
    // 90 left in the bucket + 1 refilled (100 ms at 10/s) + 9 held = 100 before, 99 after.
    const soon = serveFromLease(policy, lease, 1, 100)!;
    expect(soon.decision.levelScaled).toBe(100_000);
    expect(soon.decision.remainingTokens).toBe(99);
    // Half a second later the bucket alone is back to 95: with the 8 still held, capped at 100.
    const later = serveFromLease(policy, soon.lease, 1, 500)!;
    expect(later.decision.levelScaled).toBe(100_000);
    expect(later.decision.remainingTokens).toBe(99);
    expect(later.decision.remainingTokens).toBeLessThanOrEqual(later.decision.limitTokens);
    // Early on, below capacity, the held tokens count in full.
    const small = openLease(leasePolicy, { levelScaled: 50_000 }, policy, 5, 1, 0, {
      n: 5,
      inc: 0,
    });
    const served = serveFromLease(policy, small, 1, 0)!;
    // 50 − 5 taken = 45 in the bucket, + 4 held = 49 before, 48 after.
    expect(served.decision.levelScaled).toBe(49_000);
    expect(served.decision.remainingTokens).toBe(48);
  });

  it.each([
    { lease: { maxTokens: 0, ttlMs: 0, maxShareOfLevel: 0.9 }, problems: 3 },
    { lease: { maxTokens: 1.5, ttlMs: 10 }, problems: 1 },
    { lease: { maxTokens: 5, ttlMs: 10, maxShareOfLevel: 0 }, problems: 1 },
    { lease: { maxTokens: 5, ttlMs: 10 }, problems: 0 },
  ])('validates lease settings, listing every problem ($problems)', ({ lease, problems }) => {
    const found = validateLeasePolicy(lease);
    expect(found).toHaveLength(problems);
    for (const p of found) expect(p).toMatch(/^lease\.(maxTokens|ttlMs|maxShareOfLevel) /);
  });
});
