/**
 * The limiter service with an in-memory store on virtual time: decisions,
 * caches, leases, conditional retries, failure modes, what a container owes
 * the store, and what all of it costs in store calls. The store here offers
 * no takes, so every bucket is decided the two-round-trip way (read, then
 * conditional write: what strong mode and slots carrying a long debt do);
 * the one-round-trip path and demand-sized leases are hot-path.test.ts's. Each defect an audit
 * found in the limiter has a test here that failed before its fix (named
 * "defect N").
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { PolicyConfig } from '../../functions/config/schema';
import { InvalidConfigError } from '../../functions/config/schema';
import { levelAt, levelTokensAt, viewOf } from '../../functions/core';
import { bucketGeneration, bucketIdOf } from '../../functions/limiter/bucket-id';
import { LimitRequestError } from '../../functions/limiter/errors';
import { Limiter, type LimiterOptions } from '../../functions/limiter/limiter';
import { VirtualTime } from '../../sim/virtual-time';
import { configWith, RecordingMetrics } from './fixtures';
import { MemoryStore } from './memory-store';

const REGION = 'us-east-1';
const basic: PolicyConfig = {
  id: 'basic',
  capacityTokens: 10,
  refillTokens: 1,
  refillIntervalMs: 1000,
};

let time: VirtualTime;
let store: MemoryStore;
let metrics: RecordingMetrics;
let logged: Record<string, unknown>[];

beforeEach(() => {
  time = new VirtualTime();
  store = new MemoryStore({ takes: false });
  metrics = new RecordingMetrics();
  logged = [];
});

function limiter(policies: PolicyConfig[], extra: Partial<LimiterOptions> = {}): Limiter {
  return new Limiter({
    config: configWith(policies),
    region: REGION,
    store,
    time,
    metrics,
    log: (entry) => logged.push({ ...entry }),
    ...extra,
  });
}

async function drain(l: Limiter, policyId: string, key: string, count: number, costTokens = 1) {
  const results = [];
  for (let i = 0; i < count; i += 1) {
    results.push(await time.run(l.limit({ policyId, key, costTokens })));
  }
  return results;
}

const ask = (l: Limiter, policyId: string, key: string, costTokens = 1) =>
  time.run(l.limit({ policyId, key, costTokens }));

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
      expect(store.calls).toEqual({ readView: 0, readSlot: 0, applyWrite: 0, applyTake: 0 });
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
    await time.advance(1000);
    expect((await ask(l, 'basic', 'alice')).allowed).toBe(true);
  });

  it('keeps keys apart and treats NFC-equal keys as one bucket', async () => {
    const l = limiter([basic]);
    await drain(l, 'basic', 'caf\u00e9', 10);
    expect((await ask(l, 'basic', 'cafe\u0301')).allowed).toBe(false);
    expect((await ask(l, 'basic', 'bob')).allowed).toBe(true);
  });

  it('starts afresh when the policy version changes', async () => {
    await drain(limiter([basic]), 'basic', 'alice', 10);
    const bumped = limiter([{ ...basic, version: 2 }]);
    expect((await ask(bumped, 'basic', 'alice')).remainingTokens).toBe(9);
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
    expect(store.calls).toEqual({ readView: 1, readSlot: 0, applyWrite: 5, applyTake: 0 });
    await time.advance(251);
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
    await time.advance(999);
    expect((await ask(l, 'basic', 'alice')).source).toBe('blocked');
    expect(store.calls).toEqual(before);
    await time.advance(1);
    expect(await ask(l, 'basic', 'alice')).toMatchObject({ allowed: true, source: 'store' });
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
    expect((await ask(l, 'basic', 'alice', 5)).allowed).toBe(false);
    expect((await ask(l, 'basic', 'alice', 3)).allowed).toBe(true);
  });
});

describe('conditional writes', () => {
  it('refreshes the own slot after a rejected condition and decides once more', async () => {
    const policy = { ...basic, capacityTokens: 2 };
    const a = limiter([policy]);
    const b = limiter([policy]);
    // b reads the (empty) view first, then a drains the bucket behind its back.
    await b.peek({ policyId: 'basic', key: 'k', costTokens: 1 });
    await drain(a, 'basic', 'k', 2);
    expect(await ask(b, 'basic', 'k')).toMatchObject({ allowed: false, source: 'store' });
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
    expect((await ask(b, 'basic', 'k')).allowed).toBe(false);
    expect(store.calls.readSlot).toBe(readSlots + 1);
  });

  it('defect 5: after two rejected conditions the refusal is shaped from the newest level, not the attempted one', async () => {
    const l = limiter([basic], { viewCacheMs: 60_000 });
    const bucketId = bucketIdOf('basic', 1, 'k');
    const slotKey = `${bucketId}|${REGION}`;
    // l caches a full bucket. Other containers of the region write just before each of its
    // two writes, so both conditions fail: first n = 9 with a checkpoint that puts the level
    // at 5 (a hand-back credited), then 4 more tokens (level 1).
    await l.peek({ policyId: 'basic', key: 'k', costTokens: 2 });
    const writes = [
      { n: 9, cl: 10_000, seen: 4 },
      { n: 13, cl: 5000, seen: 9 },
    ];
    store.beforeAnswer = (op) => {
      const next = op === 'applyWrite' ? writes.shift() : undefined;
      if (next === undefined) return;
      const current = store.items.get(slotKey);
      const inc = current?.inc ?? time.now();
      store.items.set(slotKey, {
        slot: REGION,
        n: next.n,
        v: (current?.v ?? 0) + 1,
        inc,
        at: time.now(),
        checkpoint: { ct: time.now(), cl: next.cl, cv: { [REGION]: { n: next.seen, inc } } },
      });
    };
    const result = await ask(l, 'basic', 'k', 2);
    // The old limiter answered from the level it had tried with: "remaining 5, retry now".
    // The newest level known is 1 token: one more after 1 s.
    expect(store.calls.applyWrite).toBe(2);
    expect(result).toMatchObject({ allowed: false, source: 'store', remainingTokens: 1 });
    expect(result.retryAfterMs).toBe(1000);
    expect(store.items.get(slotKey)?.n).toBe(13);
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
    const denied = await ask(l, 'basic', 'mallory');
    expect(denied).toMatchObject({ allowed: false, source: 'denylist' });
    expect(store.calls).toEqual({ readView: 0, readSlot: 0, applyWrite: 0, applyTake: 0 });
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
    expect((await ask(l, 'basic', 'mallory')).allowed).toBe(false);
  });
});

describe('leases', () => {
  // No refill within the tests: every level is capacity minus what was taken and kept.
  const leased: PolicyConfig = {
    id: 'leased',
    capacityTokens: 100,
    refillTokens: 1,
    refillIntervalMs: 1_000_000_000,
    lease: { maxTokens: 10, ttlMs: 1000, maxShareOfLevel: 0.5 },
  };
  const shape = { capacityTokens: 100, refillTokens: 1, refillIntervalMs: 1_000_000_000 };
  const S = shape.refillIntervalMs;

  /** `count` requests `gapMs` apart on a store answering after `latencyMs`. */
  async function steady(l: Limiter, key: string, count: number, gapMs: number) {
    const results = [];
    for (let i = 0; i < count; i += 1) {
      results.push(await ask(l, 'leased', key));
      await time.advance(gapMs);
    }
    return results;
  }

  it('a busy key takes leases sized to its demand, at most maxTokens, and waits for the store only at the start', async () => {
    store.beforeAnswerAsync = () => time.sleep(30);
    // Large enough to stay above half full (below it, batching stops).
    const l = limiter([{ ...leased, capacityTokens: 1000 }]);
    const results = await steady(l, 'k', 80, 50);
    expect(results.every((r) => r.allowed)).toBe(true);
    // Until the demand estimate has seen about a second of requests, the store decides; from
    // then on every lease is taken ahead, in the background.
    expect(results.slice(0, 20).filter((r) => r.source === 'store').length).toBeLessThanOrEqual(10);
    expect(results.slice(20).filter((r) => r.source !== 'lease')).toHaveLength(0);
    expect(Math.max(...store.taken)).toBeLessThanOrEqual(10);
    expect(store.taken.length).toBeLessThan(80 / 3);
    expect(l.counters.droppedHandBackTokens).toBe(0);
  });

  it('a key asked for rarely takes one request at a time: the lease follows the demand', async () => {
    const l = limiter([leased]);
    await steady(l, 'k', 3, 5000);
    expect(store.taken).toEqual([1, 1, 1]);
  });

  it('unused lease tokens are handed back and credited: the level ends at most one lease below exact, never above', async () => {
    store.beforeAnswerAsync = () => time.sleep(30);
    const l = limiter([leased], { maxBuckets: 1 });
    const startMs = time.now();
    const results = await steady(l, 'k', 30, 50);
    expect(results.every((r) => r.allowed)).toBe(true);
    const bucketId = bucketIdOf('leased', bucketGeneration(1, 1_000_000_000), 'k');
    // The leases expire; another key evicts the bucket's state, whose hand-backs go to the
    // pending writes and are written in the background of later decisions.
    await time.advance(3000);
    await ask(l, 'leased', 'other');
    await time.advance(2000);
    await ask(l, 'leased', 'other');
    await time.run(l.settled());
    const item = store.items.get(`${bucketId}|${REGION}`)!;
    const level = levelAt(shape, viewOf([item]), time.now());
    // Taken beyond what was admitted, and handed back: the level is credited with them, all but
    // what an older lease still held when a newer one was written (its checkpoint counted them
    // as taken; docs/design.md, "Leases"), which the bucket refills.
    expect(item.n).toBeGreaterThan(30);
    // The exact level: 30 taken, refilled at 1 scaled unit per ms since.
    expect(level).toBeLessThanOrEqual((100 - 30) * S + (time.now() - startMs));
    expect(level).toBeGreaterThanOrEqual((100 - 30 - 10) * S);
    expect(level).toBeGreaterThan((100 - item.n) * S);
  });

  it('fades to exact accounting as the bucket empties, and serves every token it took', async () => {
    const l = limiter([{ ...leased, capacityTokens: 12 }]);
    const results = await steady(l, 'k', 13, 10);
    expect(results.filter((r) => r.allowed)).toHaveLength(12);
    expect(store.slotOf('leased', REGION)?.n).toBe(12);
  });

  it('a write whose answer is lost after it landed never credits its hand-backs twice', async () => {
    const l = limiter([leased], { maxBuckets: 1 });
    await steady(l, 'k', 20, 20);
    await time.advance(3000);
    // The next write of the bucket carries the expired leases' tokens; the store applies it
    // and the answer is lost (a timeout): the limiter cannot know it landed.
    store.failAfterApplying = 'timeout';
    await ask(l, 'leased', 'k');
    store.failAfterApplying = undefined;
    expect(l.counters.droppedHandBackTokens).toBeGreaterThan(0);
    // Whatever follows, nothing is credited again: the level never exceeds the exact one.
    await steady(l, 'k', 5, 20);
    await time.advance(3000);
    await ask(l, 'leased', 'other');
    await time.advance(2000);
    await ask(l, 'leased', 'other');
    await time.run(l.settled());
    const item = store.items.get(
      `${bucketIdOf('leased', bucketGeneration(1, 1_000_000_000), 'k')}|${REGION}`,
    )!;
    const admitted = 20 + 5 + 1;
    expect(levelAt(shape, viewOf([item]), time.now())).toBeLessThanOrEqual((100 - admitted) * S);
  });
});

describe('failure modes', () => {
  const mode = (onStoreError: 'open' | 'closed' | 'local'): PolicyConfig => ({
    ...basic,
    capacityTokens: 100,
    onStoreError,
    localShare: 0.1,
    lease: false,
  });

  for (const fault of ['throttled', 'timeout', 'unavailable', 'invalid'] as const) {
    it(`open: allows when the store is ${fault}, counts a fallback and the error`, async () => {
      const l = limiter([mode('open')]);
      store.fault = fault;
      const result = await ask(l, 'basic', 'k');
      expect(result).toMatchObject({ allowed: true, source: 'fallback', fallback: 'open' });
      expect(l.counters).toMatchObject({ fallbacks: 1, storeErrors: 1 });
      expect(metrics.of('fallback')).toEqual([{ type: 'fallback', policy: 'basic', mode: 'open' }]);
      expect(metrics.of('storeCall')[0]).toMatchObject({ operation: 'readView', errorKind: fault });
    });
  }

  it('closed: refuses while the store fails, with a Retry-After', async () => {
    const l = limiter([mode('closed')]);
    store.fault = 'unavailable';
    const result = await ask(l, 'basic', 'k');
    expect(result).toMatchObject({
      allowed: false,
      source: 'fallback',
      fallback: 'closed',
      fallbackCause: 'store-error',
    });
    expect(result.retryAfterMs).toBeGreaterThan(0);
  });

  it('answers a failure of the limiter itself by the failure mode, and logs it', async () => {
    const broken = new MemoryStore({ takes: false });
    broken.readView = () => {
      throw new TypeError('a bug');
    };
    for (const [m, allowed] of [
      ['open', true],
      ['closed', false],
      ['local', true],
    ] as const) {
      const l = limiter([mode(m)], { store: broken });
      const result = await ask(l, 'basic', 'k');
      expect(result).toMatchObject({ allowed, source: 'fallback', fallback: m });
    }
    // A bug inside the store adapter surfaces as a store error (the guard wraps it).
    expect(metrics.of('storeCall').every((e) => e.errorKind === 'unavailable')).toBe(true);
  });

  it('defect 4: opens only after failures in a row, leaves the store alone while open, then probes', async () => {
    const l = limiter([mode('open')], { guard: { errorsToOpen: 3, openMs: 500 } });
    store.fault = 'unavailable';
    await drain(l, 'basic', 'k', 3);
    expect(store.calls.readView).toBe(3);
    // Open: further decisions are fallbacks without a store call.
    const down = await drain(l, 'basic', 'k', 5);
    expect(down.every((r) => r.fallbackCause === 'store-down')).toBe(true);
    expect(store.calls.readView).toBe(3);
    expect(l.counters.storeDownEvents).toBe(1);
    store.fault = undefined;
    await time.advance(500);
    expect((await ask(l, 'basic', 'k')).source).toBe('store');
  });

  it('defect 4: one failed call costs only its own decision, not the container', async () => {
    const l = limiter([mode('open')]);
    store.fault = 'unavailable';
    expect((await ask(l, 'basic', 'a')).source).toBe('fallback');
    store.fault = undefined;
    // Another key right after is decided by the store: no cooldown for everybody.
    expect((await ask(l, 'basic', 'b')).source).toBe('store');
    expect((await ask(l, 'basic', 'a')).source).toBe('store');
  });

  it('defect 4: a throttled bucket backs off alone; other buckets still reach the store', async () => {
    const l = limiter([mode('closed')]);
    store.fault = 'throttled';
    expect(await ask(l, 'basic', 'hot')).toMatchObject({ fallbackCause: 'throttled' });
    store.fault = undefined;
    expect((await ask(l, 'basic', 'hot')).fallbackCause).toBe('throttled');
    expect((await ask(l, 'basic', 'cold')).source).toBe('store');
    await time.advance(50);
    expect((await ask(l, 'basic', 'hot')).source).toBe('store');
  });

  it('defect 4: a healthy but slow store never causes a fallback: the wait follows its latency', async () => {
    // Every call takes 400 ms: far over the 150 ms budget, but the store answers.
    store.beforeAnswerAsync = () => time.sleep(400);
    const l = limiter([mode('open')]);
    const results = await drain(l, 'basic', 'k', 20);
    expect(results.every((r) => r.source === 'store')).toBe(true);
    expect(l.counters.fallbacks).toBe(0);
  });

  it('defect 4: a burst on a busy store at cold start admits what the exact bucket admits, with no open fallback', async () => {
    // A capacity-10 bucket, 200 concurrent requests from one container, each store call
    // 300 ms (a busy store). The old limiter admitted 553 here (exact: 10 + refill).
    const policy: PolicyConfig = { ...basic, capacityTokens: 10, onStoreError: 'open' };
    store.beforeAnswerAsync = () => time.sleep(300);
    const l = limiter([policy]);
    const startMs = time.now();
    const burst = Array.from({ length: 200 }, () =>
      l.limit({ policyId: 'basic', key: 'k', costTokens: 1 }),
    );
    const results = await time.run(Promise.all(burst));
    const elapsedS = (time.now() - startMs) / 1000;
    const admitted = results.filter((r) => r.allowed).length;
    expect(results.filter((r) => r.source === 'fallback')).toHaveLength(0);
    expect(admitted).toBeLessThanOrEqual(10 + Math.ceil(elapsedS));
    expect(store.slotOf('basic', REGION)?.n).toBe(admitted);
  });

  it('a store that has stopped answering is detected by time, and later decisions do not wait', async () => {
    const l = limiter([mode('closed')]);
    await drain(l, 'basic', 'k', 1);
    store.fault = 'hang';
    store.honourAbort = false;
    const first = await ask(l, 'basic', 'other');
    expect(first).toMatchObject({
      allowed: false,
      fallback: 'closed',
      fallbackCause: 'store-slow',
    });
    // The call is still outstanding; with nothing answering for twice the wait the guard opens.
    await time.advance(400);
    const startMs = time.now();
    const next = await ask(l, 'basic', 'third');
    expect(next).toMatchObject({ fallbackCause: 'store-down' });
    expect(time.now()).toBe(startMs);
    // The hung call ends at the hard ceiling as a timeout.
    await time.advance(3000);
    expect(metrics.of('storeCall').some((e) => e.errorKind === 'timeout')).toBe(true);
  });

  it('gives a cold container the cold wait until the store has answered once', async () => {
    // The first call takes 800 ms (connection set-up), more than the warm budget of 150 ms.
    let first = true;
    store.beforeAnswerAsync = () => {
      const ms = first ? 800 : 1;
      first = false;
      return time.sleep(ms);
    };
    const l = limiter([mode('closed')]);
    expect(await ask(l, 'basic', 'k')).toMatchObject({ allowed: true, source: 'store' });
  });

  it('a write that lands after its decision gave up is reconciled: kept when admitted, handed back when refused', async () => {
    const l = limiter([mode('closed')], { guard: { errorsToOpen: 99 } });
    await drain(l, 'basic', 'k', 1);
    // The next write takes 2 s (the decision waits at most a few hundred ms).
    store.beforeAnswerAsync = () => time.sleep(2000);
    const refused = await time.run(l.limit({ policyId: 'basic', key: 'k', costTokens: 5 }), {
      maxMs: 1500,
    });
    expect(refused).toMatchObject({
      allowed: false,
      fallback: 'closed',
      fallbackCause: 'store-slow',
    });
    await time.advance(2000);
    // The write landed (n = 6), its request was refused: its 5 tokens are owed back.
    expect(store.slotOf('basic', REGION)?.n).toBe(6);
    expect(l.counters.lateWrites).toBe(1);
    store.beforeAnswerAsync = undefined;
    await time.advance(1000);
    expect(await ask(l, 'basic', 'k')).toMatchObject({ allowed: true, source: 'store' });
    await time.run(l.settled());
    const item = store.slotOf('basic', REGION)!;
    // 100 − 1 − 1 (this request) = 98 plus refill; the 5 late tokens are credited back.
    expect(
      levelTokensAt(
        { capacityTokens: 100, refillTokens: 1, refillIntervalMs: 1000 },
        viewOf([item]),
        time.now(),
      ),
    ).toBeGreaterThanOrEqual(98);
  });
});

describe('local mode: what a container owes the store', () => {
  const local = (extra: Partial<PolicyConfig> = {}): PolicyConfig => ({
    ...basic,
    capacityTokens: 100,
    onStoreError: 'local',
    localShare: 0.1,
    lease: false,
    ...extra,
  });

  it('admits the local share, then writes those tokens to the store once it answers', async () => {
    const l = limiter([local()]);
    store.fault = 'unavailable';
    const during = await drain(l, 'basic', 'k', 15);
    expect(during.filter((r) => r.allowed)).toHaveLength(10);
    expect(during.every((r) => r.source === 'fallback' && r.fallback === 'local')).toBe(true);
    expect(l.counters.pendingLocalTokens).toBe(10);

    store.fault = undefined;
    await time.advance(10_000);
    const after = await ask(l, 'basic', 'k');
    expect(after).toMatchObject({ allowed: true, source: 'store' });
    await time.run(l.settled());
    expect(store.slotOf('basic', REGION)?.n).toBe(11);
    expect(l.counters.pendingLocalTokens).toBe(0);
  });

  it('keeps the debt when its write fails, and records it exactly once', async () => {
    const l = limiter([local()], { guard: { errorsToOpen: 99 } });
    store.fault = 'unavailable';
    await drain(l, 'basic', 'k', 5);
    expect(l.counters.pendingLocalTokens).toBe(5);
    await time.run(l.settled());
    store.fault = undefined;
    await drain(l, 'basic', 'k', 2);
    await time.run(l.settled());
    await drain(l, 'basic', 'other', 2);
    await time.run(l.settled());
    // 5 owed and 2 admitted by the store: 7, recorded once (the failed write left nothing).
    const k = store.items.get(`${bucketIdOf('basic', 1, 'k')}|${REGION}`)!;
    expect(k.n).toBe(7);
    expect(store.items.get(`${bucketIdOf('basic', 1, 'other')}|${REGION}`)?.n).toBe(2);
  });

  it('defect 3: writes the debt of a key nobody asks for again, in the background of other decisions', async () => {
    const l = limiter([local({ capacityTokens: 1000, localShare: 0.1 })]);
    store.fault = 'unavailable';
    const during = await drain(l, 'basic', 'only-during-outage', 99);
    expect(during.every((r) => r.allowed)).toBe(true);
    store.fault = undefined;
    await time.advance(1000);
    // Only other keys are asked for once the store is back.
    await drain(l, 'basic', 'someone-else', 3);
    await time.run(l.settled());
    const item = store.items.get(`${bucketIdOf('basic', 1, 'only-during-outage')}|${REGION}`);
    expect(item?.n).toBe(99);
    expect(l.counters.pendingLocalTokens).toBe(0);
  });

  it('defect 2: a container holding maxBuckets buckets in debt still records every new bucket it admits', async () => {
    const l = limiter([local()], { maxBuckets: 10 });
    store.fault = 'unavailable';
    for (let i = 0; i < 10; i++) await drain(l, 'basic', `sprayed-${i}`, 1);
    // A new key: its state is the 11th, so some state is evicted; none of the debt is.
    const fresh = await drain(l, 'basic', 'fresh', 20);
    expect(fresh.filter((r) => r.allowed)).toHaveLength(10);
    store.fault = undefined;
    await time.advance(1000);
    for (let i = 0; i < 12; i++) {
      await drain(l, 'basic', `after-${i}`, 1);
      await time.run(l.settled());
    }
    expect(store.items.get(`${bucketIdOf('basic', 1, 'fresh')}|${REGION}`)?.n).toBe(10);
    for (let i = 0; i < 10; i++) {
      expect(store.items.get(`${bucketIdOf('basic', 1, `sprayed-${i}`)}|${REGION}`)?.n).toBe(1);
    }
  });

  it('refuses instead of admitting what it could not record once its pending writes are full', async () => {
    const l = limiter([local()], { runtime: { maxPendingBuckets: 2 } });
    store.fault = 'unavailable';
    expect((await ask(l, 'basic', 'a')).allowed).toBe(true);
    expect((await ask(l, 'basic', 'b')).allowed).toBe(true);
    expect(await ask(l, 'basic', 'c')).toMatchObject({ allowed: false, fallback: 'local' });
    expect((await ask(l, 'basic', 'a')).allowed).toBe(true);
  });

  it('defect 1: after a 30 s outage of 10 containers in debt the bucket refills to capacity, not stuck below', async () => {
    // Capacity 100, 20/s, local share 0.1, 10 containers of one region, 30 s outage.
    const policy = local({ capacityTokens: 100, refillTokens: 20, refillIntervalMs: 1000 });
    const containers = Array.from({ length: 10 }, () => limiter([policy]));
    store.fault = 'unavailable';
    for (let t = 0; t < 30; t++) {
      for (const c of containers) await drain(c, 'basic', 'shared', 5);
      await time.advance(1000);
    }
    store.fault = undefined;
    // Each container's guard probes the store again within its longest open period (5 s),
    // then writes its debt back (it asks for the key once more).
    await time.advance(10_000);
    for (const c of containers) {
      await drain(c, 'basic', 'shared', 1);
      await time.run(c.settled());
    }
    const view = viewOf([store.slotOf('basic', REGION)!]);
    const bucket = { capacityTokens: 100, refillTokens: 20, refillIntervalMs: 1000 };
    expect(levelTokensAt(bucket, view, time.now())).toBeLessThan(0);
    // An hour later (far beyond the time to repay the debt) the level is full again.
    expect(levelTokensAt(bucket, view, time.now() + 3_600_000)).toBe(100);
    const fresh = limiter([policy]);
    await time.advance(3_600_000);
    expect(await ask(fresh, 'basic', 'shared')).toMatchObject({
      allowed: true,
      remainingTokens: 99,
    });
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
    const l = new Limiter({ config: strongConfig(), region: REGION, store, strongStore, time });
    await drain(l, 'strict', 'k', 3);
    expect(strongStore.slotOf('strict', 'global')?.n).toBe(3);
    expect(store.items.size).toBe(0);
    expect(consistent).toBe(true);
  });
});
