/**
 * The limiter service with an in-memory store and a frozen clock: decisions,
 * caches, leases, conditional retries, failure modes and what they cost in
 * store calls.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { PolicyConfig } from '../../functions/config/schema';
import { InvalidConfigError } from '../../functions/config/schema';
import { levelTokensAt, viewOf } from '../../functions/core';
import { bucketIdOf } from '../../functions/limiter/bucket-id';
import { LimitRequestError } from '../../functions/limiter/errors';
import { Limiter, type LimiterOptions } from '../../functions/limiter/limiter';
import { configWith, ManualClock, RecordingMetrics } from './fixtures';
import { MemoryStore } from './memory-store';

const REGION = 'us-east-1';
const basic: PolicyConfig = {
  id: 'basic',
  capacityTokens: 10,
  refillTokens: 1,
  refillIntervalMs: 1000,
};

let clock: ManualClock;
let store: MemoryStore;
let metrics: RecordingMetrics;

beforeEach(() => {
  clock = new ManualClock();
  store = new MemoryStore();
  metrics = new RecordingMetrics();
});

function limiter(policies: PolicyConfig[], extra: Partial<LimiterOptions> = {}): Limiter {
  return new Limiter({
    config: configWith(policies),
    region: REGION,
    store,
    clock: clock.now,
    metrics,
    ...extra,
  });
}

async function drain(l: Limiter, policyId: string, key: string, count: number, costTokens = 1) {
  const results = [];
  for (let i = 0; i < count; i += 1) results.push(await l.limit({ policyId, key, costTokens }));
  return results;
}

describe('bad input never reaches the store', () => {
  const cases: [string, { policyId: string; key: string; costTokens: number }, string][] = [
    ['unknown policy', { policyId: 'nope', key: 'k', costTokens: 1 }, 'policy'],
    ['empty key', { policyId: 'basic', key: '   ', costTokens: 1 }, 'key'],
    ['over-long key', { policyId: 'basic', key: 'k'.repeat(257), costTokens: 1 }, 'key'],
    ['huge key', { policyId: 'basic', key: 'k'.repeat(100_000), costTokens: 1 }, 'key'],
    ['zero cost', { policyId: 'basic', key: 'k', costTokens: 0 }, 'cost'],
    ['negative cost', { policyId: 'basic', key: 'k', costTokens: -1 }, 'cost'],
    ['fractional cost', { policyId: 'basic', key: 'k', costTokens: 1.5 }, 'cost'],
    ['cost above capacity', { policyId: 'basic', key: 'k', costTokens: 11 }, 'cost'],
  ];
  for (const [label, request, field] of cases) {
    it(`refuses ${label} with LimitRequestError(${field})`, async () => {
      const l = limiter([basic]);
      for (const call of [() => l.limit(request), () => l.peek(request)]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LimitRequestError);
        expect((error as LimitRequestError).field).toBe(field);
      }
      expect(store.calls).toEqual({ readView: 0, readSlot: 0, applyWrite: 0 });
    });
  }

  it('accepts a key of exactly the configured length, after trimming', async () => {
    const l = limiter([basic]);
    const result = await l.limit({ policyId: 'basic', key: ` ${'k'.repeat(256)} `, costTokens: 1 });
    expect(result.allowed).toBe(true);
  });
});

describe('decisions', () => {
  it('admits exactly capacity, then refuses with the time until the next token', async () => {
    const l = limiter([basic]);
    const results = await drain(l, 'basic', 'alice', 11);
    expect(results.slice(0, 10).every((r) => r.allowed)).toBe(true);
    expect(results.map((r) => r.remainingTokens).slice(0, 10)).toEqual([
      9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    ]);
    const refused = results[10]!;
    expect(refused).toMatchObject({
      allowed: false,
      policy: 'basic',
      limitTokens: 10,
      remainingTokens: 0,
    });
    expect(refused.retryAfterMs).toBe(1000);
    expect(refused.resetAfterMs).toBe(10_000);
    expect(refused.windowSeconds).toBe(10);
    expect(store.slotOf('basic', REGION)?.n).toBe(10);
    clock.advance(1000);
    expect((await l.limit({ policyId: 'basic', key: 'alice', costTokens: 1 })).allowed).toBe(true);
  });

  it('keeps keys apart and treats NFC-equal keys as one bucket', async () => {
    const l = limiter([basic]);
    await drain(l, 'basic', 'caf\u00e9', 10);
    expect((await l.limit({ policyId: 'basic', key: 'cafe\u0301', costTokens: 1 })).allowed).toBe(
      false,
    );
    expect((await l.limit({ policyId: 'basic', key: 'bob', costTokens: 1 })).allowed).toBe(true);
  });

  it('starts afresh when the policy version changes', async () => {
    await drain(limiter([basic]), 'basic', 'alice', 10);
    const bumped = limiter([{ ...basic, version: 2 }]);
    expect(
      (await bumped.limit({ policyId: 'basic', key: 'alice', costTokens: 1 })).remainingTokens,
    ).toBe(9);
  });

  it('peeks without consuming', async () => {
    const l = limiter([basic]);
    await drain(l, 'basic', 'alice', 4);
    const writes = store.calls.applyWrite;
    const peek = await l.peek({ policyId: 'basic', key: 'alice', costTokens: 1 });
    expect(peek).toMatchObject({ allowed: true, remainingTokens: 6, source: 'store' });
    expect(store.calls.applyWrite).toBe(writes);
    expect(l.counters.decisions).toBe(4);
  });
});

describe('store calls and caches', () => {
  it('reads the view once per viewCacheMs and writes once per admission', async () => {
    const l = limiter([basic], { viewCacheMs: 250 });
    await drain(l, 'basic', 'alice', 5);
    expect(store.calls).toEqual({ readView: 1, readSlot: 0, applyWrite: 5 });
    clock.advance(251);
    await drain(l, 'basic', 'alice', 1);
    expect(store.calls.readView).toBe(2);
    expect(l.counters).toMatchObject({ reads: 2, writes: 6, decisions: 6, admitted: 6 });
  });

  it('answers refused callers from the blocked-until cache until they can be admitted', async () => {
    const l = limiter([basic], { viewCacheMs: 0 });
    await drain(l, 'basic', 'alice', 11);
    const before = { ...store.calls };
    const blocked = await drain(l, 'basic', 'alice', 5);
    expect(blocked.every((r) => !r.allowed && r.source === 'blocked')).toBe(true);
    expect(store.calls).toEqual(before);
    clock.advance(999);
    expect((await l.limit({ policyId: 'basic', key: 'alice', costTokens: 1 })).source).toBe(
      'blocked',
    );
    expect(store.calls).toEqual(before);
    clock.advance(1);
    const after = await l.limit({ policyId: 'basic', key: 'alice', costTokens: 1 });
    expect(after).toMatchObject({ allowed: true, source: 'store' });
  });

  it('asks the store for every refusal when the blocked-until cache is off', async () => {
    const l = limiter([basic], { viewCacheMs: 0, blockedCache: false });
    await drain(l, 'basic', 'alice', 10);
    const reads = store.calls.readView;
    const refused = await drain(l, 'basic', 'alice', 3);
    expect(refused.every((r) => !r.allowed && r.source === 'store')).toBe(true);
    expect(store.calls.readView).toBe(reads + 3);
  });

  it('lets a cheaper request through the blocked cache when the bound allows it', async () => {
    const l = limiter([basic]);
    await drain(l, 'basic', 'alice', 7);
    const big = await l.limit({ policyId: 'basic', key: 'alice', costTokens: 5 });
    expect(big.allowed).toBe(false);
    expect((await l.limit({ policyId: 'basic', key: 'alice', costTokens: 3 })).allowed).toBe(true);
  });

  it('refreshes the own slot after a rejected condition and decides once more', async () => {
    const policy = { ...basic, capacityTokens: 2 };
    const a = limiter([policy]);
    const b = limiter([policy]);
    // b reads the (empty) view first, then a drains the bucket behind its back.
    await b.peek({ policyId: 'basic', key: 'k', costTokens: 1 });
    await drain(a, 'basic', 'k', 2);
    const result = await b.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(result).toMatchObject({ allowed: false, source: 'store' });
    expect(b.counters.conditionalRetries).toBe(1);
    expect(metrics.of('conditionalRetry')).toEqual([{ type: 'conditionalRetry', policy: 'basic' }]);
    expect(store.totalN([...store.items.keys()][0]!.split('|')[0]!)).toBe(2);
  });

  it('re-reads the slot when the store returns no old item on a conflict (dynalite)', async () => {
    store.returnOldOnConflict = false;
    const policy = { ...basic, capacityTokens: 2 };
    const a = limiter([policy]);
    const b = limiter([policy]);
    await b.peek({ policyId: 'basic', key: 'k', costTokens: 1 });
    await drain(a, 'basic', 'k', 2);
    const readSlots = store.calls.readSlot;
    expect((await b.limit({ policyId: 'basic', key: 'k', costTokens: 1 })).allowed).toBe(false);
    expect(store.calls.readSlot).toBe(readSlots + 1);
  });

  it('refuses, never over-admits, when the condition fails twice in a row', async () => {
    const policy = { ...basic, capacityTokens: 3 };
    const l = limiter([policy]);
    store.returnOldOnConflict = false;
    const slotKey = `${bucketIdOf('basic', 1, 'k')}|${REGION}`;
    // Other containers of the region: n jumps to 3 before each of l's writes, and
    // drops to 1 (returned lease tokens) just before its re-read.
    const stateWith = (n: number) => ({
      slot: REGION,
      n,
      v: n + 10,
      inc: 1,
      at: clock.nowMs,
      checkpoint: { ct: clock.nowMs, cl: (3 - n) * 1000, cv: { [REGION]: { n, inc: 1 } } },
    });
    store.beforeAnswer = (op) => {
      if (op === 'applyWrite') store.items.set(slotKey, stateWith(3));
      if (op === 'readSlot') store.items.set(slotKey, stateWith(1));
    };
    const result = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(result).toMatchObject({ allowed: false, source: 'store' });
    expect(store.calls.applyWrite).toBe(2);
    expect(store.calls.readSlot).toBe(1);
    expect(l.counters.conditionalRetries).toBe(1);
    expect(store.items.get(slotKey)?.n).toBe(3);
  });
});

describe('allow list, deny list, shadow mode', () => {
  const listed: PolicyConfig = { ...basic, allowKeys: ['vip'], denyKeys: ['mallory'] };

  it('allows allow-listed keys and refuses deny-listed keys without the store', async () => {
    const l = limiter([listed]);
    const vip = await drain(l, 'basic', ' vip ', 20);
    expect(
      vip.every((r) => r.allowed && r.source === 'allowlist' && r.remainingTokens === 10),
    ).toBe(true);
    const denied = await l.limit({ policyId: 'basic', key: 'mallory', costTokens: 1 });
    expect(denied).toMatchObject({ allowed: false, source: 'denylist' });
    expect(store.calls).toEqual({ readView: 0, readSlot: 0, applyWrite: 0 });
    expect(metrics.of('decision').map((e) => e.outcome)).toEqual([
      ...Array(20).fill('allowlisted'),
      'denylisted',
    ]);
  });

  it('counts in shadow mode but never blocks, reporting what it would have done', async () => {
    const l = limiter([{ ...basic, shadow: true, denyKeys: ['mallory'] }]);
    const results = await drain(l, 'basic', 'alice', 12);
    expect(results.every((r) => r.allowed)).toBe(true);
    expect(results.map((r) => r.shadow?.wouldAllow)).toEqual([
      ...Array(10).fill(true),
      false,
      false,
    ]);
    expect(store.slotOf('basic', REGION)?.n).toBe(10);
    expect(metrics.of('decision').filter((e) => e.outcome === 'shadow-refused')).toHaveLength(2);
    expect((await l.limit({ policyId: 'basic', key: 'mallory', costTokens: 1 })).allowed).toBe(
      false,
    );
  });
});

describe('leases', () => {
  const leased: PolicyConfig = {
    id: 'leased',
    capacityTokens: 100,
    refillTokens: 1,
    refillIntervalMs: 1000,
    lease: { maxTokens: 10, ttlMs: 1000, maxShareOfLevel: 0.5 },
  };

  it('takes a batch in one write and serves the next requests from memory', async () => {
    const l = limiter([leased]);
    const results = await drain(l, 'leased', 'k', 10);
    expect(store.calls.applyWrite).toBe(1);
    expect(store.slotOf('leased', REGION)?.n).toBe(10);
    expect(results.slice(1).every((r) => r.source === 'lease' && r.allowed)).toBe(true);
    expect(results.map((r) => r.remainingTokens)).toEqual([99, 98, 97, 96, 95, 94, 93, 92, 91, 90]);
    await drain(l, 'leased', 'k', 1);
    expect(store.calls.applyWrite).toBe(2);
  });

  it('hands unused lease tokens back with the next write after expiry', async () => {
    const l = limiter([leased]);
    await drain(l, 'leased', 'k', 3);
    expect(store.slotOf('leased', REGION)?.n).toBe(10);
    clock.advance(1000);
    await drain(l, 'leased', 'k', 1);
    // 7 unused tokens returned, a new lease of 10 taken: 10 - 7 + 10.
    expect(store.slotOf('leased', REGION)?.n).toBe(13);
    const level = levelTokensAt(
      { capacityTokens: 100, refillTokens: 1, refillIntervalMs: 1000 },
      viewOf([store.slotOf('leased', REGION)!]),
      clock.nowMs,
    );
    // 100 - 10 (first lease) + 1 (refilled in 1 s) + 7 (returned) - 10 (new lease).
    expect(level).toBe(88);
  });

  it('fades to exact accounting as the bucket empties', async () => {
    const l = limiter([{ ...leased, capacityTokens: 12 }]);
    const results = await drain(l, 'leased', 'k', 13);
    expect(results.filter((r) => r.allowed)).toHaveLength(12);
    expect(store.slotOf('leased', REGION)?.n).toBe(12);
  });
});

describe('failure modes', () => {
  const mode = (onStoreError: 'open' | 'closed' | 'local'): PolicyConfig => ({
    ...basic,
    capacityTokens: 100,
    onStoreError,
    localShare: 0.1,
  });

  for (const fault of ['throttled', 'timeout', 'unavailable', 'invalid'] as const) {
    it(`open: allows when the store is ${fault}, counts a fallback and the error`, async () => {
      const l = limiter([mode('open')]);
      store.fault = fault;
      const result = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
      expect(result).toMatchObject({ allowed: true, source: 'fallback', fallback: 'open' });
      expect(l.counters).toMatchObject({ fallbacks: 1, storeErrors: 1 });
      expect(metrics.of('fallback')).toEqual([{ type: 'fallback', policy: 'basic', mode: 'open' }]);
      expect(metrics.of('storeCall')[0]).toMatchObject({ operation: 'readView', errorKind: fault });
    });
  }

  it('closed: refuses while the store fails, with a Retry-After', async () => {
    const l = limiter([mode('closed')]);
    store.fault = 'unavailable';
    const result = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(result).toMatchObject({ allowed: false, source: 'fallback', fallback: 'closed' });
    expect(result.retryAfterMs).toBeGreaterThan(0);
  });

  it('leaves the store alone for the cooldown after a failure, then probes it again', async () => {
    const l = limiter([mode('open')], { storeCooldownMs: 500 });
    store.fault = 'unavailable';
    await drain(l, 'basic', 'k', 5);
    expect(store.calls.readView).toBe(1);
    store.fault = undefined;
    clock.advance(500);
    const result = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(result.source).toBe('store');
  });

  it('gives a cold container the cold budget until the store has answered once', async () => {
    // Every call takes 60 ms: more than the warm budget, less than the cold one.
    const slow = new MemoryStore();
    slow.beforeAnswerAsync = () => new Promise((resolve) => setTimeout(resolve, 60));
    const l = limiter([mode('closed')], {
      store: slow,
      storeBudgetMs: 20,
      coldStoreBudgetMs: 2000,
    });
    const first = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(first).toMatchObject({ allowed: true, source: 'store' });
    const second = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(second).toMatchObject({ allowed: false, source: 'fallback', fallback: 'closed' });
  });

  it('answers within the budget when the store hangs, even if it ignores the abort signal', async () => {
    const l = limiter([mode('closed')], { storeBudgetMs: 20, coldStoreBudgetMs: 20 });
    store.fault = 'hang';
    store.honourAbort = false;
    const result = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(result).toMatchObject({ allowed: false, fallback: 'closed' });
    expect(metrics.of('storeCall')[0]).toMatchObject({ errorKind: 'timeout' });
  });

  it('local: admits the local share, then writes those tokens to the store once it answers', async () => {
    const l = limiter([mode('local')], { storeCooldownMs: 100 });
    store.fault = 'unavailable';
    const during = await drain(l, 'basic', 'k', 15);
    expect(during.filter((r) => r.allowed)).toHaveLength(10);
    expect(during.every((r) => r.source === 'fallback' && r.fallback === 'local')).toBe(true);
    expect(l.counters.pendingLocalTokens).toBe(10);

    store.fault = undefined;
    clock.advance(100);
    const after = await l.limit({ policyId: 'basic', key: 'k', costTokens: 1 });
    expect(after).toMatchObject({ allowed: true, source: 'store' });
    expect(store.slotOf('basic', REGION)?.n).toBe(11);
    expect(after.remainingTokens).toBe(89);
    expect(l.counters.pendingLocalTokens).toBe(0);
  });

  it('local: keeps the debt when the flush fails, and pays it exactly once', async () => {
    const l = limiter([mode('local')], { storeCooldownMs: 0 });
    store.fault = 'throttled';
    await drain(l, 'basic', 'k', 3);
    await drain(l, 'basic', 'k', 2);
    expect(l.counters.pendingLocalTokens).toBe(5);
    store.fault = undefined;
    await drain(l, 'basic', 'k', 2);
    expect(store.slotOf('basic', REGION)?.n).toBe(7);
  });
});

describe('strong policies', () => {
  const strong: PolicyConfig = { ...basic, id: 'strict', consistency: 'strong' };
  const strongConfig = () =>
    configWith(
      [strong],
      {},
      {
        strong: { tableName: 'mrsc', regions: ['us-east-1', 'us-east-2', 'us-west-2'] },
        regions: ['us-east-1', 'us-east-2', 'us-west-2'],
      },
    );

  it('needs a strong store', () => {
    expect(() => new Limiter({ config: strongConfig(), region: REGION, store })).toThrow(
      InvalidConfigError,
    );
  });

  it('writes the single global slot of the strong store with consistent reads', async () => {
    const strongStore = new MemoryStore();
    let consistent: boolean | undefined;
    const original = strongStore.readView.bind(strongStore);
    strongStore.readView = (id, options) => {
      consistent = options?.consistent;
      return original(id, options);
    };
    const l = new Limiter({
      config: strongConfig(),
      region: REGION,
      store,
      strongStore,
      clock: clock.now,
    });
    await drain(l, 'strict', 'k', 3);
    expect(strongStore.slotOf('strict', 'global')?.n).toBe(3);
    expect(store.items.size).toBe(0);
    expect(consistent).toBe(true);
  });
});
