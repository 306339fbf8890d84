/**
 * What a container owes the store, alone: bounded, never dropped until a
 * write that carried it is answered, written exactly once.
 */
import { describe, expect, it } from 'vitest';
import { BucketCache } from '../../functions/limiter/bucket-cache';
import { PendingWrites } from '../../functions/limiter/pending-writes';

describe('pending writes', () => {
  it('records debt per bucket, and refuses a new bucket once full (never an existing one)', () => {
    const pending = new PendingWrites(2);
    expect(pending.addDebt('a', 'p', 3, 0)).toBe(true);
    expect(pending.addDebt('b', 'p', 1, 0)).toBe(true);
    expect(pending.canTake('c')).toBe(false);
    expect(pending.addDebt('c', 'p', 1, 0)).toBe(false);
    expect(pending.addDebt('a', 'p', 2, 0)).toBe(true);
    expect(pending.debtTokens).toBe(6);
  });

  it('keeps an entry in flight until its write settles: written parts leave, failures stay, additions survive', () => {
    const pending = new PendingWrites(10);
    pending.addDebt('a', 'p', 5, 0);
    pending.addHandBack('a', 'p', { tokens: 2, takenUpToN: 10, inc: 1 }, 0);
    const [entry] = pending.take(5, 0, 0);
    expect(entry).toBeDefined();
    // Nothing is taken twice while in flight.
    expect(pending.take(5, 0, 0)).toEqual([]);
    expect(pending.takeHandBack('a')).toEqual([]);
    pending.addDebt('a', 'p', 1, 0);
    pending.settle(entry!, undefined);
    expect(pending.debtTokens).toBe(6);
    const [again] = pending.take(5, 0, 0);
    // What the write carries is what the entry held when the write was made.
    const written = { debtTokens: again!.debtTokens, handBack: [...again!.handBack] };
    pending.addDebt('a', 'p', 4, 0);
    pending.settle(again!, written);
    // 6 written; the 4 added while in flight stay owed.
    expect(pending.debtTokens).toBe(4);
    expect(pending.handBackTokens).toBe(0);
  });

  it('lets a young hand-back wait for a write of its own bucket, which takes it for free', () => {
    const pending = new PendingWrites(10);
    pending.addHandBack('a', 'p', { tokens: 3, takenUpToN: 5, inc: 1 }, 0);
    expect(pending.take(5, 500, 1000)).toEqual([]);
    expect(pending.takeHandBack('a')).toEqual([{ tokens: 3, takenUpToN: 5, inc: 1 }]);
    expect(pending.size).toBe(0);
    pending.addHandBack('b', 'p', { tokens: 1, takenUpToN: 1, inc: 1 }, 0);
    expect(pending.take(5, 1000, 1000)).toHaveLength(1);
  });
});

describe('bucket cache', () => {
  it('evicts the least recently used state and hands it over before dropping it', () => {
    const evicted: string[] = [];
    const cache = new BucketCache({ maxBuckets: 2, onEvict: (s) => evicted.push(s.bucketId) });
    cache.get('a', 'p');
    cache.get('b', 'p');
    cache.get('a', 'p');
    cache.get('c', 'p');
    expect(evicted).toEqual(['b']);
    expect(cache.peek('a')).toBeDefined();
    expect(cache.peek('b')).toBeUndefined();
    expect(cache.size).toBe(2);
  });
});
