/**
 * Run-time overrides in the limiter, on virtual time: the effective policy of
 * a key (deny, allow, shadow, a 10x tenant, a policy-level patch, the
 * precedence of the levels, the bucket a changed shape is counted in) and
 * the per-container cache's refresh timing (a background read when due, a
 * waited one when too old, failures keeping the last good overrides).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { type OverrideSettings, validateOverride } from '../../functions/config/overrides';
import { resolveConfig } from '../../functions/config/resolve';
import type { PolicyConfig } from '../../functions/config/schema';
import { Limiter } from '../../functions/limiter/limiter';
import { OverrideCache, RETRY_AFTER_FAILURE_MS } from '../../functions/limiter/overrides';
import type { StoredOverride } from '../../functions/store/override-table';
import { VirtualTime } from '../../sim/virtual-time';
import { configWith } from './fixtures';
import { MemoryStore } from './memory-store';

const api: PolicyConfig = {
  id: 'api',
  capacityTokens: 3,
  refillTokens: 1,
  refillIntervalMs: 1000,
  denyKeys: ['listed'],
};
const config = resolveConfig(
  configWith([api], { overridesRefreshMs: 20_000, overridesMaxAgeMs: 45_000 }),
);
const READ_LATENCY_MS = 40;

let time: VirtualTime;
let store: MemoryStore;
/** What the overrides partition holds now. */
let table: StoredOverride[];
let reads: number;
let failReads: boolean;
let hangReads: boolean;
let logged: Record<string, unknown>[];

beforeEach(() => {
  time = new VirtualTime();
  store = new MemoryStore();
  table = [];
  reads = 0;
  failReads = false;
  hangReads = false;
  logged = [];
});

function set(policy: string, key: string | undefined, settings: OverrideSettings): void {
  table = table.filter((o) => !(o.policy === policy && o.key === key));
  table.push({
    policy,
    ...(key === undefined ? {} : { key }),
    settings,
    updatedBy: 'arn:aws:iam::111111111111:role/oncall',
    updatedAtMs: time.now(),
    deleted: false,
  });
}

function cacheOf(): OverrideCache {
  return new OverrideCache({
    config,
    time,
    maxWaitMs: 1000,
    log: (entry) => logged.push({ ...entry }),
    read: async () => {
      reads += 1;
      const snapshot = table.map((o) => ({ ...o }));
      if (hangReads) return new Promise(() => undefined);
      await time.sleep(READ_LATENCY_MS);
      if (failReads) throw new Error('store unreachable');
      return { overrides: snapshot, unreadable: [] };
    },
  });
}

function setup() {
  const cache = cacheOf();
  const limiter = new Limiter({ config, region: 'us-east-1', store, time, overrides: cache });
  /** One request as a handler serves it: wait when the cache asks, then decide. */
  const decide = async (key: string) => {
    const waiting = cache.ready();
    if (waiting !== undefined) await time.run(waiting);
    return time.run(limiter.limit({ policyId: 'api', key, costTokens: 1 }));
  };
  return { cache, limiter, decide };
}

async function drain(decide: (key: string) => Promise<{ allowed: boolean }>, key: string) {
  let admitted = 0;
  for (let i = 0; i < 40; i++) if ((await decide(key)).allowed) admitted += 1;
  return admitted;
}

describe('effective policy', () => {
  it('denies a key like the deny list (source denylist)', async () => {
    set('api', 'k', { mode: 'deny' });
    const { decide } = setup();
    const result = await decide('k');
    expect(result).toMatchObject({ allowed: false, source: 'denylist' });
    expect((await decide('other')).source).toBe('store');
  });

  it('allows a key without limit like the allow list', async () => {
    set('api', 'j', { mode: 'allow' });
    const { decide } = setup();
    expect(await drain(decide, 'j')).toBe(40);
    expect(await drain(decide, 'plain')).toBe(3);
  });

  it('puts a key in shadow mode: counted, never refused', async () => {
    set('api', 's', { shadow: true });
    const { decide } = setup();
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await decide('s'));
    expect(results.every((r) => r.allowed)).toBe(true);
    expect(results.map((r) => r.shadow?.wouldAllow)).toEqual([true, true, true, false, false]);
  });

  it('gives a tenant 10x capacity in a bucket of its own', async () => {
    set('api', 'acme', { factor: 10 });
    const { decide, limiter } = setup();
    const first = await decide('acme');
    expect(first.limitTokens).toBe(30);
    expect(await drain(decide, 'acme')).toBe(29);
    expect(limiter.bucketIdOf('api', 'acme')).toMatch(/^api#1\.c30r10#/);
    expect(limiter.bucketIdOf('api', 'someone')).toMatch(/^api#1#/);
  });

  it('remembers the shape a patched bucket was decided under, for its pending writes', async () => {
    set('api', 'acme', { factor: 10 });
    const { decide, limiter, cache } = setup();
    await decide('acme');
    expect(cache.policyOfBucket(limiter.bucketIdOf('api', 'acme'))?.bucket.capacityTokens).toBe(30);
    expect(cache.policyOfBucket(limiter.bucketIdOf('api', 'someone'))).toBeUndefined();
  });

  it('refuses a cost the patched bucket could never admit, before any store call', async () => {
    set('api', 'tiny', { capacityTokens: 1 });
    const { decide, limiter } = setup();
    await decide('tiny');
    const before = { ...store.calls };
    await expect(limiter.limit({ policyId: 'api', key: 'tiny', costTokens: 2 })).rejects.toThrow(
      /cost 2 exceeds capacityTokens 1/,
    );
    expect(store.calls).toEqual(before);
  });

  it('applies a policy-level patch to every key, and the per-key override over it', async () => {
    set('api', undefined, { capacityTokens: 6 });
    set('api', 'small', { capacityTokens: 2 });
    const { decide } = setup();
    expect(await drain(decide, 'anyone')).toBe(6);
    expect(await drain(decide, 'small')).toBe(2);
  });

  it('lets a per-key "limit" override take a configured deny-listed key off the list', async () => {
    set('api', 'listed', { mode: 'limit' });
    const { decide } = setup();
    expect(await drain(decide, 'listed')).toBe(3);
  });

  it('a disabled policy limits no key, but a per-key deny still refuses', async () => {
    set('api', undefined, { enabled: false });
    set('api', 'k', { mode: 'deny' });
    const { decide } = setup();
    expect(await drain(decide, 'anyone')).toBe(40);
    expect((await decide('k')).source).toBe('denylist');
  });

  it('adds policy-level deny keys to the configured ones', async () => {
    set('api', undefined, { denyKeys: ['added'] });
    const { decide } = setup();
    expect((await decide('added')).source).toBe('denylist');
    expect((await decide('listed')).source).toBe('denylist');
  });

  it('ignores an override the config no longer accepts, and says so once', async () => {
    set('gone', 'k', { mode: 'deny' });
    set('api', 'k', { mode: 'deny' });
    const { decide, cache } = setup();
    expect((await decide('k')).source).toBe('denylist');
    expect(cache.size).toBe(1);
    expect(logged.filter((e) => e.message === 'overrides ignored')).toHaveLength(1);
  });
});

describe('the override cache', () => {
  it("waits for the first read: a container's first request applies the overrides", async () => {
    set('api', 'k', { mode: 'deny' });
    const { cache } = setup();
    const waiting = cache.ready();
    expect(waiting).toBeDefined();
    await time.run(waiting as Promise<void>);
    expect(reads).toBe(1);
    expect(cache.size).toBe(1);
  });

  it('reads again only when the refresh interval has passed, in the background', async () => {
    const { decide } = setup();
    await decide('k');
    expect(reads).toBe(1);
    await time.advance(19_000);
    await decide('k');
    expect(reads).toBe(1);
    // Due: this request starts the read and decides with what the cache holds.
    set('api', 'k', { mode: 'deny' });
    await time.advance(1_000);
    const started = await decide('k');
    expect(reads).toBe(2);
    expect(started.source).not.toBe('denylist');
    // The read's answer is seen by a later request.
    await time.advance(READ_LATENCY_MS);
    expect((await decide('k')).source).toBe('denylist');
    expect(reads).toBe(2);
  });

  it('makes a request wait for the read once the overrides are older than the maximum age', async () => {
    const { decide, cache } = setup();
    await decide('k');
    set('api', 'k', { mode: 'deny' });
    // Idle (frozen) past the maximum age: the next request must not apply 45 s old overrides.
    await time.advance(45_001);
    expect(cache.ready()).toBeDefined();
    expect((await decide('k')).source).toBe('denylist');
  });

  it('applies, in every decision, every override written more than the maximum age before it', async () => {
    const { decide } = setup();
    await decide('k');
    let setAt: number | undefined;
    let checked = 0;
    // Busy stretches and idle ones (a frozen container); the override is written just
    // after a background read started, and the next request comes after a long idle.
    for (const step of [7_000, 13_000, 'set', 1_000, 50_000, 500] as const) {
      if (step === 'set') {
        set('api', 'k', { mode: 'deny' });
        setAt = time.now();
        continue;
      }
      await time.advance(step);
      const result = await decide('k');
      if (setAt !== undefined && time.now() - setAt > 45_000 + READ_LATENCY_MS) {
        expect(result.source).toBe('denylist');
        checked += 1;
      }
    }
    expect(checked).toBe(2);
  });

  it('keeps the last good overrides when a read fails, and retries after a pause', async () => {
    set('api', 'k', { mode: 'deny' });
    const { decide, cache } = setup();
    await decide('k');
    failReads = true;
    await time.advance(20_000);
    await decide('k');
    await time.run(cache.settled());
    expect(reads).toBe(2);
    expect(
      logged.some((e) => e.message === 'overrides read failed; the last ones read stay in force'),
    ).toBe(true);
    expect((await decide('k')).source).toBe('denylist');
    // No read is tried again before the pause; then one is.
    await time.advance(RETRY_AFTER_FAILURE_MS - 1_000);
    await decide('k');
    expect(reads).toBe(2);
    failReads = false;
    await time.advance(1_000);
    await decide('k');
    expect(reads).toBe(3);
  });

  it('bounds the wait for a read that hangs', async () => {
    hangReads = true;
    const { cache } = setup();
    const startedAt = time.now();
    await time.run(cache.ready() as Promise<void>);
    expect(time.now() - startedAt).toBe(1000);
  });

  it('returns a key to its configured bucket when the override is deleted', async () => {
    set('api', 'acme', { factor: 10 });
    const { decide, limiter } = setup();
    await decide('acme');
    const patched = limiter.bucketIdOf('api', 'acme');
    table = table.map((o) => ({ ...o, deleted: true }));
    await time.advance(20_000);
    await decide('acme');
    await time.advance(READ_LATENCY_MS);
    expect(limiter.bucketIdOf('api', 'acme')).not.toBe(patched);
    expect((await decide('acme')).limitTokens).toBe(3);
  });
});

describe('overrides of a quota', () => {
  const monthly: PolicyConfig = { id: 'monthly', quota: { limit: 3, period: 'month' } };
  const quotaConfig = resolveConfig(configWith([monthly]));

  it('sizes a tenant’s quota for the period, still no refill, and refuses a refill override', async () => {
    table = [];
    set('monthly', 'acme', { capacityTokens: 5 });
    const cache = new OverrideCache({
      config: quotaConfig,
      time,
      read: async () => ({ overrides: table.map((o) => ({ ...o })), unreadable: [] }),
    });
    const limiter = new Limiter({
      config: quotaConfig,
      region: 'us-east-1',
      store,
      time,
      overrides: cache,
    });
    const decide = async (key: string) => {
      const waiting = cache.ready();
      if (waiting !== undefined) await time.run(waiting);
      return time.run(limiter.limit({ policyId: 'monthly', key, costTokens: 1 }));
    };
    const acme: boolean[] = [];
    for (let i = 0; i < 7; i++) acme.push((await decide('acme')).allowed);
    expect(acme).toEqual([true, true, true, true, true, false, false]);
    const plain: boolean[] = [];
    for (let i = 0; i < 4; i++) plain.push((await decide('plain')).allowed);
    expect(plain).toEqual([true, true, true, false]);
    // A day later, still this month: nothing came back (a quota does not refill).
    await time.advance(86_400_000 / 4);
    expect((await decide('acme')).allowed).toBe(false);
    expect(
      validateOverride(quotaConfig, { policy: 'monthly', key: 'x' }, { refillTokens: 5 }),
    ).toEqual([
      {
        path: 'settings.refillTokens',
        message: expect.stringMatching(/is a quota: it never refills/),
      },
    ]);
  });
});
