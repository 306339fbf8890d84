/**
 * Escrow (functions/core/escrow.ts) under any interleaving of admissions,
 * transfers, rebalancing and delivery: items reach other replicas late, out of
 * order, more than once or not at all (a cut), and a replica may even keep an
 * older item of another region after a newer one (a store worse than the real
 * one, which keeps the newest). Checked after every step:
 * - the envelope: in every window, all regions together admit at most
 *   `C + R·|W|` (true time; each region decides on its own, possibly offset,
 *   clock);
 * - conservation: capacity and refill rights held plus in flight are exactly
 *   the bucket's, no level exceeds its cap, no transfer carries more tokens
 *   than capacity, and no receiver ever counted more than a giver gave
 *   (counted at most once);
 * - determinism: replicas holding the same items compute the same rights.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BucketPolicy,
  ESCROW_RATE_PARTS,
  type EscrowItem,
  type EscrowTransfer,
  type EscrowView,
  escrowRightsAt,
  escrowTake,
  escrowViewOf,
  escrowWrite,
  initialEscrowItem,
  planEscrowRebalance,
  scaledCapacity,
} from '../../functions/core';
import { gapMsArb, policyArb } from './arbitraries';
import { ReferenceBucket } from './reference-bucket';

const RUNS = 400;

/** Token buckets, and quota periods (no refill: only the capacity is split). */
const escrowPolicyArb: fc.Arbitrary<BucketPolicy> = fc.oneof(
  { weight: 3, arbitrary: policyArb },
  {
    weight: 1,
    arbitrary: fc.record({
      capacityTokens: fc.integer({ min: 1, max: 40 }),
      refillTokens: fc.constant(0),
      refillIntervalMs: fc.constantFrom(1, 1000, 60_000),
      endsAtMs: fc.constant(4_000_000_000_000),
    }),
  },
);

type Step =
  | { kind: 'admit'; gapMs: number; region: number; cost: number }
  | { kind: 'give'; gapMs: number; region: number; to: number; capShare: number; rateShare: number }
  | { kind: 'rebalance'; gapMs: number; region: number; demands: number[] }
  | { kind: 'deliver'; from: number; to: number; version: number }
  | { kind: 'deliverNewest'; from: number; to: number }
  | { kind: 'cut'; mask: number }
  | { kind: 'heal' }
  /** Gives the region's last admission back (another limit refused its request). */
  | { kind: 'refund'; gapMs: number; region: number };

const index = fc.nat({ max: 1000 });

/** Mostly short gaps, so buckets stay drained and every right matters; now and then a long idle. */
const shortGapArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 50 }) },
  { weight: 1, arbitrary: gapMsArb },
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('admit' as const),
      gapMs: shortGapArb,
      region: index,
      cost: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('give' as const),
      gapMs: shortGapArb,
      region: index,
      to: index,
      capShare: fc.double({ min: 0, max: 1, noNaN: true }),
      rateShare: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('rebalance' as const),
      gapMs: shortGapArb,
      region: index,
      demands: fc.array(fc.nat({ max: 50_000 }), { minLength: 4, maxLength: 4 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      from: index,
      to: index,
      version: index,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('deliverNewest' as const), from: index, to: index }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('cut' as const), mask: fc.nat({ max: 15 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('heal' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('refund' as const),
      gapMs: shortGapArb,
      region: index,
    }),
  },
);

interface History {
  readonly policy: BucketPolicy;
  readonly regionCount: number;
  readonly offsetsMs: readonly number[];
  readonly steps: readonly Step[];
}

const historyArb: fc.Arbitrary<History> = fc.record({
  policy: escrowPolicyArb,
  regionCount: fc.integer({ min: 1, max: 4 }),
  offsetsMs: fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: 4, maxLength: 4 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 120, size: 'max' }),
});

const minus = (a: EscrowTransfer, b: EscrowTransfer | undefined): EscrowTransfer => ({
  tokens: a.tokens - (b?.tokens ?? 0),
  cap: a.cap - (b?.cap ?? 0),
  rate: a.rate - (b?.rate ?? 0),
});

/** A world of regions, each with its own replica, driven by a history. */
class World {
  readonly regions: string[];
  /** Every item each region wrote, oldest first. */
  readonly written = new Map<string, EscrowItem[]>();
  readonly replicas = new Map<string, Map<string, EscrowItem>>();
  /** True time (ms) and cost of every admission. */
  admissions: { atMs: number; cost: number }[] = [];
  /** Per region, its last admission and the item it wrote, until refunded or written over. */
  readonly lastAdmission = new Map<
    string,
    { item: EscrowItem; entry: { atMs: number; cost: number } }
  >();
  nowMs = 1_700_000_000_000;
  cut: ReadonlySet<string> = new Set();

  constructor(
    readonly policy: BucketPolicy,
    regionCount: number,
    readonly offsetsMs: readonly number[],
  ) {
    this.regions = Array.from({ length: regionCount }, (_, i) => `r${i}`);
    for (const r of this.regions) {
      this.written.set(r, []);
      this.replicas.set(r, new Map());
    }
  }

  region(i: number): string {
    return this.regions[i % this.regions.length]!;
  }

  clock(region: string): number {
    return this.nowMs + this.offsetsMs[this.regions.indexOf(region)]!;
  }

  view(region: string): EscrowView {
    return this.replicas.get(region)!;
  }

  /** The region's newest item (its own replica always holds it: one writer). */
  latest(region: string): EscrowItem {
    return this.view(region).get(region) ?? initialEscrowItem(this.policy, this.regions, region);
  }

  write(region: string, item: EscrowItem): void {
    expect(item.v).toBe(this.latest(region).v + 1);
    this.lastAdmission.delete(region);
    this.written.get(region)!.push(item);
    this.replicas.get(region)!.set(region, item);
  }

  deliver(from: string, to: string, item: EscrowItem): void {
    if (from === to) return;
    if (this.cut.has(from) !== this.cut.has(to)) return;
    this.replicas.get(to)!.set(from, item);
  }

  run(step: Step): void {
    if ('gapMs' in step) this.nowMs += step.gapMs;
    const { policy, regions } = this;
    switch (step.kind) {
      case 'admit': {
        const region = this.region(step.region);
        const decision = escrowTake({
          policy,
          regions,
          view: this.view(region),
          region,
          costTokens: step.cost,
          nowMs: this.clock(region),
        });
        if (decision.allowed) {
          this.write(region, decision.write!);
          const entry = { atMs: this.nowMs, cost: step.cost };
          this.admissions.push(entry);
          this.lastAdmission.set(region, { item: decision.write!, entry });
        }
        return;
      }
      case 'refund': {
        // As the limiter gives back: only on the item the admission wrote (nothing wrote since).
        const region = this.region(step.region);
        const last = this.lastAdmission.get(region);
        if (last === undefined || this.latest(region).v !== last.item.v) return;
        this.write(
          region,
          escrowWrite({
            policy,
            regions,
            view: this.view(region),
            region,
            nowMs: this.clock(region),
            creditTokens: last.entry.cost,
          }),
        );
        // The request was refused after all: not an admission.
        this.admissions = this.admissions.filter((a) => a !== last.entry);
        return;
      }
      case 'give': {
        const region = this.region(step.region);
        const to = this.region(step.to);
        if (to === region) return;
        const rights = escrowRightsAt(
          policy,
          regions,
          this.view(region),
          region,
          this.clock(region),
        );
        const gift = {
          to,
          cap: Math.floor(rights.capScaled * step.capShare),
          rate: Math.floor(rights.rateParts * step.rateShare),
        };
        const nowMs = this.clock(region);
        this.write(
          region,
          escrowWrite({ policy, regions, view: this.view(region), region, nowMs, gifts: [gift] }),
        );
        return;
      }
      case 'rebalance': {
        const region = this.region(step.region);
        const nowMs = this.clock(region);
        const view = this.view(region);
        const demand = step.demands[regions.indexOf(region)]!;
        const gifts = planEscrowRebalance({
          policy,
          regions,
          view,
          region,
          nowMs,
          ownDemandMilli: demand,
        });
        this.write(
          region,
          escrowWrite({ policy, regions, view, region, nowMs, gifts, demandMilli: demand }),
        );
        return;
      }
      case 'deliver': {
        const from = this.region(step.from);
        const versions = this.written.get(from)!;
        if (versions.length === 0) return;
        this.deliver(from, this.region(step.to), versions[step.version % versions.length]!);
        return;
      }
      case 'deliverNewest': {
        const from = this.region(step.from);
        const item = this.view(from).get(from);
        if (item !== undefined) this.deliver(from, this.region(step.to), item);
        return;
      }
      case 'cut':
        this.cut = new Set(this.regions.filter((_, i) => (step.mask >> i) & 1));
        return;
      case 'heal':
        this.cut = new Set();
        return;
    }
  }

  /** Every window's admissions against the envelope `C + R·|W|` (scaled units). */
  checkEnvelope(): void {
    const unit = this.policy.refillIntervalMs;
    const capacity = scaledCapacity(this.policy);
    const a = this.admissions;
    for (let i = 0; i < a.length; i++) {
      let sum = 0;
      for (let j = i; j < a.length; j++) {
        sum += a[j]!.cost * unit;
        const allowed = capacity + this.policy.refillTokens * (a[j]!.atMs - a[i]!.atMs);
        if (sum > allowed) {
          throw new Error(
            `admissions ${i}..${j} took ${sum} units; the envelope allows ${allowed}`,
          );
        }
      }
    }
  }

  /** Rights held plus in flight are exactly the bucket's; nothing counted twice. */
  checkConservation(): void {
    const { policy, regions } = this;
    let cap = 0;
    let rate = 0;
    let inFlight: EscrowTransfer = { tokens: 0, cap: 0, rate: 0 };
    for (const r of regions) {
      const item = this.latest(r);
      expect(item.level).toBeGreaterThanOrEqual(0);
      expect(item.level).toBeLessThanOrEqual(item.cap);
      expect(item.rem).toBeGreaterThanOrEqual(0);
      expect(item.rem).toBeLessThan(ESCROW_RATE_PARTS);
      cap += item.cap;
      rate += item.rate;
      for (const g of regions) {
        if (g === r) continue;
        const given = this.latest(g).given[r];
        const counted = item.recv[g];
        if (given === undefined) {
          expect(counted).toBeUndefined();
          continue;
        }
        const flight = minus(given, counted);
        // Counted at most once: a receiver never counts more than the giver gave.
        expect(Math.min(flight.tokens, flight.cap, flight.rate)).toBeGreaterThanOrEqual(0);
        expect(flight.tokens).toBeLessThanOrEqual(flight.cap);
        inFlight = {
          tokens: inFlight.tokens + flight.tokens,
          cap: inFlight.cap + flight.cap,
          rate: inFlight.rate + flight.rate,
        };
      }
    }
    expect(cap + inFlight.cap).toBe(scaledCapacity(policy));
    expect(rate + inFlight.rate).toBe(policy.refillTokens === 0 ? 0 : ESCROW_RATE_PARTS);
  }
}

describe('escrow under any interleaving, lag, redelivery and cuts', () => {
  it('no window admits more than C + R·|W|, and rights are conserved, after every step', () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        const world = new World(history.policy, history.regionCount, history.offsetsMs);
        for (const step of history.steps) {
          world.run(step);
          world.checkConservation();
        }
        world.checkEnvelope();
      }),
      { numRuns: RUNS },
    );
  });

  it('replicas that saw the same items, in any order and with duplicates, compute the same rights', () => {
    fc.assert(
      fc.property(
        historyArb,
        fc.array(fc.nat({ max: 10_000 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 100_000 }),
        (history, picks, laterMs) => {
          const world = new World(history.policy, history.regionCount, history.offsetsMs);
          for (const step of history.steps) world.run(step);
          const all = [...world.written.values()].flat();
          if (all.length === 0) return;
          const seen = picks.map((p) => all[p % all.length]!);
          const a = escrowViewOf(seen);
          const b = escrowViewOf([...seen].reverse().concat(seen.slice(0, 3)));
          const nowMs = world.nowMs + laterMs;
          for (const r of world.regions) {
            const ra = escrowRightsAt(world.policy, world.regions, a, r, nowMs);
            const rb = escrowRightsAt(world.policy, world.regions, b, r, nowMs);
            expect(rb).toEqual(ra);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a transfer redelivered, or seen again after a newer one, is counted once', () => {
    fc.assert(
      fc.property(
        escrowPolicyArb,
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 12 }),
        (policy, share, deliveries) => {
          const regions = ['a', 'b'];
          const nowMs = 1000;
          const a0 = initialEscrowItem(policy, regions, 'a');
          const cap = Math.floor(a0.cap * share);
          const rate = Math.floor(a0.rate * share);
          const a1 = escrowWrite({
            policy,
            regions,
            view: new Map(),
            region: 'a',
            nowMs,
            gifts: [{ to: 'b', cap, rate }],
          });
          // a2: a newer item of a that gives nothing more.
          const a2 = escrowWrite({
            policy,
            regions,
            view: new Map([['a', a1]]),
            region: 'a',
            nowMs,
          });
          const versions = [a0, a1, a2];
          let b = initialEscrowItem(policy, regions, 'b');
          for (const d of deliveries) {
            const view = new Map([
              ['a', versions[d]!],
              ['b', b],
            ]);
            b = escrowWrite({ policy, regions, view, region: 'b', nowMs });
          }
          const expected = initialEscrowItem(policy, regions, 'b');
          const counted = deliveries.some((d) => d > 0);
          expect(b.cap).toBe(expected.cap + (counted ? cap : 0));
          expect(b.rate).toBe(expected.rate + (counted ? rate : 0));
          expect(b.cap + a1.cap).toBe(
            counted ? scaledCapacity(policy) : scaledCapacity(policy) - cap,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('with one region, escrow is the exact bucket: same decisions, levels and retry times', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.record({ gapMs: gapMsArb, cost: fc.integer({ min: 1, max: 40 }) }), {
          minLength: 1,
          maxLength: 60,
        }),
        (policy, steps) => {
          const regions = ['only'];
          const reference = new ReferenceBucket(policy);
          const view = new Map<string, EscrowItem>();
          let nowMs = 1_000_000;
          for (const step of steps) {
            nowMs += step.gapMs;
            const cost = Math.min(step.cost, policy.capacityTokens);
            const expected = reference.decide(nowMs, cost);
            const got = escrowTake({
              policy,
              regions,
              view,
              region: 'only',
              costTokens: cost,
              nowMs,
            });
            expect(got.allowed).toBe(expected.allowed);
            expect(got.levelScaled).toBe(expected.levelScaled);
            expect(got.remainingTokens).toBe(expected.remainingTokens);
            expect(got.retryAfterMs).toBe(expected.retryAfterMs);
            if (got.write !== undefined) view.set('only', got.write);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
