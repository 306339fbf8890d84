/**
 * Part 5: how the cost of a decision grows with the number of regions (slots
 * per bucket) and with the number of distinct keys.
 *
 * Regions: the store-traffic measurement (allowed-heavy, default caches) on a
 * global table of 1..6 emulated regions, next to the core's CPU time for a
 * view of that many slots. Keys: one container deciding once per key for up
 * to 100,000 keys against dynalite in a child process; it reports the heap the
 * container's caches hold (after a forced GC), table items and the time per
 * decision. Every run is bounded in count and in time.
 */

import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { Limiter } from '../functions/limiter/limiter';
import { createDynamoDbClient } from '../functions/store/client';
import { DynamoDbStore } from '../functions/store/dynamodb-store';
import { SdkTransport } from '../functions/store/sdk-transport';
import { BENCH_REGIONS, measureDecisionCost } from './decision-cost';
import { startDynaliteChild } from './dynalite-child';
import { BENCH_TABLE, benchConfig, StoreHarness } from './harness';
import { type Summary, summarize } from './stats';
import { runTrafficCase, TRAFFIC_VARIANTS, TRAFFIC_WORKLOADS } from './store-traffic';

/** One point of the regions sweep. */
export interface RegionScalePoint {
  readonly regions: number;
  /** Core `decide` CPU time for a view of `regions` slots (ns). */
  readonly decideNs: Summary;
  readonly writesPer1000: number;
  readonly readsPer1000: number;
  readonly rwruPer1000: number;
  readonly usdPerMillionDecisions: number;
  /** Wall time per decision through the limiter and emulated DynamoDB (µs, sequential). */
  readonly wallMicrosecondsPerDecision: number;
}

/** One point of the keys sweep. */
export interface KeyScalePoint {
  /** Distinct keys. */
  readonly keys: number;
  /** Decisions planned (one per key, at least `minDecisions`). */
  readonly plannedDecisions: number;
  /** Decisions done before the time bound. */
  readonly decisions: number;
  readonly decisionsPerSecond: number;
  /** Latency of one decision at the run's concurrency (ms). */
  readonly latencyMs: Summary;
  /** Heap held after the run, minus before it, after a forced GC (bytes). */
  readonly heapDeltaBytes: number;
  /** Heap per cached bucket, from 1,000 keys on (below, GC noise dominates). */
  readonly heapBytesPerCachedBucket?: number;
  /** Buckets the container caches (bounded by its `maxBuckets`). */
  readonly cachedBuckets: number;
  /** Items in the table after the run. */
  readonly tableItems: number;
  /** Whether the time bound cut the run short. */
  readonly cutByTime: boolean;
}

/** Result of part 5. */
export interface ScaleResult {
  readonly regionsSweep: readonly RegionScalePoint[];
  readonly keysSweep: readonly KeyScalePoint[];
  readonly keysConcurrency: number;
  readonly maxCachedBuckets: number;
}

/** Options of {@link measureScale}. */
export interface ScaleOptions {
  readonly regionCounts: readonly number[];
  readonly regionWarmupDecisions: number;
  readonly regionMeasuredDecisions: number;
  readonly cpuIterations: number;
  readonly keyCounts: readonly number[];
  /** Fewest decisions per keys point (keys are cycled). */
  readonly minDecisions: number;
  /** Concurrent decisions in the keys sweep. */
  readonly concurrency: number;
  /** Time bound of one keys point (ms). */
  readonly keysTimeBudgetMs: number;
}

/** The container's bucket cache bound used in the keys sweep (the Limiter default). */
const MAX_CACHED_BUCKETS = 10_000;

/** Fewest cached buckets for a per-bucket heap figure; below it GC noise dominates. */
const MIN_BUCKETS_FOR_HEAP_PER_BUCKET = 1_000;

/** Runs both sweeps. */
export async function measureScale(options: ScaleOptions): Promise<ScaleResult> {
  const regionsSweep: RegionScalePoint[] = [];
  const workload = TRAFFIC_WORKLOADS.find((w) => w.id === 'allowed-heavy');
  const variant = TRAFFIC_VARIANTS.find((v) => v.id === 'view-cache');
  if (workload === undefined || variant === undefined) throw new Error('missing standard workload');
  for (const n of options.regionCounts) {
    const cpu = measureDecisionCost({
      iterations: options.cpuIterations,
      warmupIterations: Math.ceil(options.cpuIterations / 4),
      slotCounts: [n],
    });
    const decide = cpu.timings.find((t) => t.operation === 'decide');
    const harness = await StoreHarness.start(BENCH_REGIONS.slice(0, n));
    try {
      const c = await runTrafficCase(harness, workload, variant, {
        warmupDecisions: options.regionWarmupDecisions,
        measuredDecisions: options.regionMeasuredDecisions,
      });
      regionsSweep.push({
        regions: n,
        decideNs: (decide as NonNullable<typeof decide>).nanoseconds,
        writesPer1000: c.cost.writesPer1000,
        readsPer1000: c.cost.readsPer1000,
        rwruPer1000: c.cost.rwruPer1000,
        usdPerMillionDecisions: c.cost.usdPerMillionDecisions,
        wallMicrosecondsPerDecision: c.wallMicrosecondsPerDecision,
      });
    } finally {
      await harness.stop();
    }
  }
  const keysSweep: KeyScalePoint[] = [];
  for (const keys of options.keyCounts) keysSweep.push(await keysPoint(keys, options));
  return {
    regionsSweep,
    keysSweep,
    keysConcurrency: options.concurrency,
    maxCachedBuckets: MAX_CACHED_BUCKETS,
  };
}

/** A function that forces a full GC (exposed at run time; no node flag needed). */
function forceGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

async function keysPoint(keys: number, options: ScaleOptions): Promise<KeyScalePoint> {
  const gc = forceGc();
  const region = BENCH_REGIONS[0] as string;
  const db = await startDynaliteChild(BENCH_TABLE);
  const client = createDynamoDbClient({
    region,
    endpoint: db.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    budgetMs: 5_000,
    maxSockets: options.concurrency,
  });
  try {
    const generous = {
      capacityTokens: 1_000_000,
      refillTokens: 1_000_000,
      onStoreError: 'closed',
    } as const;
    const config = benchConfig(
      [region],
      [
        { id: 'keys', ...generous },
        { id: 'warm', ...generous },
      ],
    );
    const store = new DynamoDbStore({
      transport: new SdkTransport(client),
      tableName: BENCH_TABLE,
    });
    // Warm the client's connections and code paths before the heap baseline.
    const warm = new Limiter({ config, region, store, maxBuckets: MAX_CACHED_BUCKETS });
    for (let i = 0; i < 50; i++)
      await warm.limit({ policyId: 'warm', key: `warm${i}`, costTokens: 1 });
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const limiter = new Limiter({
      config,
      region,
      store,
      maxBuckets: MAX_CACHED_BUCKETS,
      storeBudgetMs: 5_000,
    });
    const planned = Math.max(keys, options.minDecisions);
    const latencies = new Float64Array(planned);
    let next = 0;
    let done = 0;
    const startedMs = performance.now();
    const deadlineMs = startedMs + options.keysTimeBudgetMs;
    const worker = async () => {
      while (next < planned && performance.now() < deadlineMs) {
        const i = next++;
        const t0 = performance.now();
        await limiter.limit({ policyId: 'keys', key: `key-${i % keys}`, costTokens: 1 });
        latencies[done++] = performance.now() - t0;
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const elapsedMs = performance.now() - startedMs;
    gc();
    const heapDeltaBytes = process.memoryUsage().heapUsed - heapBefore;
    const cachedBuckets = Math.min(keys, MAX_CACHED_BUCKETS, done);
    const tableItems = await countItems(client, 'keys#');
    // Keep the limiter alive until after the heap was measured.
    if (limiter.counters.decisions < 0) throw new Error('unreachable');
    return {
      keys,
      plannedDecisions: planned,
      decisions: done,
      decisionsPerSecond: (done * 1000) / elapsedMs,
      latencyMs: summarize(latencies.subarray(0, done)),
      heapDeltaBytes,
      ...(cachedBuckets >= MIN_BUCKETS_FOR_HEAP_PER_BUCKET
        ? { heapBytesPerCachedBucket: heapDeltaBytes / cachedBuckets }
        : {}),
      cachedBuckets,
      tableItems,
      cutByTime: done < planned,
    };
  } finally {
    client.destroy();
    await db.stop();
  }
}

/** Items of the bench table whose bucket id starts with `pkPrefix`. */
async function countItems(
  client: ReturnType<typeof createDynamoDbClient>,
  pkPrefix: string,
): Promise<number> {
  let count = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: BENCH_TABLE,
        Select: 'COUNT',
        FilterExpression: 'begins_with(pk, :p)',
        ExpressionAttributeValues: { ':p': { S: pkPrefix } },
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      }),
    );
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return count;
}
