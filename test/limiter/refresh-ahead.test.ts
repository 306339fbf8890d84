/**
 * The background lease (functions/limiter/pipeline.ts, `#maybeRefresh`),
 * driven through the pipeline itself so that the bucket's state can be
 * seen: a refresh whose read's answer was seen too late to lease from (the
 * container was frozen meanwhile) leaves the next request free to refresh at
 * once; only a bucket with nothing to lease waits one lead before the next.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../functions/config/resolve';
import { BucketCache } from '../../functions/limiter/bucket-cache';
import { bucketGeneration, bucketIdOf } from '../../functions/limiter/bucket-id';
import { FailureModes } from '../../functions/limiter/failure-modes';
import { Limiter } from '../../functions/limiter/limiter';
import { PendingWrites } from '../../functions/limiter/pending-writes';
import { Pipeline, type PolicyStore } from '../../functions/limiter/pipeline';
import { StoreGuard } from '../../functions/limiter/store-guard';
import { type LimiterCounters, NOOP_METRICS, zeroCounters } from '../../functions/limiter/types';
import { VirtualTime } from '../../sim/virtual-time';
import { configWith, LEASING_API } from './fixtures';
import { MemoryStore } from './memory-store';

const RTT_MS = 100;
const api = LEASING_API;
const policy = resolvePolicy(api);
const BUCKET = bucketIdOf('api', bucketGeneration(1, 1000), 'k');

let time: VirtualTime;
let store: MemoryStore;
let cache: BucketCache;
let pipeline: Pipeline;
/** Read answers wait this long while set (a container frozen while its read was out). */
let slowReadMs: number | undefined;

beforeEach(() => {
  time = new VirtualTime();
  store = new MemoryStore();
  slowReadMs = undefined;
  store.beforeAnswerAsync = (operation) =>
    time.sleep(operation === 'readView' && slowReadMs !== undefined ? slowReadMs : RTT_MS);
  cache = new BucketCache({ maxBuckets: 10 });
  const pending = new PendingWrites(10);
  const target: PolicyStore = {
    store,
    guard: new StoreGuard({ time, budgetMs: 150, coldBudgetMs: 1000, maxWaitMs: 3000 }),
    slot: 'us-east-1',
    consistent: false,
  };
  const counters: LimiterCounters = zeroCounters();
  pipeline = new Pipeline({
    now: () => time.now(),
    cache,
    pending,
    failureModes: new FailureModes(pending),
    metrics: NOOP_METRICS,
    counters,
    viewCacheMs: 250,
    blockedCache: true,
    storeOf: () => target,
  });
});

/** One request of the busy key, then 10 ms (100 requests/s). */
async function request(): Promise<string> {
  const outcome = await time.run(pipeline.run(policy, 'k', BUCKET, 1, true));
  expect(outcome.decision.allowed).toBe(true);
  await time.advance(10);
  return outcome.source;
}

describe('a background lease whose read was answered too late', () => {
  it('takes no lease from it and does not hold the next refresh back', async () => {
    for (let i = 0; i < 200; i++) await request();
    // From now on a read's answer is seen 1.5 s late. Requests go on until the next
    // background lease has sent its read, then stop (the container sleeps).
    slowReadMs = 1500;
    const reads = store.calls.readView;
    for (let i = 0; i < 500 && store.calls.readView === reads; i++) {
      expect(await request()).toBe('lease');
    }
    expect(store.calls.readView).toBe(reads + 1);
    const state = cache.peek(BUCKET)!;
    expect(state.refreshing).toBe(true);
    const writes = store.calls.applyWrite;
    await time.run(pipeline.settled());
    expect(state.refreshing).toBe(false);
    // No lease written from a view 1.5 s old, and no wait before the next refresh.
    expect(store.calls.applyWrite).toBe(writes);
    expect(state.refreshAfterMs).toBeLessThanOrEqual(time.now());
  });
});

describe('a background lease the bucket has nothing for', () => {
  it('holds the next refresh back by one lead', async () => {
    for (let i = 0; i < 200; i++) await request();
    // Another container of the region takes the bucket below half full: no more leases.
    const other = new Limiter({
      config: configWith([api]),
      region: 'us-east-1',
      store,
      time,
      log: () => undefined,
    });
    expect(
      (await time.run(other.limit({ policyId: 'api', key: 'k', costTokens: 900 }))).allowed,
    ).toBe(true);
    const reads = store.calls.readView;
    for (let i = 0; i < 500 && store.calls.readView === reads; i++) await request();
    const state = cache.peek(BUCKET)!;
    await time.run(pipeline.settled());
    expect(state.refreshing).toBe(false);
    expect(state.refreshAfterMs).toBeGreaterThan(time.now());
  });
});
