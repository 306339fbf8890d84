/**
 * Part 2: store traffic and cost per 1,000 decisions, measured through the
 * real Limiter on emulated DynamoDB (three regions replicating like a global
 * table), counted at a proxy in front of each region.
 *
 * Why a simulated clock: the load is "steady" in the limiter's own time, so the
 * counts depend only on the workload and the limiter's rules, not on how busy
 * this machine is. Requests are issued one after the other, spread round-robin
 * over the regions and the keys; every region runs one container (Limiter).
 * Sequential issue means no conditional-write races: the figures are the
 * steady-state floor, contention adds conditional retries on top.
 *
 * For every decision answered without the store (a blocked caller, a lease),
 * the proxies are checked to have seen no request meanwhile: that is the
 * "no store call for a caller already refused and still blocked" target.
 */

import type { LeasePolicy } from '../functions/core';
import { Limiter } from '../functions/limiter/limiter';
import type { DecisionSource } from '../functions/limiter/types';
import { type CostEstimate, estimateCost, US_EAST_1_ON_DEMAND } from './cost-model';
import type { BilledTraffic } from './counting-proxy';
import { BENCH_REGIONS } from './decision-cost';
import { benchConfig, StoreHarness } from './harness';
import { rateLimiterDynamoTable, referenceLimiter } from './rate-limiter-dynamo';

/** A steady load shape. */
export interface TrafficWorkload {
  readonly id: 'allowed-heavy' | 'refused-heavy' | 'mixed';
  readonly description: string;
  /** Distinct keys, requested round-robin. */
  readonly keys: number;
  /** Requests per second over all regions and keys (simulated time). */
  readonly requestsPerSecond: number;
  readonly capacityTokens: number;
  /** Refill, tokens per second. */
  readonly refillPerSecond: number;
  /** Fewest warm-up decisions for the buckets to reach their steady level (simulated time × rate). */
  readonly settleDecisions: number;
}

/** A limiter setting. */
export interface TrafficVariant {
  readonly id: string;
  readonly description: string;
  /** How long other slots are served from the container's cache (0: read on every decision). */
  readonly viewCacheMs: number;
  /** The policy's lease; absent: the default one; `false`: none. */
  readonly lease?: LeasePolicy | false;
}

/** The three standard workloads. */
export const TRAFFIC_WORKLOADS: readonly TrafficWorkload[] = [
  {
    id: 'allowed-heavy',
    description: '10 keys × 100 req/s, capacity 1000, refill 200/s (all admitted)',
    keys: 10,
    requestsPerSecond: 1000,
    capacityTokens: 1000,
    refillPerSecond: 200,
    settleDecisions: 300,
  },
  {
    id: 'mixed',
    description: '10 keys × 100 req/s, capacity 20, refill 50/s (about half admitted)',
    keys: 10,
    requestsPerSecond: 1000,
    capacityTokens: 20,
    refillPerSecond: 50,
    settleDecisions: 600,
  },
  {
    id: 'refused-heavy',
    description: '1 hot key × 1000 req/s, capacity 10, refill 5/s (≈0.5 % admitted)',
    keys: 1,
    requestsPerSecond: 1000,
    capacityTokens: 10,
    refillPerSecond: 5,
    // Cached views let each region spend the full bucket at first; the debt takes seconds to repay.
    settleDecisions: 5_000,
  },
];

/** The limiter settings compared. */
export const TRAFFIC_VARIANTS: readonly TrafficVariant[] = [
  {
    id: 'no-cache',
    description: 'view read on every decision, no lease',
    viewCacheMs: 0,
    lease: false,
  },
  {
    id: 'view-cache',
    description: 'view cached 250 ms (the default), no lease',
    viewCacheMs: 250,
    lease: false,
  },
  {
    id: 'default',
    description: 'the defaults: view cache, lease sized to demand (up to C/10, 2 s)',
    viewCacheMs: 250,
  },
  {
    id: 'lease-10',
    description: 'view cache + lease of up to 10 tokens, 1 s',
    viewCacheMs: 250,
    lease: { maxTokens: 10, ttlMs: 1000, maxShareOfLevel: 0.1 },
  },
  {
    id: 'lease-25',
    description: 'view cache + lease of up to 25 tokens, 1 s',
    viewCacheMs: 250,
    lease: { maxTokens: 25, ttlMs: 1000, maxShareOfLevel: 0.1 },
  },
];

/** What one (workload, variant) measured. */
export interface TrafficCase {
  readonly workload: TrafficWorkload['id'];
  readonly variant: string;
  readonly regions: number;
  readonly decisions: number;
  readonly admitted: number;
  readonly refused: number;
  /** Decisions by source (store, lease, blocked...). */
  readonly sources: Partial<Record<DecisionSource, number>>;
  /** Billed traffic counted at the proxies. */
  readonly traffic: BilledTraffic;
  /** Store writes (calls incl. rejected) per admitted request. */
  readonly writesPerAdmitted: number;
  /** Store calls seen by the proxies while a decision was answered from the blocked-until cache. */
  readonly storeCallsWhileBlocked: number;
  /** Store calls seen by the proxies while a decision was served from a lease. */
  readonly storeCallsWhileLeased: number;
  /** Decisions answered from the blocked-until cache. */
  readonly blockedDecisions: number;
  readonly conditionalRetries: number;
  /**
   * Tokens handed back during the measured part: a take is sent before the
   * level is known, and what the level then refuses goes back in a write of
   * its own (one per refused request of one token, unless it rides on a
   * later write).
   */
  readonly handedBackTokens: number;
  /** Wall time per measured decision, sequential, through the proxies and emulator (µs). */
  readonly wallMicrosecondsPerDecision: number;
  readonly cost: CostEstimate;
}

/** What the reference limiter (RateLimiterDynamo) sent for the same kind of load. */
export interface ReferenceTrafficCase {
  readonly workload: TrafficWorkload['id'];
  /** `rlf` (defaults) or `rlf-mem` (in-memory block of refused keys). */
  readonly variant: 'rlf' | 'rlf-mem';
  readonly decisions: number;
  readonly admitted: number;
  readonly traffic: BilledTraffic;
  readonly writesPerAdmitted: number;
  readonly cost: CostEstimate;
}

/** Result of part 2. */
export interface StoreTrafficResult {
  readonly regions: readonly string[];
  readonly warmupDecisions: number;
  readonly measuredDecisions: number;
  readonly priceSheet: typeof US_EAST_1_ON_DEMAND;
  readonly cases: readonly TrafficCase[];
  /** RateLimiterDynamo on the same emulated table, real clock, same proxies. */
  readonly reference: readonly ReferenceTrafficCase[];
}

/** Options of {@link measureStoreTraffic}. */
export interface StoreTrafficOptions {
  readonly warmupDecisions: number;
  readonly measuredDecisions: number;
  readonly regionCount?: number;
  readonly workloads?: readonly TrafficWorkload[];
  /** Ids of the limiter settings to run. @default all of {@link TRAFFIC_VARIANTS} */
  readonly variants?: readonly string[];
}

const POLICY_ID = 'bench';

/** Runs every workload × variant on fresh buckets of one emulated global table. */
export async function measureStoreTraffic(
  options: StoreTrafficOptions,
): Promise<StoreTrafficResult> {
  const regions = BENCH_REGIONS.slice(0, options.regionCount ?? 3);
  const harness = await StoreHarness.start(regions);
  const cases: TrafficCase[] = [];
  const reference: ReferenceTrafficCase[] = [];
  try {
    for (const workload of options.workloads ?? TRAFFIC_WORKLOADS) {
      const variants = TRAFFIC_VARIANTS.filter(
        (v) => options.variants === undefined || options.variants.includes(v.id),
      );
      for (const variant of variants) {
        cases.push(await runTrafficCase(harness, workload, variant, options));
      }
    }
    await harness.emulator.createTable(rateLimiterDynamoTable());
    for (const [workloadId, variant] of REFERENCE_CASES) {
      const workload = TRAFFIC_WORKLOADS.find((w) => w.id === workloadId) as TrafficWorkload;
      reference.push(await runReferenceCase(harness, workload, variant, options));
    }
  } finally {
    await harness.stop();
  }
  return {
    regions,
    warmupDecisions: options.warmupDecisions,
    measuredDecisions: options.measuredDecisions,
    priceSheet: US_EAST_1_ON_DEMAND,
    cases,
    reference,
  };
}

/** The reference limiter's cases: its window semantics make "mixed" incomparable. */
const REFERENCE_CASES: readonly (readonly [TrafficWorkload['id'], 'rlf' | 'rlf-mem'])[] = [
  ['allowed-heavy', 'rlf'],
  ['refused-heavy', 'rlf'],
  ['refused-heavy', 'rlf-mem'],
];

/**
 * RateLimiterDynamo under the same request mix, in the first region. It reads
 * the real clock, so the requests are issued back to back rather than paced;
 * its window is sized so that the admitted share matches the workload's
 * (everything, or capacity-per-window for the hot key).
 */
async function runReferenceCase(
  harness: StoreHarness,
  workload: TrafficWorkload,
  variant: 'rlf' | 'rlf-mem',
  options: Pick<StoreTrafficOptions, 'warmupDecisions' | 'measuredDecisions'>,
): Promise<ReferenceTrafficCase> {
  const region = harness.regions[0];
  if (region === undefined) throw new Error('no region');
  const allAdmitted = workload.id === 'allowed-heavy';
  const limiter = referenceLimiter({
    endpoint: region.proxy.endpoint,
    region: region.name,
    points: allAdmitted ? 1_000_000 : workload.capacityTokens,
    durationSeconds: allAdmitted
      ? 60
      : Math.ceil(workload.capacityTokens / workload.refillPerSecond),
    inMemoryBlock: variant === 'rlf-mem',
    keyPrefix: `${workload.id}/${variant}/${Date.now()}/`,
  });
  try {
    let admitted = 0;
    let before = harness.snapshot();
    const total = options.warmupDecisions + options.measuredDecisions;
    for (let i = 0; i < total; i++) {
      if (i === options.warmupDecisions) before = harness.snapshot();
      const decision = await limiter.consume(`k${i % workload.keys}`);
      if (i >= options.warmupDecisions && decision.allowed) admitted++;
    }
    await harness.emulator.settle();
    const traffic = harness.billedSince(before);
    const decisions = options.measuredDecisions;
    return {
      workload: workload.id,
      variant,
      decisions,
      admitted,
      traffic,
      writesPerAdmitted:
        admitted === 0 ? 0 : (traffic.writeCalls + traffic.failedConditionalWrites) / admitted,
      cost: estimateCost({ decisions, ...traffic }, harness.regions.length),
    };
  } finally {
    limiter.close();
  }
}

/**
 * Runs one workload with one limiter setting on fresh buckets of `harness`
 * (one Limiter per region) and reports what the proxies counted.
 */
export async function runTrafficCase(
  harness: StoreHarness,
  workload: TrafficWorkload,
  variant: TrafficVariant,
  options: Pick<StoreTrafficOptions, 'warmupDecisions' | 'measuredDecisions'>,
): Promise<TrafficCase> {
  const regionNames = harness.regions.map((r) => r.name);
  const config = benchConfig(regionNames, [
    {
      id: POLICY_ID,
      capacityTokens: workload.capacityTokens,
      refillTokens: workload.refillPerSecond,
      refillIntervalMs: 1000,
      onStoreError: 'closed',
      ...(variant.lease === undefined ? {} : { lease: variant.lease }),
    },
  ]);
  const stepMs = 1000 / workload.requestsPerSecond;
  const startMs = Date.now();
  let tick = 0;
  const clock = () => Math.floor(startMs + tick * stepMs);
  const limiters = harness.regions.map(
    (r) =>
      new Limiter({
        config,
        region: r.name,
        store: r.store,
        clock,
        viewCacheMs: variant.viewCacheMs,
        storeBudgetMs: 2_000,
      }),
  );
  const keyPrefix = `${workload.id}/${variant.id}/${startMs}`;
  const warmup = Math.max(options.warmupDecisions, workload.settleDecisions);
  const total = warmup + options.measuredDecisions;
  let admitted = 0;
  let refused = 0;
  let blockedDecisions = 0;
  let storeCallsWhileBlocked = 0;
  let storeCallsWhileLeased = 0;
  const sources: Partial<Record<DecisionSource, number>> = {};
  let before = harness.snapshot();
  const retriesBefore = () => limiters.reduce((s, l) => s + l.counters.conditionalRetries, 0);
  const handedBackBefore = () => limiters.reduce((s, l) => s + l.counters.handedBackTokens, 0);
  let retriesAtStart = 0;
  let handedBackAtStart = 0;
  let measureStartedMs = performance.now();
  for (let i = 0; i < total; i++) {
    tick = i;
    if (i === warmup) {
      before = harness.snapshot();
      retriesAtStart = retriesBefore();
      handedBackAtStart = handedBackBefore();
      measureStartedMs = performance.now();
    }
    const measuring = i >= warmup;
    const limiter = limiters[i % limiters.length] as Limiter;
    const key = `${keyPrefix}/k${i % workload.keys}`;
    const callsBefore = measuring ? totalCalls(harness) : 0;
    const result = await limiter.limit({ policyId: POLICY_ID, key, costTokens: 1 });
    if (!measuring) continue;
    if (result.allowed) admitted++;
    else refused++;
    sources[result.source] = (sources[result.source] ?? 0) + 1;
    if (result.source === 'blocked') {
      blockedDecisions++;
      storeCallsWhileBlocked += totalCalls(harness) - callsBefore;
    } else if (result.source === 'lease') {
      storeCallsWhileLeased += totalCalls(harness) - callsBefore;
    }
  }
  const wallMs = performance.now() - measureStartedMs;
  await harness.emulator.settle();
  const traffic = harness.billedSince(before);
  const decisions = options.measuredDecisions;
  return {
    workload: workload.id,
    variant: variant.id,
    regions: regionNames.length,
    decisions,
    admitted,
    refused,
    sources,
    traffic,
    writesPerAdmitted:
      admitted === 0 ? 0 : (traffic.writeCalls + traffic.failedConditionalWrites) / admitted,
    storeCallsWhileBlocked,
    storeCallsWhileLeased,
    blockedDecisions,
    conditionalRetries: retriesBefore() - retriesAtStart,
    handedBackTokens: handedBackBefore() - handedBackAtStart,
    wallMicrosecondsPerDecision: (wallMs * 1000) / decisions,
    cost: estimateCost({ decisions, ...traffic }, regionNames.length),
  };
}

function totalCalls(harness: StoreHarness): number {
  let calls = 0;
  for (const region of harness.regions) {
    for (const c of Object.values(region.proxy.snapshot())) {
      calls += c.calls + c.failedConditional + c.errors;
    }
  }
  return calls;
}
