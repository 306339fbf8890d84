/**
 * Table-driven cases of the core with fixed times: the edges a property test
 * reaches only by luck (exact refill boundaries, fractional refill, cost equal
 * to capacity, long idles), and the ones it cannot reach at all (clock skew
 * between regions, a slot recreated after its TTL, validation messages).
 * Expected values are worked out by hand in the comments.
 */

import { describe, expect, it } from 'vitest';
import {
  applySlotWrite,
  assertBucketPolicy,
  type BucketPolicy,
  blockedUntilMs,
  decide,
  EMPTY_VIEW,
  InvalidPolicyError,
  InvalidTimeError,
  inspect,
  levelAt,
  levelTokensAt,
  recordingWrite,
  type SlotItem,
  ttlEpochSeconds,
  type View,
  validateBucketPolicy,
  validateCost,
  viewOf,
  withItem,
} from '../../functions/core';

const perSecond: BucketPolicy = { capacityTokens: 10, refillTokens: 1, refillIntervalMs: 1000 };
const perThreeSeconds: BucketPolicy = {
  capacityTokens: 2,
  refillTokens: 1,
  refillIntervalMs: 3000,
};
const DAY_MS = 86_400_000;

interface Step {
  readonly nowMs: number;
  readonly cost: number;
  readonly slot?: string;
  readonly allowed: boolean;
  readonly remaining: number;
  readonly retryAfterMs: number;
  /** Level before the decision, in tokens. */
  readonly levelTokens?: number;
}

/** Repeats one step `count` times. */
function times(count: number, step: Step): Step[] {
  return Array.from({ length: count }, () => step);
}

const cases: { name: string; policy: BucketPolicy; steps: Step[] }[] = [
  {
    name: 'first request on a bucket nobody wrote: full, 9 left',
    policy: perSecond,
    steps: [
      { nowMs: 5000, cost: 1, allowed: true, remaining: 9, retryAfterMs: 0, levelTokens: 10 },
    ],
  },
  {
    name: 'exact refill boundary: 1 ms early is refused, on the dot is admitted',
    policy: perSecond,
    steps: [
      ...times(10, { nowMs: 0, cost: 1, allowed: true, remaining: 0, retryAfterMs: 0 }).map(
        (s, i) => ({
          ...s,
          remaining: 9 - i,
          retryAfterMs: i === 9 ? 1000 : 0,
        }),
      ),
      { nowMs: 0, cost: 1, allowed: false, remaining: 0, retryAfterMs: 1000, levelTokens: 0 },
      { nowMs: 999, cost: 1, allowed: false, remaining: 0, retryAfterMs: 1, levelTokens: 0.999 },
      { nowMs: 1000, cost: 1, allowed: true, remaining: 0, retryAfterMs: 1000, levelTokens: 1 },
    ],
  },
  {
    name: 'fractional refill, 1 token per 3000 ms',
    policy: perThreeSeconds,
    steps: [
      { nowMs: 0, cost: 1, allowed: true, remaining: 1, retryAfterMs: 0 },
      { nowMs: 0, cost: 1, allowed: true, remaining: 0, retryAfterMs: 3000 },
      { nowMs: 1500, cost: 1, allowed: false, remaining: 0, retryAfterMs: 1500, levelTokens: 0.5 },
      {
        nowMs: 2999,
        cost: 1,
        allowed: false,
        remaining: 0,
        retryAfterMs: 1,
        levelTokens: 2999 / 3000,
      },
      { nowMs: 3000, cost: 1, allowed: true, remaining: 0, retryAfterMs: 3000, levelTokens: 1 },
    ],
  },
  {
    name: 'cost equal to capacity needs a full bucket',
    policy: perSecond,
    steps: [
      { nowMs: 0, cost: 10, allowed: true, remaining: 0, retryAfterMs: 10_000, levelTokens: 10 },
      { nowMs: 9999, cost: 10, allowed: false, remaining: 9, retryAfterMs: 1, levelTokens: 9.999 },
      // 0.999 left: another 9 needs 8.001 tokens more.
      { nowMs: 9999, cost: 9, allowed: true, remaining: 0, retryAfterMs: 8001, levelTokens: 9.999 },
      {
        nowMs: 19_999,
        cost: 10,
        allowed: true,
        remaining: 0,
        retryAfterMs: 10_000,
        levelTokens: 10,
      },
    ],
  },
  {
    name: 'a month idle refills to capacity, not beyond',
    policy: perSecond,
    steps: [
      ...times(10, { nowMs: 0, cost: 1, allowed: true, remaining: 0, retryAfterMs: 0 }).map(
        (s, i) => ({
          ...s,
          remaining: 9 - i,
          retryAfterMs: i === 9 ? 1000 : 0,
        }),
      ),
      {
        nowMs: 30 * DAY_MS,
        cost: 3,
        allowed: true,
        remaining: 7,
        retryAfterMs: 0,
        levelTokens: 10,
      },
      {
        nowMs: 30 * DAY_MS,
        cost: 7,
        allowed: true,
        remaining: 0,
        retryAfterMs: 7000,
        levelTokens: 7,
      },
      {
        nowMs: 30 * DAY_MS,
        cost: 1,
        allowed: false,
        remaining: 0,
        retryAfterMs: 1000,
        levelTokens: 0,
      },
    ],
  },
  {
    name: 'three slots drawing from one bucket, instant replication',
    policy: perSecond,
    steps: [
      { slot: 'us', nowMs: 0, cost: 4, allowed: true, remaining: 6, retryAfterMs: 0 },
      { slot: 'eu', nowMs: 0, cost: 4, allowed: true, remaining: 2, retryAfterMs: 2000 },
      {
        slot: 'ap',
        nowMs: 0,
        cost: 3,
        allowed: false,
        remaining: 2,
        retryAfterMs: 1000,
        levelTokens: 2,
      },
      {
        slot: 'ap',
        nowMs: 1000,
        cost: 3,
        allowed: true,
        remaining: 0,
        retryAfterMs: 3000,
        levelTokens: 3,
      },
      {
        slot: 'us',
        nowMs: 1500,
        cost: 1,
        allowed: false,
        remaining: 0,
        retryAfterMs: 500,
        levelTokens: 0.5,
      },
    ],
  },
];

describe('bucket: fixed-time cases', () => {
  it.each(cases)('$name', ({ policy, steps }) => {
    let view: View = EMPTY_VIEW;
    for (const [i, step] of steps.entries()) {
      const at = `step ${i} (t=${step.nowMs}, cost ${step.cost})`;
      const d = decide({
        policy,
        view,
        slot: step.slot ?? 'us',
        costTokens: step.cost,
        nowMs: step.nowMs,
      });
      expect(
        { allowed: d.allowed, remaining: d.remainingTokens, retryAfterMs: d.retryAfterMs },
        at,
      ).toEqual({
        allowed: step.allowed,
        remaining: step.remaining,
        retryAfterMs: step.retryAfterMs,
      });
      if (step.levelTokens !== undefined) {
        expect(levelTokensAt(policy, view, step.nowMs), at).toBeCloseTo(step.levelTokens, 9);
      }
      if (d.allowed) view = withItem(view, d.write.expected);
      else expect(blockedUntilMs(d, step.nowMs)).toBe(step.nowMs + step.retryAfterMs);
    }
  });

  it('writes the checkpoint, version, incarnation, ttl and condition of the data model', () => {
    const d = decide({
      policy: perSecond,
      view: EMPTY_VIEW,
      slot: 'us',
      costTokens: 2,
      nowMs: 5000,
    });
    if (!d.allowed) throw new Error('expected an admission');
    expect(d.resetAfterMs).toBe(2000);
    expect(d.write).toEqual({
      slot: 'us',
      addTokens: 2,
      returnedTokens: 0,
      // n_o + ⌊L/S⌋ − k: at most 8 more tokens may already be there for 2 more to fit.
      maxCurrentN: 8,
      checkpoint: { ct: 5000, cl: 10_000, cv: { us: { n: 0, inc: 5000 } } },
      atMs: 5000,
      ttlEpochSeconds: ttlEpochSeconds(perSecond, 5000),
      expected: {
        slot: 'us',
        n: 2,
        v: 1,
        inc: 5000,
        at: 5000,
        checkpoint: { ct: 5000, cl: 10_000, cv: { us: { n: 0, inc: 5000 } } },
        ttl: ttlEpochSeconds(perSecond, 5000),
      },
    });
    // 5 s + 10 s to refill from empty, + one hour of grace.
    expect(d.write.ttlEpochSeconds).toBe(15 + 3600);
  });

  it('inspect peeks without writing', () => {
    const peek = inspect(perSecond, EMPTY_VIEW, 0, 10);
    expect(peek).toMatchObject({ allowed: true, remainingTokens: 10, levelScaled: 10_000 });
    expect('write' in peek).toBe(false);
  });
});

describe('clock skew between regions (one region clock 2 s ahead)', () => {
  // us's clock reads true time + 2000 ms; eu's is right. Refill is 1 token/s.
  const skewMs = 2000;

  it('a checkpoint from a clock behind looks 2 s older: the region ahead sees R·δ = 2 tokens more', () => {
    let view: View = EMPTY_VIEW;
    for (let i = 0; i < 10; i++) {
      const d = decide({ policy: perSecond, view, slot: 'eu', costTokens: 1, nowMs: 100_000 });
      if (d.allowed) view = withItem(view, d.write.expected);
    }
    // True time 100_500: the true level is 0.5 tokens, us computes 2.5.
    const usNowMs = 100_500 + skewMs;
    expect(levelTokensAt(perSecond, view, usNowMs)).toBe(2.5);
    const d = decide({ policy: perSecond, view, slot: 'us', costTokens: 2, nowMs: usNowMs });
    expect(d.allowed).toBe(true);
  });

  it('a checkpoint from a clock ahead lies in the future: the region behind sees 2 tokens less, never more', () => {
    let view: View = EMPTY_VIEW;
    for (let i = 0; i < 10; i++) {
      const d = decide({
        policy: perSecond,
        view,
        slot: 'us',
        costTokens: 1,
        nowMs: 100_000 + skewMs,
      });
      if (d.allowed) view = withItem(view, d.write.expected);
    }
    // True time 100_500: the true level is 0.5 tokens, eu computes −1.5 and waits 2.5 s.
    const refused = decide({ policy: perSecond, view, slot: 'eu', costTokens: 1, nowMs: 100_500 });
    expect(refused.allowed).toBe(false);
    expect(refused.levelScaled).toBe(-1500);
    expect(refused.retryAfterMs).toBe(2500);
    // Once eu's clock passes the checkpoint, the bucket is exact again (capped at capacity).
    expect(levelAt(perSecond, view, 100_000 + skewMs + 10_000)).toBe(10_000);
    expect(levelAt(perSecond, view, 100_000 + skewMs + DAY_MS)).toBe(10_000);
  });
});

describe('clock skew never compounds', () => {
  it('a region 2 s ahead and one on time, writing in turn, admit at most R·δ beyond the exact bucket', () => {
    // Each writes from the other's newest checkpoint: the ahead region credits itself 2 s of
    // refill on the other's checkpoints, the behind one takes it back from the ahead one's.
    let view: View = EMPTY_VIEW;
    let admitted = 0;
    for (let t = 0; t < 20_000; t += 100) {
      for (const [slot, skew] of [
        ['ahead', 2000],
        ['behind', 0],
      ] as const) {
        const d = decide({ policy: perSecond, view, slot, costTokens: 1, nowMs: t + skew });
        if (!d.allowed) continue;
        view = withItem(view, applySlotWrite(view.get(slot), d.write)!);
        admitted += 1;
      }
    }
    // The exact bucket admits 10 + 20 (refill over 20 s); skew adds at most R·δ = 2 (plus the
    // last checkpoint's own share of it).
    expect(admitted).toBeLessThanOrEqual(10 + 20 + 2 + 2);
    expect(admitted).toBeGreaterThanOrEqual(10 + 20 - 2);
  });
});

describe('stale items of other slots', () => {
  it('never un-count consumption that a newer checkpoint already counted', () => {
    // eu takes 5, then 2 more, all at t = 0; us sees eu at n = 7 and takes 1 (3 left before, 2 after).
    let view: View = EMPTY_VIEW;
    for (const cost of [5, 2]) {
      const d = decide({ policy: perSecond, view, slot: 'eu', costTokens: cost, nowMs: 0 });
      if (d.allowed) view = withItem(view, d.write.expected);
    }
    const euAtFive = decide({
      policy: perSecond,
      view: EMPTY_VIEW,
      slot: 'eu',
      costTokens: 5,
      nowMs: 0,
    });
    const us = decide({ policy: perSecond, view, slot: 'us', costTokens: 1, nowMs: 0 });
    if (!us.allowed || !euAtFive.allowed) throw new Error('expected admissions');
    expect(us.levelScaled).toBe(3000);
    // A replica that has us's write but still eu at n = 5: us's checkpoint saw eu at 7, and
    // eu at 5 must not count as "−2 since": the level stays exact at 2 tokens.
    const replica = viewOf([euAtFive.write.expected, us.write.expected]);
    expect(levelAt(perSecond, replica, 0)).toBe(2000);
  });
});

describe('clock going backwards within one slot (two containers, one clock 100 ms behind)', () => {
  it('the later decision at an earlier time sees less refill, never more', () => {
    let view: View = EMPTY_VIEW;
    for (let i = 0; i < 10; i++) {
      const d = decide({ policy: perSecond, view, slot: 'us', costTokens: 1, nowMs: 1000 });
      if (d.allowed) view = withItem(view, d.write.expected);
    }
    // At 1900 by a clock that is right, 0.9 tokens; the container 100 ms behind reads 1800 ms: 0.8.
    expect(levelTokensAt(perSecond, view, 1900)).toBeCloseTo(0.9, 9);
    const behind = decide({ policy: perSecond, view, slot: 'us', costTokens: 1, nowMs: 1800 });
    expect(behind.allowed).toBe(false);
    expect(behind.retryAfterMs).toBe(200);
    // A checkpoint from the future lowers the level: at 900, before the drain, it reads −0.1.
    expect(levelAt(perSecond, view, 900)).toBe(-100);
  });
});

describe('incarnations: a slot recreated after its TTL', () => {
  it('counts only the new incarnation, and the new incarnation wins every merge', () => {
    let view: View = EMPTY_VIEW;
    // us takes 3 at t = 0, eu takes 5 at t = 1000 (its checkpoint saw us at n = 3, inc 0).
    for (let i = 0; i < 3; i++) {
      const d = decide({ policy: perSecond, view, slot: 'us', costTokens: 1, nowMs: 0 });
      if (d.allowed) view = withItem(view, d.write.expected);
    }
    const eu = decide({ policy: perSecond, view, slot: 'eu', costTokens: 5, nowMs: 1000 });
    if (!eu.allowed) throw new Error('expected an admission');
    view = withItem(view, eu.write.expected);
    const oldUs = view.get('us')!;
    expect(oldUs).toMatchObject({ n: 3, v: 3, inc: 0 });

    // us expires (TTL after its last write) and is recreated a day later.
    const laterMs = DAY_MS;
    expect(laterMs / 1000).toBeGreaterThan(ttlEpochSeconds(perSecond, 0));
    const afterTtl: View = viewOf([view.get('eu')!]);
    const recreated = decide({
      policy: perSecond,
      view: afterTtl,
      slot: 'us',
      costTokens: 1,
      nowMs: laterMs,
    });
    if (!recreated.allowed) throw new Error('expected an admission');
    expect(recreated.write.expected).toMatchObject({ n: 1, v: 1, inc: laterMs });

    // A replica still holding the old incarnation merges to the new one, whatever its version.
    const replica = viewOf([...view.values(), recreated.write.expected]);
    expect(replica.get('us')).toEqual(recreated.write.expected);
    const staleFirst = viewOf([recreated.write.expected, oldUs]);
    expect(staleFirst.get('us')).toEqual(recreated.write.expected);

    // eu's old checkpoint saw us at n = 3 of incarnation 0; for incarnation laterMs it saw 0,
    // so the 1 new token counts in full: level = 10 − 1 + 0.001 (1 ms of refill).
    expect(levelAt(perSecond, replica, laterMs + 1)).toBe(9001);
  });

  it('an item from an older incarnation never hides the newer one', () => {
    const newer: SlotItem = { slot: 'us', n: 1, v: 1, inc: 2000, at: 2000 };
    const older: SlotItem = { slot: 'us', n: 50, v: 99, inc: 1000, at: 1500 };
    expect(viewOf([newer, older]).get('us')).toBe(newer);
    expect(viewOf([older, newer]).get('us')).toBe(newer);
  });
});

describe('validation lists every problem', () => {
  it('names each bad field of a policy and the cost at once', () => {
    const problems = validateBucketPolicy(
      { capacityTokens: 0, refillTokens: -1, refillIntervalMs: 1.5 },
      0,
    );
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^capacityTokens must be a positive integer \(got 0\)/);
    expect(problems[1]).toMatch(/^refillTokens must be a positive integer \(got -1\)/);
    expect(problems[2]).toMatch(/^refillIntervalMs must be a positive integer \(got 1.5\)/);
    expect(problems[3]).toMatch(/^cost must be a positive integer \(got 0\)/);
    expect(() =>
      assertBucketPolicy({ capacityTokens: 0, refillTokens: -1, refillIntervalMs: 1.5 }, 0),
    ).toThrow(expect.objectContaining({ name: 'InvalidPolicyError', problems }));
  });

  it('refuses a scaled capacity that would leave the safe-integer range', () => {
    const problems = validateBucketPolicy({
      capacityTokens: 1e10,
      refillTokens: 1,
      refillIntervalMs: 10_000,
    });
    expect(problems).toEqual([
      expect.stringMatching(/capacityTokens × refillIntervalMs must be at most/),
    ]);
    expect(validateBucketPolicy(perSecond)).toEqual([]);
  });

  it.each([
    { cost: 11, message: /cost 11 exceeds capacityTokens 10/ },
    { cost: 0, message: /cost must be a positive integer/ },
    { cost: 1.5, message: /cost must be a positive integer/ },
  ])(
    'cost $cost is a validation error, and decide/inspect refuse to run with it',
    ({ cost, message }) => {
      expect(validateCost(perSecond, cost)).toEqual([expect.stringMatching(message)]);
      expect(() =>
        decide({ policy: perSecond, view: EMPTY_VIEW, slot: 'us', costTokens: cost, nowMs: 0 }),
      ).toThrow(InvalidPolicyError);
      expect(() => inspect(perSecond, EMPTY_VIEW, 0, cost)).toThrow(message);
    },
  );

  it('cost equal to capacity is valid', () => {
    expect(validateCost(perSecond, 10)).toEqual([]);
  });
});

describe('defect 6: the core checks its own inputs', () => {
  it.each([Number.NaN, 1.5, Number.POSITIVE_INFINITY, 2 ** 60])(
    'refuses nowMs = %s: no admission, no checkpoint with a broken time',
    (nowMs) => {
      expect(() =>
        decide({ policy: perSecond, view: EMPTY_VIEW, slot: 'us', costTokens: 1, nowMs }),
      ).toThrow(InvalidTimeError);
      expect(() => levelAt(perSecond, EMPTY_VIEW, nowMs)).toThrow(InvalidTimeError);
      expect(() => inspect(perSecond, EMPTY_VIEW, nowMs, 1)).toThrow(InvalidTimeError);
      expect(() =>
        recordingWrite({ policy: perSecond, view: EMPTY_VIEW, slot: 'us', tokens: 1, nowMs }),
      ).toThrow(InvalidTimeError);
    },
  );

  it.each([
    { refillIntervalMs: 0 },
    { refillTokens: 0 },
    { capacityTokens: 0.5 },
    { refillTokens: Number.NaN },
  ])('refuses a policy with %o instead of computing a NaN level', (broken) => {
    const policy = { ...perSecond, ...broken };
    expect(() => decide({ policy, view: EMPTY_VIEW, slot: 'us', costTokens: 1, nowMs: 0 })).toThrow(
      InvalidPolicyError,
    );
    expect(() => levelAt(policy, EMPTY_VIEW, 0)).toThrow(InvalidPolicyError);
  });

  it('refuses a malformed hand-back and never hands back more than the slot took', () => {
    const first = decide({
      policy: perSecond,
      view: EMPTY_VIEW,
      slot: 'us',
      costTokens: 3,
      nowMs: 0,
    });
    if (!first.allowed) throw new Error('expected an admission');
    const view = withItem(EMPTY_VIEW, first.write.expected);
    expect(() =>
      decide({
        policy: perSecond,
        view,
        slot: 'us',
        costTokens: 1,
        nowMs: 0,
        handBack: [{ tokens: -1, takenUpToN: 3, inc: 0 }],
      }),
    ).toThrow(RangeError);
    const generous = decide({
      policy: perSecond,
      view,
      slot: 'us',
      costTokens: 1,
      nowMs: 0,
      handBack: [{ tokens: 50, takenUpToN: 3, inc: 0 }],
    });
    // At most the 3 tokens the slot holds come back: 7 + 3 = 10 before, 9 after.
    expect(generous.levelScaled).toBe(10_000);
    expect(generous.allowed && generous.write.returnedTokens).toBe(3);
    // A hand-back of another incarnation is dropped: the slot expired with those tokens.
    const stale = decide({
      policy: perSecond,
      view,
      slot: 'us',
      costTokens: 1,
      nowMs: 0,
      handBack: [{ tokens: 2, takenUpToN: 3, inc: 99 }],
    });
    expect(stale.levelScaled).toBe(7000);
  });
});

describe('defect 7: two slots, checkpoints of different ages, incarnations', () => {
  it('the merge uses every checkpoint, not only the newest: with both the level is exact', () => {
    // us takes 8 at t = 0 from a full bucket. eu, whose view does not hold us yet, takes 1
    // at t = 100 and writes the newest checkpoint (level 10 as it saw it). Only us's older
    // checkpoint knows about the 8: with both items the level is 10 − 8 − 1 (+ refill).
    const us = decide({ policy: perSecond, view: EMPTY_VIEW, slot: 'us', costTokens: 8, nowMs: 0 });
    const eu = decide({
      policy: perSecond,
      view: EMPTY_VIEW,
      slot: 'eu',
      costTokens: 1,
      nowMs: 100,
    });
    if (!us.allowed || !eu.allowed) throw new Error('expected admissions');
    const view = viewOf([us.write.expected, eu.write.expected]);
    expect(levelAt(perSecond, view, 100)).toBe(10_000 - 8000 - 1000 + 100);
  });
});
