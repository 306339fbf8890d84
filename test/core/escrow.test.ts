/**
 * Table tests of the escrow core (functions/core/escrow.ts): the initial
 * split, refill at a share of the rate with nothing lost to rounding, a
 * transfer and what it carries, quotas (no refill), bad gifts, the demand
 * estimate and the rebalancing plan.
 */

import { describe, expect, it } from 'vitest';
import {
  type BucketPolicy,
  demandAt,
  demandMilli,
  ESCROW_RATE_PARTS,
  type EscrowItem,
  escrowRightsAt,
  escrowTake,
  escrowWrite,
  InvalidEscrowGiftError,
  initialEscrowItem,
  observeDemand,
  planEscrowRebalance,
  validateEscrowRegions,
} from '../../functions/core';

const policy: BucketPolicy = { capacityTokens: 100, refillTokens: 20, refillIntervalMs: 1000 };
const regions = ['us', 'eu', 'ap'];

function viewOf(...items: EscrowItem[]): Map<string, EscrowItem> {
  return new Map(items.map((i) => [i.region, i]));
}

describe('escrow: initial split', () => {
  it('splits C and R exactly, remainders to the first regions, every region full', () => {
    const items = regions.map((r) => initialEscrowItem(policy, regions, r));
    expect(items.map((i) => i.cap)).toEqual([33_334, 33_333, 33_333]);
    expect(items.map((i) => i.rate)).toEqual([333_334, 333_333, 333_333]);
    expect(items.map((i) => i.level)).toEqual(items.map((i) => i.cap));
    expect(items.reduce((s, i) => s + i.rate, 0)).toBe(ESCROW_RATE_PARTS);
  });

  it('rejects an empty or repeated region list and an unknown region', () => {
    expect(validateEscrowRegions([])).toEqual(['escrow needs at least one region']);
    expect(validateEscrowRegions(['us', 'us'])).toEqual(['region us is listed twice']);
    expect(() => initialEscrowItem(policy, regions, 'sa')).toThrow(/not one of us, eu, ap/);
  });
});

describe('escrow: admitting from own rights', () => {
  it('a region admits its share of C, then only its share of R', () => {
    const view = new Map<string, EscrowItem>();
    let admitted = 0;
    for (let i = 0; i < 40; i++) {
      const d = escrowTake({ policy, regions, view, region: 'eu', costTokens: 1, nowMs: 0 });
      if (d.allowed) {
        admitted++;
        view.set('eu', d.write!);
      }
    }
    // 33.333 tokens of capacity: 33 whole tokens, whatever the other regions hold.
    expect(admitted).toBe(33);
    const refused = escrowTake({ policy, regions, view, region: 'eu', costTokens: 1, nowMs: 0 });
    expect(refused.allowed).toBe(false);
    // 333 units left; 667 more at 333 333 parts of 20 units/ms (6.66666/ms) take 101 ms.
    expect(refused.retryAfterMs).toBe(101);
    expect(
      escrowTake({ policy, regions, view, region: 'eu', costTokens: 1, nowMs: 100 }).allowed,
    ).toBe(false);
    expect(
      escrowTake({ policy, regions, view, region: 'eu', costTokens: 1, nowMs: 101 }).allowed,
    ).toBe(true);
  });

  it('refill at a third of 1 unit/ms, written every ms, loses nothing to rounding', () => {
    const tiny: BucketPolicy = { capacityTokens: 1000, refillTokens: 1, refillIntervalMs: 1 };
    const view = new Map<string, EscrowItem>();
    let admitted = 0;
    for (let t = 0; t < 3000; t++) {
      const d = escrowTake({ policy: tiny, regions, view, region: 'us', costTokens: 1, nowMs: t });
      if (d.allowed) {
        admitted++;
        view.set('us', d.write!);
      }
    }
    // 334 of capacity, then 0.333334 token per ms over 2 999 ms (999.67): flooring each
    // write's accrual instead of carrying the remainder would admit 334 and nothing more.
    expect(admitted).toBe(334 + 999);
  });

  it('a clock that goes back credits nothing', () => {
    const view = new Map<string, EscrowItem>();
    const first = escrowTake({
      policy,
      regions,
      view,
      region: 'us',
      costTokens: 30,
      nowMs: 10_000,
    });
    view.set('us', first.write!);
    const back = escrowRightsAt(policy, regions, view, 'us', 5_000);
    expect(back.levelScaled).toBe(first.write!.level);
    expect(back.base.at).toBe(10_000);
  });

  it('a quota (no refill) splits only its capacity and never refills', () => {
    const quota: BucketPolicy = {
      capacityTokens: 10,
      refillTokens: 0,
      refillIntervalMs: 1000,
      endsAtMs: 86_400_000,
    };
    const view = new Map<string, EscrowItem>();
    expect(initialEscrowItem(quota, regions, 'us').rate).toBe(0);
    let admitted = 0;
    for (let i = 0; i < 10; i++) {
      const d = escrowTake({ policy: quota, regions, view, region: 'us', costTokens: 1, nowMs: i });
      if (d.allowed) {
        admitted++;
        view.set('us', d.write!);
      }
    }
    expect(admitted).toBe(3);
    const later = escrowTake({
      policy: quota,
      regions,
      view,
      region: 'us',
      costTokens: 1,
      nowMs: 1e7,
    });
    expect(later.allowed).toBe(false);
    expect(later.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('escrow: transfers', () => {
  it('a gift moves cap, rate and proportional tokens; the receiver counts it once', () => {
    // us spent half its capacity, then gives half its capacity and a quarter of its rate to eu.
    const spent = escrowTake({
      policy,
      regions,
      view: new Map(),
      region: 'us',
      costTokens: 16,
      nowMs: 0,
    }).write!;
    const us = escrowWrite({
      policy,
      regions,
      view: viewOf(spent),
      region: 'us',
      nowMs: 0,
      gifts: [{ to: 'eu', cap: 16_000, rate: 83_333 }],
    });
    expect(us.cap).toBe(33_334 - 16_000);
    expect(us.rate).toBe(333_334 - 83_333);
    // Level 17 334 of 33 334: 16 000 × 17 334 / 33 334 = 8 320.0… tokens go with the capacity.
    expect(us.given.eu).toEqual({ tokens: 8320, cap: 16_000, rate: 83_333 });
    expect(us.level).toBe(17_334 - 8320);
    const eu0 = initialEscrowItem(policy, regions, 'eu');
    const seen = escrowRightsAt(policy, regions, viewOf(us, eu0), 'eu', 0);
    expect(seen.capScaled).toBe(33_333 + 16_000);
    expect(seen.levelScaled).toBe(33_333 + 8320);
    expect(seen.pending).toEqual({ tokens: 8320, cap: 16_000, rate: 83_333 });
    const eu1 = escrowWrite({ policy, regions, view: viewOf(us, eu0), region: 'eu', nowMs: 0 });
    // Seen again (redelivered), or an older item of us seen afterwards: nothing more.
    for (const giver of [us, spent]) {
      const again = escrowRightsAt(policy, regions, viewOf(giver, eu1), 'eu', 0);
      expect(again.capScaled).toBe(33_333 + 16_000);
      expect(again.pending).toEqual({ tokens: 0, cap: 0, rate: 0 });
    }
  });

  it('refuses a gift of more than is held, to itself, to an unknown region or fractional', () => {
    const base = { policy, regions, view: new Map(), region: 'us', nowMs: 0 } as const;
    for (const gift of [
      { to: 'eu', cap: 33_335, rate: 0 },
      { to: 'eu', cap: 0, rate: 333_335 },
      { to: 'us', cap: 1, rate: 0 },
      { to: 'sa', cap: 1, rate: 0 },
      { to: 'eu', cap: 1.5, rate: 0 },
      { to: 'eu', cap: -1, rate: 0 },
    ]) {
      expect(() => escrowWrite({ ...base, gifts: [gift] })).toThrow(InvalidEscrowGiftError);
    }
  });
});

describe('escrow: demand and rebalancing', () => {
  it('the demand estimate converges to a steady rate and decays by half each half-life', () => {
    let e = { perSecond: 0, atMs: 0 };
    for (let t = 0; t < 60_000; t += 100) e = observeDemand(e, t, 2);
    expect(e.perSecond).toBeGreaterThan(19);
    expect(e.perSecond).toBeLessThan(21);
    expect(demandAt(e, e.atMs + 2000).perSecond).toBeCloseTo(e.perSecond / 2, 9);
    expect(demandAt(e, e.atMs - 5000)).toEqual(e);
    expect(demandMilli({ perSecond: 1.2345, atMs: 0 })).toBe(1235);
  });

  it('an idle region gives its surplus towards demand, in proportion to the deficits', () => {
    const withDemand = (region: string, dm: number) => ({
      ...initialEscrowItem(policy, regions, region),
      v: 1,
      dm,
    });
    const view = viewOf(withDemand('us', 30_000), withDemand('eu', 0), withDemand('ap', 10_000));
    const gifts = planEscrowRebalance({
      policy,
      regions,
      view,
      region: 'eu',
      nowMs: 0,
      ownDemandMilli: 0,
    });
    // Targets (10 % spread evenly): us 0.7083, eu 0.0333, ap 0.2583 of the bucket.
    // eu's surplus (30 000 of cap, 300 000 of rate) all goes to us: ap is above its target.
    expect(gifts).toEqual([{ to: 'us', cap: 30_000, rate: 300_000 }]);
    // us, the busiest, gives nothing.
    expect(
      planEscrowRebalance({
        policy,
        regions,
        view,
        region: 'us',
        nowMs: 0,
        ownDemandMilli: 30_000,
      }),
    ).toEqual([]);
  });

  it('gives nothing below the smallest gift, and drifts back to even when nobody demands', () => {
    const even = regions.map((r) => ({ ...initialEscrowItem(policy, regions, r), v: 1, dm: 1000 }));
    expect(
      planEscrowRebalance({
        policy,
        regions,
        view: viewOf(...even),
        region: 'us',
        nowMs: 0,
        ownDemandMilli: 1100,
      }),
    ).toEqual([]);
    // us holds everything eu gave it; with no demand anywhere it gives back towards an even split.
    const eu = escrowWrite({
      policy,
      regions,
      view: new Map(),
      region: 'eu',
      nowMs: 0,
      gifts: [{ to: 'us', cap: 33_333, rate: 333_333 }],
    });
    const view = viewOf(eu);
    const gifts = planEscrowRebalance({
      policy,
      regions,
      view,
      region: 'us',
      nowMs: 0,
      ownDemandMilli: 0,
    });
    expect(gifts).toEqual([{ to: 'eu', cap: 33_333, rate: 333_333 }]);
  });
});

describe('escrow: giving tokens back', () => {
  const bucket: BucketPolicy = { capacityTokens: 30, refillTokens: 3, refillIntervalMs: 1000 };
  const regions = ['r0', 'r1', 'r2'];
  const t0 = 1_700_000_000_000;
  const s = bucket.refillIntervalMs;

  /**
   * r1, having spent 8 of its 10 tokens, gives r0 half its capacity at
   * `atMs` (with 1 token: a gift carries tokens in proportion to how full the
   * giver is); the view r0 sees then.
   */
  function withGift(own: EscrowItem | undefined, atMs: number): Map<string, EscrowItem> {
    const view = new Map<string, EscrowItem>(own === undefined ? [] : [['r0', own]]);
    const spent = escrowTake({
      policy: bucket,
      regions,
      view: new Map(),
      region: 'r1',
      costTokens: 8,
      nowMs: atMs,
    });
    const gift = escrowWrite({
      policy: bucket,
      regions,
      view: new Map([['r1', spent.write as EscrowItem]]),
      region: 'r1',
      nowMs: atMs,
      gifts: [{ to: 'r0', cap: 5 * s, rate: 100_000 }],
    });
    expect(gift.given.r0?.tokens).toBe(1 * s);
    view.set('r1', gift);
    return view;
  }

  it('lands where the level would be had the tokens never been taken, transfers counted in the same write', () => {
    const take = escrowTake({
      policy: bucket,
      regions,
      view: new Map(),
      region: 'r0',
      costTokens: 1,
      nowMs: t0,
    });
    // Two seconds later its own refill has filled it again; a gift arrives; then the credit.
    const later = t0 + 2000;
    const credited = escrowWrite({
      policy: bucket,
      regions,
      view: withGift(take.write, later),
      region: 'r0',
      nowMs: later,
      creditTokens: 1,
    });
    const neverTaken = escrowRightsAt(bucket, regions, withGift(undefined, later), 'r0', later);
    expect(credited.level).toBe(neverTaken.levelScaled);
    expect(credited.level).toBe(11 * s);
    expect(credited.cap).toBe(15 * s);
  });

  it('gives back the whole cost when the level had not refilled it', () => {
    const take = escrowTake({
      policy: bucket,
      regions,
      view: new Map(),
      region: 'r0',
      costTokens: 4,
      nowMs: t0,
    });
    const credited = escrowWrite({
      policy: bucket,
      regions,
      view: new Map([['r0', take.write as EscrowItem]]),
      region: 'r0',
      nowMs: t0 + 1,
      creditTokens: 4,
    });
    const neverTaken = escrowRightsAt(bucket, regions, new Map(), 'r0', t0 + 1);
    expect(credited.level).toBe(neverTaken.levelScaled);
    expect(() =>
      escrowWrite({
        policy: bucket,
        regions,
        view: new Map(),
        region: 'r0',
        nowMs: t0,
        creditTokens: -1,
      }),
    ).toThrow(RangeError);
  });
});
