/**
 * A request charged to several limits (`Limiter.limitAll`): all charged or
 * none, refusals known without the store first, and calendar quotas beside
 * token buckets.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { PolicyConfig } from '../../functions/config/schema';
import { LimitRequestError } from '../../functions/limiter/errors';
import { Limiter } from '../../functions/limiter/limiter';
import type { LimitRequest } from '../../functions/limiter/types';
import { VirtualTime } from '../../sim/virtual-time';
import { configWith } from './fixtures';
import { MemoryStore } from './memory-store';

const REGION = 'us-east-1';
const perKey: PolicyConfig = { id: 'per-key', capacityTokens: 10, refillTokens: 1 };
const perIp: PolicyConfig = {
  id: 'per-ip',
  capacityTokens: 3,
  refillTokens: 1,
  refillIntervalMs: 60_000,
};
/** A shared cap that refills slowly (a token a minute), so what it lost or got back shows. */
const global: PolicyConfig = {
  id: 'global',
  capacityTokens: 1000,
  refillTokens: 1,
  refillIntervalMs: 60_000,
  lease: { maxTokens: 50, ttlMs: 2000 },
};
const daily: PolicyConfig = { id: 'daily', quota: { limit: 5, period: 'day' } };

/** 2026-12-01T22:00:00Z: two hours before a UTC day ends. */
const EVENING_MS = Date.parse('2026-12-01T22:00:00Z');

let time: VirtualTime;
let store: MemoryStore;

beforeEach(() => {
  time = new VirtualTime(EVENING_MS);
  store = new MemoryStore({ takes: false });
});

function limiter(policies: PolicyConfig[], s: MemoryStore = store): Limiter {
  return new Limiter({ config: configWith(policies), region: REGION, store: s, time });
}

const request = (key: string, ip = 'ip:203.0.113.7'): LimitRequest[] => [
  { policyId: 'per-key', key, costTokens: 1 },
  { policyId: 'per-ip', key: ip, costTokens: 1 },
  { policyId: 'global', key: 'all', costTokens: 1 },
];

/** What a fresh container of the region would see of a bucket now (no lease, no cache). */
async function remaining(
  policyId: string,
  key: string,
  policies: PolicyConfig[] = [perKey, perIp, global, daily],
): Promise<number> {
  const fresh = limiter(policies);
  return (await time.run(fresh.peek({ policyId, key, costTokens: 1 }))).remainingTokens;
}

/** Lets the container write what it owes: the pending writes go out with a later decision. */
async function flushPending(l: Limiter): Promise<void> {
  await time.advance(1500);
  await time.run(l.limit({ policyId: 'per-key', key: 'unrelated', costTokens: 1 }));
  await time.run(l.settled());
}

describe('Limiter.limitAll', () => {
  it('admits only when every limit admits, and charges every one of them', async () => {
    const l = limiter([perKey, perIp, global]);
    const answer = await time.run(l.limitAll(request('k1')));
    expect(answer.allowed).toBe(true);
    expect(answer.results.map((r) => [r.policy, r.remainingTokens])).toEqual([
      ['per-key', 9],
      ['per-ip', 2],
      ['global', 999],
    ]);
    expect(await remaining('per-key', 'k1')).toBe(9);
    expect(await remaining('per-ip', 'ip:203.0.113.7')).toBe(2);
  });

  it('fresh keys from one IP are refused once the IP limit is spent, and the refused ones charge nothing', async () => {
    const l = limiter([perKey, perIp, global]);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await time.run(l.limitAll(request(`fresh-${i}`))));
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false, false, false]);
    const refused = answers[3]!;
    expect(refused.results[refused.decidedBy]?.policy).toBe('per-ip');
    // What refused requests took comes back within about a second (the pending writes):
    // their keys are whole, and the global cap holds three admissions, not four.
    expect(await remaining('per-key', 'fresh-0')).toBe(9);
    await flushPending(l);
    for (const i of [3, 4, 5]) expect(await remaining('per-key', `fresh-${i}`)).toBe(10);
    const leased = l.leasedTokens({ policyId: 'global', key: 'all' });
    expect((await remaining('global', 'all')) + leased).toBe(1000 - 3);
    expect(l.counters.refundedTokens).toBeGreaterThanOrEqual(2);
  });

  it('a refusal known without the store (deny list, cached refusal) charges nothing and calls nothing', async () => {
    const denied: PolicyConfig = { ...perIp, denyKeys: ['ip:198.51.100.1'] };
    const l = limiter([perKey, denied, global]);
    const before = { ...store.calls };
    const answer = await time.run(l.limitAll(request('k', 'ip:198.51.100.1')));
    expect(answer).toMatchObject({ allowed: false, decidedBy: 0 });
    expect(answer.results).toHaveLength(1);
    expect(answer.results[0]).toMatchObject({ policy: 'per-ip', source: 'denylist' });
    expect(store.calls).toEqual(before);
  });

  it('gives lease-served tokens back into the lease they came from', async () => {
    const l = limiter([perKey, perIp, global]);
    // Warm the global bucket's lease with admitted requests from several IPs.
    for (let i = 0; i < 3; i++) await time.run(l.limitAll(request(`w${i}`, `ip:192.0.2.${i}`)));
    const leasedBefore = l.leasedTokens({ policyId: 'global', key: 'all' });
    expect(leasedBefore).toBeGreaterThan(0);
    // Another container spends an IP's bucket, so this one learns of it only from the store.
    const ip = 'ip:192.0.2.200';
    const other = limiter([perKey, perIp, global]);
    for (let i = 0; i < 3; i++)
      await time.run(other.limit({ policyId: 'per-ip', key: ip, costTokens: 1 }));
    const refused = await time.run(l.limitAll(request('s-refused', ip)));
    expect(refused.allowed).toBe(false);
    expect(refused.results.find((r) => r.policy === 'global')?.source).toBe('lease');
    expect(l.leasedTokens({ policyId: 'global', key: 'all' })).toBe(leasedBefore);
    await flushPending(l);
    expect(await remaining('per-key', 's-refused')).toBe(10);
  });

  it('names the limit at fault in a bad request, and decides nothing', async () => {
    const l = limiter([perKey, perIp, global]);
    const bad = [...request('k'), { policyId: 'nope', key: 'x', costTokens: 1 }];
    const error = await time.run(l.limitAll(bad)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimitRequestError);
    expect((error as LimitRequestError).limitIndex).toBe(3);
    expect(store.calls.applyWrite + store.calls.readView).toBe(0);
  });

  it('Retry-After follows the refusing limit with the longest wait', async () => {
    const l = limiter([perKey, perIp, global]);
    for (let i = 0; i < 10; i++) await time.run(l.limitAll(request('same')));
    // per-key (1 token/s) and per-ip (1 token/min) are both empty now.
    const answer = await time.run(l.limitAll(request('same')));
    expect(answer.allowed).toBe(false);
    const decided = answer.results[answer.decidedBy]!;
    expect(decided.policy).toBe('per-ip');
    expect(decided.retryAfterMs).toBeGreaterThan(1000);
  });
});

describe('calendar quotas', () => {
  it('admits the limit in a day, refuses until midnight UTC with the time left, then starts afresh', async () => {
    const l = limiter([daily]);
    const take = () => time.run(l.limit({ policyId: 'daily', key: 'tenant', costTokens: 1 }));
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await take());
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, true, true, false]);
    const refused = answers[5]!;
    const midnight = Date.parse('2026-12-02T00:00:00Z');
    expect(refused.retryAfterMs).toBe(midnight - EVENING_MS);
    expect(refused.resetAfterMs).toBe(midnight - EVENING_MS);
    expect(refused.windowSeconds).toBe(86_400);
    expect(refused.limitTokens).toBe(5);
    // An hour later: still refused, an hour less to wait.
    await time.advance(3_600_000);
    expect((await take()).retryAfterMs).toBe(midnight - EVENING_MS - 3_600_000);
    await time.advance(3_600_000);
    const nextDay = await take();
    expect(nextDay).toMatchObject({ allowed: true, remainingTokens: 4 });
  });

  it('a day in another time zone ends at that zone’s midnight', async () => {
    const paris: PolicyConfig = {
      id: 'daily',
      quota: { limit: 1, period: 'day', timeZone: 'Europe/Paris' },
    };
    const l = limiter([paris]);
    const first = await time.run(l.limit({ policyId: 'daily', key: 't', costTokens: 1 }));
    expect(first.allowed).toBe(true);
    const second = await time.run(l.limit({ policyId: 'daily', key: 't', costTokens: 1 }));
    // 22:00 UTC is 23:00 in Paris in December: one hour to midnight.
    expect(second).toMatchObject({ allowed: false, retryAfterMs: 3_600_000 });
  });

  it('is counted over every region: each region writes its slot, the merge sums them', async () => {
    const other = new Limiter({ config: configWith([daily]), region: 'eu-west-1', store, time });
    const here = limiter([daily]);
    for (let i = 0; i < 3; i++) {
      await time.run(here.limit({ policyId: 'daily', key: 'k', costTokens: 1 }));
    }
    await time.advance(1000);
    const there = await time.run(other.limit({ policyId: 'daily', key: 'k', costTokens: 1 }));
    expect(there).toMatchObject({ allowed: true, remainingTokens: 1 });
    const slots = new Set([...store.items.values()].map((item) => item.slot));
    expect(slots).toEqual(new Set(['us-east-1', 'eu-west-1']));
    // Every item of the period expires an hour after the day ends.
    const midnightS = Date.parse('2026-12-02T00:00:00Z') / 1000;
    for (const item of store.items.values()) expect(item.ttl).toBe(midnightS + 3600);
  });

  it('a burst limit and a monthly quota on one key: refused by whichever runs out', async () => {
    const burst: PolicyConfig = { id: 'burst', capacityTokens: 2, refillTokens: 1 };
    const monthly: PolicyConfig = { id: 'monthly', quota: { limit: 3, period: 'month' } };
    const l = limiter([burst, monthly]);
    const both = (): LimitRequest[] => [
      { policyId: 'burst', key: 'k', costTokens: 1 },
      { policyId: 'monthly', key: 'k', costTokens: 1 },
    ];
    const a = [await time.run(l.limitAll(both())), await time.run(l.limitAll(both()))];
    const third = await time.run(l.limitAll(both()));
    expect([...a.map((x) => x.allowed), third.allowed]).toEqual([true, true, false]);
    expect(third.results[third.decidedBy]?.policy).toBe('burst');
    await time.advance(5000);
    expect((await time.run(l.limitAll(both()))).allowed).toBe(true);
    await time.advance(5000);
    const over = await time.run(l.limitAll(both()));
    expect(over.allowed).toBe(false);
    expect(over.results[over.decidedBy]?.policy).toBe('monthly');
    // Refused by the quota: the burst bucket was not charged (given back to the store).
    await time.advance(1500);
    await time.run(l.limit({ policyId: 'burst', key: 'other', costTokens: 1 }));
    await time.run(l.settled());
    expect(await remaining('burst', 'k', [burst, monthly])).toBe(2);
  });
});
