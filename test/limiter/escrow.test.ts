/**
 * `consistency: 'escrow'` in the limiter: a region admits only from the rights
 * its own item holds, with one conditional write per admission and no read;
 * several containers of a region share the item through conditional writes;
 * rights move to demand by background rebalancing, and no window of all
 * regions together ever admits more than the exact bucket, cut or not.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_ESCROW_LEASE_TTL_MS } from '../../functions/config/resolve';
import {
  InvalidConfigError,
  type PolicyConfig,
  validateConfig,
} from '../../functions/config/schema';
import { escrowGeneration } from '../../functions/limiter/bucket-id';
import { Limiter } from '../../functions/limiter/limiter';
import { effectivePolicy, type OverrideSource } from '../../functions/limiter/overrides';
import type { BucketStore } from '../../functions/store/types';
import { VirtualTime } from '../../sim/virtual-time';
import { configWith, ESCROW_PLAN, FIXTURE_REGIONS } from './fixtures';
import { MemoryStore } from './memory-store';

const REGIONS = FIXTURE_REGIONS;
const plan = ESCROW_PLAN;
const daily: PolicyConfig = {
  id: 'daily',
  quota: { limit: 30, period: 'day' },
  consistency: 'escrow',
};
const perIp: PolicyConfig = {
  id: 'per-ip',
  capacityTokens: 2,
  refillTokens: 1,
  refillIntervalMs: 60_000,
};

let time: VirtualTime;

beforeEach(() => {
  time = new VirtualTime(Date.parse('2026-12-01T10:00:00Z'));
});

function limiter(
  region: string,
  store: BucketStore,
  policies: PolicyConfig[] = [plan],
  escrowRebalanceMs = 200,
): Limiter {
  return new Limiter({
    config: configWith(policies),
    region,
    store,
    time,
    escrowRebalanceMs,
  });
}

async function admitted(
  l: Limiter,
  n: number,
  policyId = 'plan',
  key = 'tenant-1',
): Promise<number> {
  let count = 0;
  for (let i = 0; i < n; i++) {
    if ((await l.limit({ policyId, key, costTokens: 1 })).allowed) count += 1;
  }
  return count;
}

describe('one region', () => {
  it('admits its share with one write each and no read; refuses the rest without a store call', async () => {
    const store = new MemoryStore();
    const l = limiter('us-east-1', store);
    expect(await admitted(l, 10)).toBe(10);
    const refused = await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 });
    expect(refused).toMatchObject({ allowed: false, remainingTokens: 0, limitTokens: 30 });
    // Its own refill: 1 token a second (a third of 3), so one token in a second.
    expect(refused.retryAfterMs).toBe(1000);
    expect(store.escrowCalls.writeEscrow).toBe(10);
    expect(store.escrowCalls.readEscrow).toBe(0);
    const [item] = [...(store.escrowItems.values().next().value?.values() ?? [])];
    expect(item).toMatchObject({ region: 'us-east-1', v: 10, n: 10, level: 0 });
    await time.advance(1000);
    expect(await admitted(l, 2)).toBe(1);
  });

  it('two containers of one region share its rights through conditional writes', async () => {
    const store = new MemoryStore();
    const a = limiter('us-east-1', store);
    const b = limiter('us-east-1', store);
    let total = 0;
    for (let i = 0; i < 12; i++) {
      for (const l of [a, b]) {
        if ((await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 })).allowed)
          total += 1;
      }
    }
    expect(total).toBe(10);
    // Each container's writes after the other's are rejected once and decided again.
    expect(a.counters.conditionalRetries + b.counters.conditionalRetries).toBeGreaterThan(0);
  });

  it("a cost above the region's capacity right is refused until rights move", async () => {
    const l = limiter('us-east-1', new MemoryStore());
    const big = await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 11 });
    expect(big.allowed).toBe(false);
    expect((await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 10 })).allowed).toBe(
      true,
    );
  });

  it('a request another limit refuses gives its escrow tokens back with the next write', async () => {
    const store = new MemoryStore({ takes: false });
    const l = limiter('us-east-1', store, [plan, perIp]);
    const both = (key: string) =>
      l.limitAll([
        { policyId: 'plan', key: 'tenant-1', costTokens: 1 },
        { policyId: 'per-ip', key, costTokens: 1 },
      ]);
    expect((await both('ip:1')).allowed).toBe(true);
    expect((await both('ip:1')).allowed).toBe(true);
    // The per-IP limit (2 tokens) refuses: the plan's token comes back.
    const refused = await both('ip:1');
    expect(refused.allowed).toBe(false);
    expect(l.counters.refundedTokens).toBe(1);
    await l.settled();
    expect(l.counters.handedBackTokens).toBe(1);
    // 10 tokens, 2 spent: 8 more are admitted, not 7.
    expect(await admitted(l, 9)).toBe(8);
  });
});

describe('leases', () => {
  /** 300 tokens, 150 a second: a default lease (up to 30 tokens, {@link DEFAULT_ESCROW_LEASE_TTL_MS}). */
  const big: PolicyConfig = { ...plan, id: 'big', capacityTokens: 300, refillTokens: 150 };

  async function steady(l: Limiter, perSecond: number, seconds: number, key = 'k') {
    const sources: string[] = [];
    for (let i = 0; i < perSecond * seconds; i++) {
      const r = await l.limit({ policyId: 'big', key, costTokens: 1 });
      if (r.allowed) sources.push(r.source);
      await time.advance(1000 / perSecond);
    }
    await l.settled();
    return sources;
  }

  it("serves a busy key from leases carved out of the region's rights, topped up before they run out", async () => {
    const store = new MemoryStore();
    const l = limiter('us-east-1', store, [big]);
    const sources = await steady(l, 40, 5);
    expect(sources).toHaveLength(200);
    const fromLease = sources.filter((s) => s === 'lease').length;
    expect(fromLease).toBeGreaterThan(150);
    // Only the first request waited: every later lease was taken in the background ahead.
    expect(sources.slice(1).filter((s) => s === 'store').length).toBeLessThanOrEqual(2);
    expect(store.escrowCalls.writeEscrow).toBeLessThan(50);
    // What the leases took is consumed from the region's item: admitted + held ≤ what it had.
    const item = store.escrowItems.get(l.bucketIdOf('big', 'k'))?.get('us-east-1');
    expect(item?.n).toBeGreaterThanOrEqual(200);
  });

  it('gives an expired lease back with the next write when nothing wrote since, and drops it otherwise', async () => {
    const store = new MemoryStore();
    const l = limiter('us-east-1', store, [big]);
    await steady(l, 40, 1);
    const bucketId = l.bucketIdOf('big', 'k');
    const held = (store.escrowItems.get(bucketId)?.get('us-east-1')?.n ?? 0) - 40;
    expect(held).toBeGreaterThan(0);
    // Idle past the lease's lifetime; the next request's write gives the leftover back.
    await time.advance(DEFAULT_ESCROW_LEASE_TTL_MS + 1000);
    expect((await l.limit({ policyId: 'big', key: 'k', costTokens: 1 })).allowed).toBe(true);
    expect(l.counters.handedBackTokens).toBe(held);
    expect(l.counters.droppedHandBackTokens).toBe(0);
    // Again, but another container writes the item in between: the leftover is dropped.
    await steady(l, 40, 1);
    const other = limiter('us-east-1', store, [big]);
    await time.advance(DEFAULT_ESCROW_LEASE_TTL_MS + 1000);
    expect((await other.limit({ policyId: 'big', key: 'k', costTokens: 1 })).allowed).toBe(true);
    expect((await l.limit({ policyId: 'big', key: 'k', costTokens: 1 })).allowed).toBe(true);
    expect(l.counters.droppedHandBackTokens).toBeGreaterThan(0);
  });

  it('a request another limit refuses puts its leased token back into the lease', async () => {
    const store = new MemoryStore({ takes: false });
    const l = limiter('us-east-1', store, [big, perIp]);
    await steady(l, 40, 1);
    const both = () =>
      l.limitAll([
        { policyId: 'big', key: 'k', costTokens: 1 },
        { policyId: 'per-ip', key: 'ip:9', costTokens: 1 },
      ]);
    await both();
    await both();
    const refused = await both();
    expect(refused.allowed).toBe(false);
    expect(refused.results[0]?.source).toBe('lease');
    expect(l.counters.refundedTokens).toBe(1);
  });
});

describe('overrides', () => {
  it('a per-key factor splits a bucket of its own, and a denied key makes no store call', async () => {
    const store = new MemoryStore();
    const overrides: OverrideSource = {
      effective: (policy, key) => {
        if (key === 'acme') return effectivePolicy(policy, key, { key: { factor: 2 } });
        if (key === 'blocked') return effectivePolicy(policy, key, { key: { mode: 'deny' } });
        return policy;
      },
    };
    const l = new Limiter({
      config: configWith([plan]),
      region: 'us-east-1',
      store,
      time,
      overrides,
    });
    expect(l.bucketIdOf('plan', 'acme')).not.toBe(
      limiter('us-east-1', store).bucketIdOf('plan', 'acme'),
    );
    // 60 tokens split three ways: 20 here.
    expect(await admitted(l, 25, 'plan', 'acme')).toBe(20);
    expect(await admitted(l, 12, 'plan', 'tenant-1')).toBe(10);
    const writes = store.escrowCalls.writeEscrow;
    const denied = await l.limit({ policyId: 'plan', key: 'blocked', costTokens: 1 });
    expect(denied).toMatchObject({ allowed: false, source: 'denylist' });
    expect(store.escrowCalls.writeEscrow).toBe(writes);
  });
});

describe('giving back', () => {
  it('drops the tokens of a refused request when another container wrote the item first', async () => {
    const store = new MemoryStore({ takes: false });
    const l = limiter('us-east-1', store, [plan, perIp]);
    const both = () =>
      l.limitAll([
        { policyId: 'plan', key: 'tenant-1', costTokens: 1 },
        { policyId: 'per-ip', key: 'ip:1', costTokens: 1 },
      ]);
    await both();
    await both();
    const bucketId = l.bucketIdOf('plan', 'tenant-1');
    // Another container admits between the admission and its give-back.
    let other = false;
    store.beforeAnswer = (operation) => {
      if (operation !== 'writeEscrow' || other) return;
      const items = store.escrowItems.get(bucketId);
      const item = items?.get('us-east-1');
      if (item === undefined || item.n < 3) return;
      other = true;
      items?.set('us-east-1', { ...item, v: item.v + 1, level: item.level - 1000, n: item.n + 1 });
    };
    expect((await both()).allowed).toBe(false);
    await l.settled();
    expect(l.counters.droppedHandBackTokens).toBe(1);
    expect(l.counters.handedBackTokens).toBe(0);
    // 10 tokens: 3 taken by this container, 1 by the other; nothing given back.
    store.beforeAnswer = undefined;
    expect(await admitted(l, 10)).toBe(6);
  });
});

describe('failures', () => {
  it('closed refuses while the store fails, and a write that outlived its wait gives back what it took', async () => {
    const store = new MemoryStore();
    const l = limiter('us-east-1', store);
    expect(await admitted(l, 1)).toBe(1);
    store.fault = 'unavailable';
    const down = await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 });
    expect(down).toMatchObject({ allowed: false, source: 'fallback', fallback: 'closed' });
    store.fault = undefined;
    // 9 left: the failed write took nothing.
    expect(await admitted(l, 10)).toBe(9);
  });

  it('open admits while the store fails, and the rights are unchanged', async () => {
    const store = new MemoryStore();
    const l = limiter('us-east-1', store, [{ ...plan, onStoreError: 'open' }]);
    store.fault = 'throttled';
    const r = await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 });
    expect(r).toMatchObject({ allowed: true, source: 'fallback', fallback: 'open' });
    store.fault = undefined;
    // Past the throttle's backoff: the store decides again, from rights the fallback left whole.
    await time.advance(60);
    expect(await admitted(l, 11)).toBe(10);
  });

  it('a write that outlives its wait is answered closed, and its token comes back once it lands', async () => {
    const store = new MemoryStore();
    const l = limiter('us-east-1', store);
    let slow = true;
    store.beforeAnswerAsync = async (operation) => {
      if (operation === 'writeEscrow' && slow) await time.sleep(2000);
    };
    const r = await time.run(l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 }));
    expect(r).toMatchObject({ allowed: false, fallback: 'closed', fallbackCause: 'store-slow' });
    slow = false;
    await time.run(l.settled(), { maxMs: 10_000 });
    expect(l.counters.lateWrites).toBe(1);
    expect(l.counters.handedBackTokens).toBe(1);
    // The refused request took nothing in the end: all 10 tokens remain.
    expect(await admitted(l, 11)).toBe(10);
  });

  it('leaves a throttled item alone for a while (the failure mode decides without a call), then writes again', async () => {
    const store = new MemoryStore();
    const l = limiter('us-east-1', store, [{ ...plan, onStoreError: 'open' }]);
    store.fault = 'throttled';
    expect(
      (await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 })).fallbackCause,
    ).toBe('throttled');
    const calls = store.escrowCalls.writeEscrow;
    store.fault = undefined;
    const during = await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 });
    expect(during).toMatchObject({ source: 'fallback', fallbackCause: 'throttled' });
    expect(store.escrowCalls.writeEscrow).toBe(calls);
    await time.advance(60);
    expect((await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 })).source).toBe(
      'store',
    );
  });

  it('refuses to be built on a store without escrow items, and for a region it does not split over', () => {
    const store = new MemoryStore();
    const bare: BucketStore = {
      readView: (b, o) => store.readView(b, o),
      readSlot: (b, s, o) => store.readSlot(b, s, o),
      applyWrite: (b, w, o) => store.applyWrite(b, w, o),
    };
    expect(() => limiter('us-east-1', bare)).toThrow(InvalidConfigError);
    expect(() => limiter('sa-east-1', store)).toThrow(/not one of them/);
  });
});

describe('several regions', () => {
  /** Every store gets every other's items (a global table with no lag at this step). */
  function replicate(stores: readonly MemoryStore[]): void {
    for (const from of stores) for (const to of stores) if (from !== to) from.replicateEscrowTo(to);
  }

  it.each([
    ['one write per admission', plan],
    ['leases', { ...plan, lease: { maxTokens: 5, ttlMs: 2000 } }],
  ])(
    'a cut never lets the regions together admit more than the exact bucket, and rights follow demand after the heal (%s)',
    async (_name, policy) => {
      const stores = REGIONS.map(() => new MemoryStore());
      const limiters = REGIONS.map((r, i) => limiter(r, stores[i] as MemoryStore, [policy]));
      // Demand: us-east-1 6 tokens a second, the others 1 each; 10 ms steps.
      const rates = [6, 1, 1];
      const admittedAt: number[][] = REGIONS.map(() => []);
      const run = async (seconds: number, cut: boolean) => {
        for (let step = 0; step < seconds * 100; step++) {
          for (let i = 0; i < REGIONS.length; i++) {
            if ((step * (rates[i] as number)) % 100 >= (rates[i] as number)) continue;
            const l = limiters[i] as Limiter;
            const r = await l.limit({ policyId: 'plan', key: 'tenant-1', costTokens: 1 });
            if (r.allowed) admittedAt[i]?.push(time.now());
          }
          await time.advance(10);
          for (const l of limiters) await l.settled();
          if (!cut && step % 10 === 0) replicate(stores);
        }
      };
      await run(10, true);
      await run(20, false);
      // Every window of every length: at most C + R·|W| over all regions together.
      const all = admittedAt.flat().sort((a, b) => a - b);
      for (let i = 0; i < all.length; i++) {
        for (let j = i; j < all.length; j++) {
          const windowMs = (all[j] as number) - (all[i] as number);
          expect(j - i + 1).toBeLessThanOrEqual(30 + Math.floor((3 * windowMs) / 1000));
        }
      }
      // After the heal, us-east-1 holds more than its starting third of the refill.
      const east = limiters[0] as Limiter;
      const bucketId = east.bucketIdOf('plan', 'tenant-1');
      const eastItem = stores[0]?.escrowItems.get(bucketId)?.get('us-east-1');
      expect(eastItem?.rate).toBeGreaterThan(400_000);
      // And it serves more of its demand in the last 10 s than a static third (1 token/s, 10 in all) would.
      const lastTen = (admittedAt[0] as number[]).filter((t) => t >= time.now() - 10_000).length;
      expect(lastTen).toBeGreaterThan(15);
    },
    60_000,
  );

  it('a quota is split like a bucket, and its items expire an hour after the period', async () => {
    const store = new MemoryStore();
    const l = limiter('eu-west-1', store, [daily]);
    expect(await admitted(l, 11, 'daily')).toBe(10);
    const ttls = [...store.escrowTtls.values()];
    expect(ttls).toEqual([Date.parse('2026-12-02T00:00:00Z') / 1000 + 3600]);
    // The next day starts fresh items.
    await time.advance(14 * 3_600_000);
    expect(await admitted(l, 1, 'daily')).toBe(1);
    expect(store.escrowItems.size).toBe(2);
  });
});

describe('config', () => {
  it('refuses the local failure mode and watched keys on escrow policies, both at once', () => {
    const problems = validateConfig({
      ...configWith([plan]),
      policies: [{ ...plan, onStoreError: 'local', watchKeys: ['all'] }],
    });
    expect(problems.map((p) => p.path)).toEqual([
      'policies[0].onStoreError',
      'policies[0].watchKeys',
    ]);
  });

  it('a new capacity, refill or region list starts new escrow items; a quota keeps its period last', () => {
    const bucket = { capacityTokens: 30, refillTokens: 3, refillIntervalMs: 1000 };
    const base = escrowGeneration('1', bucket, REGIONS);
    expect(escrowGeneration('1', { ...bucket, capacityTokens: 31 }, REGIONS)).not.toBe(base);
    expect(escrowGeneration('1', { ...bucket, refillTokens: 4 }, REGIONS)).not.toBe(base);
    expect(escrowGeneration('1', bucket, REGIONS.slice(0, 2))).not.toBe(base);
    expect(escrowGeneration('1', bucket, REGIONS)).toBe(base);
    expect(escrowGeneration('1.q1764547200', bucket, REGIONS)).toMatch(
      /^1\.e[\w-]{8}\.q1764547200$/,
    );
  });
});
