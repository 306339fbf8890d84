import { describe, expect, it } from 'vitest';
import { bucketPolicyOf, type PolicyConfig } from '../../functions/config/schema';
import { decide, EMPTY_VIEW, type SlotItem } from '../../functions/core';
import { bucketIdOf } from '../../functions/limiter/bucket-id';
import { watchedBucketsOf, watchedLevels } from '../../functions/reconciler/watched';

const CAP: PolicyConfig = {
  id: 'cap',
  capacityTokens: 100,
  refillTokens: 1,
  refillIntervalMs: 1000,
  watchKeys: ['all', 'eu'],
};
const T0 = 1_700_000_000_000;

/** The slot item `slot` holds after admitting `costTokens` from a full bucket it saw alone. */
function admittedAlone(slot: string, costTokens: number): SlotItem {
  const d = decide({ policy: bucketPolicyOf(CAP), view: EMPTY_VIEW, slot, costTokens, nowMs: T0 });
  if (!d.allowed) throw new Error('setup: admission must pass');
  return d.write.expected;
}

describe('watchedBucketsOf', () => {
  it('lists watches in config order with their bucket ids, up to the cap', () => {
    const other: PolicyConfig = { ...CAP, id: 'other', version: 3, watchKeys: ['x'] };
    const { buckets, skipped } = watchedBucketsOf([CAP, other], 2);
    expect(buckets.map((b) => [b.policy.id, b.key, b.bucketId])).toEqual([
      ['cap', 'all', bucketIdOf('cap', undefined, 'all')],
      ['cap', 'eu', bucketIdOf('cap', undefined, 'eu')],
    ]);
    expect(skipped).toEqual([{ policy: 'other', key: 'x', reason: 'more than 2 watched buckets' }]);
  });

  it('skips strong policies and invalid keys, saying why', () => {
    const strong: PolicyConfig = { ...CAP, id: 'strong', consistency: 'strong', watchKeys: ['a'] };
    const bad: PolicyConfig = { ...CAP, id: 'bad', watchKeys: ['  ', 'x'.repeat(300), 'ok'] };
    const { buckets, skipped } = watchedBucketsOf([strong, bad], 10);
    expect(buckets.map((b) => `${b.policy.id}/${b.key}`)).toEqual(['bad/ok']);
    expect(skipped.map((s) => s.policy)).toEqual(['strong', 'bad', 'bad']);
    expect(skipped[1]?.reason).toMatch(/invalid key.*empty/);
    expect(skipped[2]?.reason).toMatch(/invalid key.*longer than/);
  });
});

describe('watchedLevels', () => {
  it('reports the local ratio and the spread across replicas at one instant', () => {
    const us = admittedAlone('us', 30);
    const eu = admittedAlone('eu', 50);
    const levels = watchedLevels(
      CAP,
      new Map([
        ['us', [us]],
        ['eu', [eu]],
        ['ap', [us, eu]],
      ]),
      'us',
      T0,
    );
    expect(levels.levelTokensByRegion).toEqual(
      new Map([
        ['us', 70],
        ['eu', 50],
        ['ap', 20],
      ]),
    );
    expect(levels.levelRatio).toBe(0.7);
    expect(levels.divergenceTokens).toBe(50);
  });

  it('goes negative after over-admission instead of hiding it', () => {
    const a = admittedAlone('us', 80);
    const b = admittedAlone('eu', 80);
    const levels = watchedLevels(CAP, new Map([['us', [a, b]]]), 'us', T0);
    expect(levels.levelRatio).toBe(-0.6);
  });

  it('has no ratio without the local replica and no spread with fewer than two replicas', () => {
    const one = watchedLevels(CAP, new Map([['eu', []]]), 'us', T0);
    expect(one.levelRatio).toBeNull();
    expect(one.divergenceTokens).toBeNull();
    expect(one.levelTokensByRegion.get('eu')).toBe(100);
    const same = watchedLevels(
      CAP,
      new Map([
        ['us', [admittedAlone('us', 10)]],
        ['eu', [admittedAlone('us', 10)]],
      ]),
      'us',
      T0 + 5000,
    );
    expect(same.divergenceTokens).toBe(0);
    expect(same.levelRatio).toBe(0.95);
  });
});
