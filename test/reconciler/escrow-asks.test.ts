/**
 * Idle regions give escrow rights through their reconciler: a region short
 * of a bucket's rights leaves an ask, and the reconciler of a region whose
 * containers never see that bucket gives its surplus in one write of its
 * own item. Asks whose sizes do not match the bucket's split are left alone.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ESCROW_RATE_PARTS } from '../../functions/core';
import { Limiter } from '../../functions/limiter/limiter';
import {
  answerEscrowAsks,
  ESCROW_ASK_MAX_AGE_MS,
  type EscrowAsksInput,
} from '../../functions/reconciler/escrow-asks';
import { VirtualTime } from '../../sim/virtual-time';
import { configWith, ESCROW_PLAN, FIXTURE_REGIONS } from '../limiter/fixtures';
import { MemoryStore } from '../limiter/memory-store';

const REGIONS = FIXTURE_REGIONS;
const plan = ESCROW_PLAN;

let time: VirtualTime;
let stores: MemoryStore[];
let east: Limiter;

beforeEach(() => {
  time = new VirtualTime(Date.parse('2026-12-01T10:00:00Z'));
  stores = REGIONS.map(() => new MemoryStore());
  east = new Limiter({
    config: configWith([plan]),
    region: 'us-east-1',
    store: stores[0] as MemoryStore,
    time,
    escrowRebalanceMs: 200,
  });
});

function replicate(): void {
  for (const from of stores) for (const to of stores) if (from !== to) from.replicateEscrowTo(to);
}

function inputFor(i: number, extra: Partial<EscrowAsksInput> = {}): EscrowAsksInput {
  return {
    store: stores[i] as MemoryStore,
    region: REGIONS[i] as string,
    regions: REGIONS,
    policies: [plan],
    nowMs: time.now,
    signal: () => new AbortController().signal,
    run: (task) => task(),
    ...extra,
  };
}

/** East asks for 2 tokens a second for `seconds`, in 100 ms steps; resolves to what it admitted. */
async function eastDemand(seconds: number): Promise<number> {
  let admitted = 0;
  for (let step = 0; step < seconds * 10; step++) {
    if (step % 5 === 0) {
      if ((await east.limit({ policyId: 'plan', key: 'tenant', costTokens: 1 })).allowed)
        admitted++;
    }
    await time.advance(100);
    await east.settled();
  }
  return admitted;
}

describe('escrow asks', () => {
  it("a region short of rights asks; an idle region's reconciler gives it its surplus", async () => {
    // East spends its 10 tokens and keeps refusing: its ticks leave an ask.
    await eastDemand(20);
    const asks = [...(stores[0] as MemoryStore).escrowAsks.values()];
    expect(asks).toHaveLength(1);
    expect(asks[0]).toMatchObject({ region: 'us-east-1', capacityTokens: 30, refillTokens: 3 });
    replicate();
    // The idle regions' reconcilers give: each holds its initial third, far above its floor.
    const west = await answerEscrowAsks(inputFor(1));
    const south = await answerEscrowAsks(inputFor(2));
    expect(west).toMatchObject({ read: 1, gave: 1, skipped: [] });
    expect(south.gave).toBe(1);
    replicate();
    // East now counts the gifts: most of the refill is its own.
    const bucketId = east.bucketIdOf('plan', 'tenant');
    const before = await eastDemand(10);
    const item = (stores[0] as MemoryStore).escrowItems.get(bucketId)?.get('us-east-1');
    expect(item?.rate).toBeGreaterThan(0.8 * ESCROW_RATE_PARTS);
    // 2 tokens a second asked, at most a third of 3 a second before: now nearly all served.
    expect(before).toBeGreaterThanOrEqual(18);
    // The givers kept their floor and wrote only their own items.
    const westItem = (stores[1] as MemoryStore).escrowItems.get(bucketId)?.get('eu-west-1');
    expect(westItem?.given['us-east-1']?.rate).toBeGreaterThan(0);
    expect(westItem?.rate).toBeGreaterThan(0);
  }, 30_000);

  it('leaves alone asks whose sizes do not match the split, of another policy, too old, or its own', async () => {
    await eastDemand(20);
    replicate();
    const [ask] = [...(stores[1] as MemoryStore).escrowAsks.values()];
    if (ask === undefined) throw new Error('no ask');
    const store = stores[1] as MemoryStore;
    store.escrowAsks.clear();
    store.escrowAsks.set('forged', { ...ask, refillTokens: 30 });
    store.escrowAsks.set('other', { ...ask, bucketId: ask.bucketId.replace(/^plan/, 'other') });
    store.escrowAsks.set('old', {
      ...ask,
      region: 'ap-southeast-1',
      atMs: time.now() - ESCROW_ASK_MAX_AGE_MS - 1,
    });
    const out = await answerEscrowAsks(inputFor(1));
    expect(out.gave).toBe(0);
    expect(out.skipped.map((s) => s.reason)).toEqual([
      'its sizes do not match the split its bucket id names',
      'policy other is not an escrow policy',
      'older than five minutes',
    ]);
    expect(store.escrowCalls.writeEscrow).toBe(0);
    // East's reconciler does not answer its own ask.
    stores[0]?.escrowAsks.set('own', ask);
    expect((await answerEscrowAsks(inputFor(0))).gave).toBe(0);
  }, 30_000);

  it('answers at most maxBuckets buckets a run, and none without escrow policies', async () => {
    await eastDemand(20);
    replicate();
    const store = stores[1] as MemoryStore;
    expect((await answerEscrowAsks(inputFor(1, { maxBuckets: 0 }))).skipped).toHaveLength(1);
    expect(store.escrowCalls.readEscrow).toBe(0);
    const none = await answerEscrowAsks(
      inputFor(1, { policies: [{ ...plan, consistency: 'eventual' }] }),
    );
    expect(none).toEqual({ read: 0, gave: 0, skipped: [] });
  }, 30_000);
});
