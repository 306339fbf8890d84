/**
 * The hot path as it ships (docs/design.md, "Takes", "Leases"): a store that
 * offers takes, default leases, a store round trip of 100 ms on virtual
 * time. What a viewer waits for is the virtual time a decision takes.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_TTL_MS } from '../../functions/config/resolve';
import { bucketPolicyOf, type PolicyConfig } from '../../functions/config/schema';
import { levelAt, viewOf } from '../../functions/core';
import { bucketGeneration, bucketIdOf } from '../../functions/limiter/bucket-id';
import { Limiter } from '../../functions/limiter/limiter';
import { VirtualTime } from '../../sim/virtual-time';
import { ForcedReplay } from '../core/reference-bucket';
import { configWith, LEASING_API } from './fixtures';
import { MemoryStore } from './memory-store';

const REGION = 'us-east-1';
const RTT_MS = 100;
const api = LEASING_API;

let time: VirtualTime;
let store: MemoryStore;

beforeEach(() => {
  time = new VirtualTime();
  store = new MemoryStore();
  store.beforeAnswerAsync = () => time.sleep(RTT_MS);
});

function limiter(policies: PolicyConfig[] = [api]): Limiter {
  return new Limiter({
    config: configWith(policies),
    region: REGION,
    store,
    time,
    log: () => undefined,
  });
}

/** One request; resolves to its result and the virtual time it waited. */
async function timed(l: Limiter, key: string, costTokens = 1) {
  const start = time.now();
  const result = await time.run(l.limit({ policyId: 'api', key, costTokens }));
  return { result, waitedMs: time.now() - start };
}

const slotOf = (key: string, intervalMs = 1000) =>
  store.items.get(`${bucketIdOf('api', bucketGeneration(1, intervalMs), key)}|${REGION}`);

describe('a cold key costs one round trip', () => {
  it('a bucket the container has never seen is decided by a take beside the read: one round trip, not two', async () => {
    const l = limiter();
    const { result, waitedMs } = await timed(l, 'new');
    expect(result).toMatchObject({ allowed: true, source: 'store', remainingTokens: 999 });
    expect(waitedMs).toBe(RTT_MS);
    expect(store.calls).toMatchObject({ applyTake: 1, readView: 1, applyWrite: 0 });
    expect(slotOf('new')).toMatchObject({ n: 1, tk: 1 });
  });

  it('the same key on a store without takes costs a read and then a write', async () => {
    store = new MemoryStore({ takes: false });
    store.beforeAnswerAsync = () => time.sleep(RTT_MS);
    const { waitedMs } = await timed(limiter(), 'new');
    expect(waitedMs).toBe(2 * RTT_MS);
  });

  it('after a take, a stale view takes once more while the takes hold less than the margin; then a conditional write checkpoints them', async () => {
    // 100 tokens: the take margin is a quarter of them, 25; each request costs 10.
    const small: PolicyConfig = { ...api, capacityTokens: 100, refillTokens: 50 };
    const l = limiter([small]);
    const replay = new ForcedReplay(bucketPolicyOf(small));
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const at = time.now();
      const { result, waitedMs } = await timed(l, 'k', 10);
      expect(result.allowed).toBe(true);
      replay.admit(at, 10);
      waits.push(waitedMs);
      await time.advance(1000);
    }
    // Three takes (10, 20, then 30 tokens after the checkpoint), one round trip each; the
    // fourth finds 30 ≥ 25 and reads, then writes.
    expect(waits).toEqual([RTT_MS, RTT_MS, RTT_MS, 2 * RTT_MS]);
    const item = slotOf('k')!;
    expect(item.tk).toBeUndefined();
    expect(store.calls).toMatchObject({ applyTake: 3, applyWrite: 1 });
    expect(levelAt(bucketPolicyOf(small), viewOf([item]), time.now())).toBe(
      replay.levelAt(time.now()),
    );
  });

  it('a take the level refuses is handed back at once: the level ends exactly where the admissions leave it', async () => {
    // No refill within the test, and no lease: every token is an admission.
    const small: PolicyConfig = {
      ...api,
      capacityTokens: 100,
      refillTokens: 1,
      refillIntervalMs: 1_000_000_000,
      lease: false,
    };
    const other = new Limiter({
      config: configWith([small]),
      region: REGION,
      store,
      time,
      log: () => undefined,
    });
    // Another container of the region empties the bucket; ours has never seen it.
    const replay = new ForcedReplay({
      capacityTokens: 100,
      refillTokens: 1,
      refillIntervalMs: 1000,
    });
    for (let i = 0; i < 100; i++) {
      // A decision is taken at the time it starts.
      const at = time.now();
      const r = await time.run(other.limit({ policyId: 'api', key: 'k', costTokens: 1 }));
      if (r.allowed) replay.admit(at, 1);
    }
    const l = limiter([small]);
    const { result } = await timed(l, 'k');
    expect(result.allowed).toBe(false);
    expect(store.calls.applyTake).toBeGreaterThanOrEqual(2);
    await time.run(l.settled());
    const item = slotOf('k', 1_000_000_000)!;
    // The refused take added its token to n; the hand-back credits it in a checkpoint.
    expect(l.counters.handedBackTokens).toBe(1);
    expect(item.tk).toBeUndefined();
    expect(levelAt(bucketPolicyOf(small), viewOf([item]), time.now())).toBe(
      replay.levelAt(time.now()),
    );
  });

  it('does not take when the container last saw the bucket near empty: it reads, then writes', async () => {
    const small: PolicyConfig = { ...api, capacityTokens: 100, refillTokens: 1 };
    const l = limiter([small]);
    for (let i = 0; i < 95; i++) await timed(l, 'k');
    await time.advance(1000);
    const takesBefore = store.calls.applyTake;
    await timed(l, 'k');
    expect(store.calls.applyTake).toBe(takesBefore);
  });
});

describe('a busy key waits for no store round trip', () => {
  it('at 20 requests/s, after the first second every request is served from a lease taken ahead', async () => {
    const l = limiter();
    const waits: number[] = [];
    for (let i = 0; i < 200; i++) {
      const { result, waitedMs } = await timed(l, 'busy');
      expect(result.allowed).toBe(true);
      waits.push(waitedMs);
      await time.advance(50);
    }
    expect(waits.slice(20).every((w) => w === 0)).toBe(true);
    // Writes are a small fraction of the requests, and no lease exceeds a tenth of the capacity.
    expect(store.taken.length).toBeLessThan(200 / 5);
    expect(Math.max(...store.taken)).toBeLessThanOrEqual(100);
  });
});

describe('a busy key after an idle spell', () => {
  /** 20 requests/s for `count` requests. */
  async function busy(l: Limiter, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      expect((await timed(l, 'busy')).result.allowed).toBe(true);
      await time.advance(50);
    }
  }

  it('a lease still serves after a dozen seconds without requests (Lambda served them from another container)', async () => {
    const l = limiter();
    await busy(l, 40);
    await time.advance(12_000);
    const next = await timed(l, 'busy');
    expect(next.result.source).toBe('lease');
    expect(next.waitedMs).toBe(0);
  });

  it('its first store decision is a take that also takes a lease for the demand it remembers: the next request waits for nothing', async () => {
    const l = limiter();
    await busy(l, 40);
    // Longer than a lease lives: what the container held has expired, its view is stale.
    await time.advance(DEFAULT_LEASE_TTL_MS + 1000);
    const takes = store.calls.applyTake;
    const first = await timed(l, 'busy');
    expect(first.result.source).toBe('store');
    expect(first.waitedMs).toBe(RTT_MS);
    expect(store.calls.applyTake).toBe(takes + 1);
    expect(store.taken.at(-1)).toBeGreaterThan(1);
    await time.advance(50);
    const second = await timed(l, 'busy');
    expect(second.result.source).toBe('lease');
    expect(second.waitedMs).toBe(0);
  });

  it('a take asks for the request only when the bucket was below half full as last read (contended: no lease)', async () => {
    // 100 tokens refilling 10/s: below half full no lease is taken.
    const small: PolicyConfig = { ...api, capacityTokens: 100, refillTokens: 10 };
    const other = limiter([small]);
    // Another container of the region takes the bucket down to 30 tokens in one request.
    await timed(other, 'k', 70);
    const l = limiter([small]);
    // Ours is busy with the key (it has demand) and reads it below half full.
    for (let i = 0; i < 20; i++) {
      expect((await timed(l, 'k')).result.allowed).toBe(true);
      await time.advance(50);
    }
    // A read with a write, then a write from the fresh view: no take left unchecked.
    await time.advance(300);
    await timed(l, 'k');
    await timed(l, 'k');
    expect(slotOf('k')?.tk).toBeUndefined();
    await time.advance(2000);
    // The other container takes what refilled meanwhile. Ours, refilling its stale view,
    // would think the bucket above half full again; as read, it was below.
    expect((await timed(other, 'k', 20)).result.allowed).toBe(true);
    const takes = store.calls.applyTake;
    const taken = store.taken.length;
    expect((await timed(l, 'k')).result.allowed).toBe(true);
    expect(store.calls.applyTake).toBe(takes + 1);
    // The take added the request only: no lease from a contended bucket, nothing to hand back.
    expect(store.taken.slice(taken)).toEqual([1]);
  });
});

describe('a hot bucket stays within one item’s write rate', () => {
  it('a bucket refilling 2,000 tokens/s takes at least 8 tokens per write, even when contended', async () => {
    const hot: PolicyConfig = {
      ...api,
      capacityTokens: 5000,
      refillTokens: 2000,
      onStoreError: 'open',
    };
    const l = limiter([hot]);
    // Three times the refill rate for 2 s: the bucket empties and stays contended.
    for (let i = 0; i < 12_000; i++) {
      await time.run(l.limit({ policyId: 'api', key: 'all', costTokens: 1 }));
      if (i % 6 === 5) await time.advance(1);
    }
    expect(Math.min(...store.taken)).toBeGreaterThanOrEqual(8);
  });
});

describe('answers that waited out a freeze', () => {
  it('a read sent over a second ago is not joined: the next decision reads afresh', async () => {
    // A read no decision waits for (a peek here; a background lease in a container) whose
    // answer arrives late, as when Lambda froze the container while it was out.
    store = new MemoryStore({ takes: false });
    let firstRead = false;
    store.beforeAnswerAsync = (operation) => {
      if (operation === 'readView' && firstRead) {
        firstRead = false;
        return time.sleep(1800);
      }
      return time.sleep(RTT_MS);
    };
    const l = new Limiter({
      config: configWith([{ ...api, lease: false }]),
      region: REGION,
      store,
      time,
      storeBudgetMs: 2000,
      log: () => undefined,
    });
    // A warm container: its round trip is known (about 100 ms).
    await timed(l, 'warm');
    firstRead = true;
    const peek = l.peek({ policyId: 'api', key: 'k', costTokens: 1 });
    await time.advance(1100);
    const decided = await timed(l, 'k');
    expect(decided.result).toMatchObject({ allowed: true, source: 'store' });
    // Its own read and its write: had it joined the peek's read, it would have waited for it.
    expect(decided.waitedMs).toBe(2 * RTT_MS);
    expect(store.calls.readView).toBe(3);
    await time.run(peek);
  });

  it('a read sent within the last second is joined', async () => {
    store = new MemoryStore({ takes: false });
    store.beforeAnswerAsync = () => time.sleep(RTT_MS);
    const l = limiter([{ ...api, lease: false }]);
    const peek = l.peek({ policyId: 'api', key: 'k', costTokens: 1 });
    await time.advance(RTT_MS / 2);
    const decided = await timed(l, 'k');
    expect(decided.waitedMs).toBe(RTT_MS / 2 + RTT_MS);
    expect(store.calls.readView).toBe(1);
    await time.run(peek);
  });

  it('a lease is not taken from a view whose answer arrived seconds late', async () => {
    const l = limiter();
    let slowReads = false;
    store.beforeAnswerAsync = (operation) =>
      time.sleep(operation === 'readView' && slowReads ? 2500 : RTT_MS);
    // A busy key: leases, taken ahead in the background.
    for (let i = 0; i < 200; i++) {
      await timed(l, 'k');
      await time.advance(10);
    }
    // From now on a read's answer waits 2.5 s (the container frozen meanwhile). Requests go
    // on until the next background lease has sent its read, then stop.
    slowReads = true;
    const reads = store.calls.readView;
    for (let i = 0; i < 500 && store.calls.readView === reads; i++) {
      const { result } = await timed(l, 'k');
      expect(result.source).toBe('lease');
      await time.advance(10);
    }
    expect(store.calls.readView).toBe(reads + 1);
    const writes = store.calls.applyWrite;
    await time.advance(3000);
    await time.run(l.settled());
    // The read landed 2.5 s after it was sent: no lease was written from it.
    expect(store.calls.applyWrite).toBe(writes);
  });
});
