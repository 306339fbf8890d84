/**
 * Part 3: requests per second and latency through a local edge endpoint, for
 * three deciders behind the same HTTP front (the local runtime's CloudFront-
 * like edge server) and the same echo origin, on the same DynamoDB:
 *
 * - `ours`: the bundled Lambda@Edge handler, built and loaded the way
 *   `npm start` loads it;
 * - `rlf` / `rlf-mem`: rate-limiter-flexible's RateLimiterDynamo, without and
 *   with its in-memory block of refused keys;
 * - `none`: no limiter at all (the ceiling of this front and origin).
 *
 * Why not `startLocal` itself: its emulated regions put a replicating proxy in
 * front of each dynalite that serialises every write of a region and reads it
 * back; on this machine that proxy, not either limiter, caps the write rate,
 * and a single-region benchmark needs no replication. So the store is one
 * plain dynalite in a child process (its own core, as a remote table would
 * be), shared by every decider. Metrics (EMF) are off, as under `npm start`.
 *
 * The load generator (autocannon) runs in a child process; each run is
 * bounded in count and in time, after a short warm-up with the same keys.
 * The deciders compared are measured interleaved (A B B A, two segments
 * each), so that the shared machine's load drifting during the run weighs
 * on each alike.
 *
 * Throughput is measured closed-loop (as fast as answers come); since a
 * faster decider then also queues more requests, tail latency is compared
 * again at an equal offered load in the allowed workloads: open loop, half
 * the slower decider's throughput, a load both sustain, so that the tail
 * shows each decider's own latency rather than how close it runs to its
 * knee. Absolute figures depend on this noisy shared machine; the report
 * compares ratios from the same run only.
 */

import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import type { PolicyConfig } from '../functions/config/schema';
import { createDynamoDbClient } from '../functions/store/client';
import { startEchoOrigin } from '../local/echo-origin';
import { type EdgeServer, startEdgeServer } from '../local/edge-server';
import { buildBundles, loadRegionFunctions } from '../local/functions';
import { emptyCounters } from '../local/status';
import { startDynaliteChild } from './dynalite-child';
import { BENCH_TABLE, benchConfig } from './harness';
import { combineLoads, LoadGenerator, type LoadSpec, type LoadSummary } from './load/load';
import {
  PASS_THROUGH_EDGE,
  rateLimiterDynamoTable,
  referenceEdgeFunctions,
  referenceLimiter,
} from './rate-limiter-dynamo';
import { ratio } from './stats';

/** The deciders compared. */
export const E2E_VARIANTS = ['none', 'ours', 'rlf', 'rlf-mem'] as const;
/** One decider. */
export type E2eVariant = (typeof E2E_VARIANTS)[number];

/** A workload of the end-to-end benchmark. */
export interface E2eWorkload {
  readonly id: 'allowed-hot' | 'allowed-cold' | 'refused-heavy';
  readonly description: string;
  /** Our policy (its id is the path prefix). */
  readonly policy: PolicyConfig;
  /** The reference limiter's fixed window. */
  readonly reference: { readonly points: number; readonly durationSeconds: number };
  /** Distinct keys (cycled by the load generator). */
  readonly keys: number;
  /**
   * Deciders run on it. RateLimiterDynamo's in-memory block only acts on
   * refused keys, so in an all-admitted workload it is the same code path as
   * its defaults and is not run again.
   */
  readonly variants: readonly E2eVariant[];
}

/** One decider's run. */
export interface E2eRun {
  readonly variant: E2eVariant;
  readonly load: LoadSummary;
  /** Responses 200 (forwarded to the origin). */
  readonly forwarded: number;
  /** Responses 429. */
  readonly refused: number;
  /** Any other status, connection errors and timeouts. */
  readonly failures: number;
  /** Ours only: decisions the store-error failure mode took (the store missed its time budget). */
  readonly fallbacks?: number;
  /** Requests per second of each measured segment, in run order: how much the machine drifted. */
  readonly segmentRequestsPerSecond: readonly number[];
  /**
   * CPU time per response of this process (µs): the edge front, the decider
   * and the origin; the load generator and the store run elsewhere. CPU time,
   * unlike throughput, hardly depends on what else the machine is doing.
   */
  readonly frontCpuMicrosPerRequest?: number;
  /** CPU time per response of the store's process (µs): the DynamoDB work each decider causes. */
  readonly storeCpuMicrosPerRequest?: number;
}

/** Tail latency of ours and RateLimiterDynamo at the same offered load. */
export interface EqualLoadComparison {
  /** Offered load of both runs (req/s). */
  readonly requestsPerSecond: number;
  readonly ours: E2eRun;
  readonly rlf: E2eRun;
  /** Our p99 over RateLimiterDynamo's at that load. */
  readonly p99OursOverRlf: number | undefined;
}

/** Ratios of one workload, from the same run. */
export interface E2eRatios {
  /** Our requests/s over RateLimiterDynamo's (default settings). */
  readonly throughputOursOverRlf: number | undefined;
  /** Our p99 over RateLimiterDynamo's (lower is better). */
  readonly p99OursOverRlf: number | undefined;
  readonly throughputOursOverRlfMem: number | undefined;
  readonly p99OursOverRlfMem: number | undefined;
  /** Our requests/s over the no-limiter ceiling. */
  readonly throughputOursOverNone: number | undefined;
  /** Our CPU per request (front + decider + store processes) over RateLimiterDynamo's. */
  readonly cpuPerRequestOursOverRlf: number | undefined;
}

/** One workload's runs and ratios. */
export interface E2eWorkloadResult {
  readonly workload: E2eWorkload['id'];
  readonly description: string;
  readonly runs: readonly E2eRun[];
  readonly ratios: E2eRatios;
  /** Allowed workloads only: the p99 comparison at equal offered load. */
  readonly equalLoad?: EqualLoadComparison;
}

/** Result of part 3. */
export interface EndToEndResult {
  readonly region: string;
  readonly connections: number;
  readonly warmupSeconds: number;
  /** Length of one measured segment (s); each contender runs two, interleaved. */
  readonly segmentSeconds: number;
  /** Length of the no-limiter run (s). */
  readonly noneSeconds: number;
  /** Segment length of the equal-load runs (s); absent when they were skipped. */
  readonly equalLoadSegmentSeconds?: number;
  readonly maxRequests: number;
  /** Offered load of the equal-load runs, as a share of the slower decider's throughput. */
  readonly equalLoadShare: number;
  /** Our handler's store budget in these runs (ms). */
  readonly storeBudgetMs: number;
  readonly workloads: readonly E2eWorkloadResult[];
}

/** Options of {@link measureEndToEnd}. */
export interface EndToEndOptions {
  readonly connections: number;
  /** Warm-up of each decider (s; autocannon works in whole seconds). */
  readonly warmupSeconds: number;
  /** One measured segment (s); each contender runs two, interleaved A B … B A. */
  readonly segmentSeconds: number;
  /** The no-limiter run (s). */
  readonly noneSeconds: number;
  /** Segment of the equal-load runs (s); 0 skips them. */
  readonly equalLoadSegmentSeconds: number;
  readonly maxRequests: number;
  /** Keys of the allowed-hot workload. */
  readonly hotKeys: number;
  /** Keys of the allowed-cold workload. */
  readonly coldKeys: number;
}

/**
 * The workloads: most requests allowed, with few hot keys (each key seen
 * often enough for the 250 ms view cache to serve its other slots) and with
 * many cold keys (every request reads its bucket first); and most refused
 * (one hot key far over its limit).
 */
export function e2eWorkloads(hotKeys: number, coldKeys: number): E2eWorkload[] {
  const open: PolicyConfig = {
    id: 'open',
    capacityTokens: 1_000_000,
    refillTokens: 1_000_000,
    refillIntervalMs: 1000,
    onStoreError: 'open',
  };
  const allowedVariants: readonly E2eVariant[] = ['none', 'ours', 'rlf'];
  return [
    {
      id: 'allowed-hot',
      description: `${hotKeys} hot keys, capacity far above the load: every request admitted`,
      policy: open,
      reference: { points: 1_000_000, durationSeconds: 60 },
      keys: hotKeys,
      variants: allowedVariants,
    },
    {
      id: 'allowed-cold',
      description: `${coldKeys} keys cycled, each seen too seldom for the view cache: every request admitted`,
      policy: open,
      reference: { points: 1_000_000, durationSeconds: 60 },
      keys: coldKeys,
      variants: allowedVariants,
    },
    {
      id: 'refused-heavy',
      description:
        'one hot key, capacity 10, 1 token/s (RLF: 10 points per 10 s): almost all refused',
      policy: {
        id: 'hot',
        capacityTokens: 10,
        refillTokens: 1,
        refillIntervalMs: 1000,
        onStoreError: 'open',
      },
      reference: { points: 10, durationSeconds: 10 },
      keys: 1,
      variants: E2E_VARIANTS,
    },
  ];
}

const KEY_HEADER = 'x-api-key';

/** Offered load of the equal-load comparison, as a share of the slower decider's throughput. */
export const EQUAL_LOAD_SHARE = 0.5;

/** Store budget of our edge handler in this benchmark (ms); see {@link measureEndToEnd}. */
export const E2E_STORE_BUDGET_MS = 1_000;

/**
 * Runs every workload against every decider, one after the other.
 *
 * Our handler runs with a store budget of {@link E2E_STORE_BUDGET_MS} instead
 * of the edge default (150 ms): on a saturated 2-core machine queueing alone
 * can exceed 150 ms, and a decision taken by the failure mode (open) costs no
 * store call, which would flatter our throughput. Fallbacks are counted and
 * reported anyway.
 */
export async function measureEndToEnd(options: EndToEndOptions): Promise<EndToEndResult> {
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const region = 'us-east-1';
  const workloads = e2eWorkloads(options.hotKeys, options.coldKeys);
  const config = benchConfig(
    [region],
    [...new Map(workloads.map((w) => [w.policy.id, w.policy])).values()],
    { storeBudgetMs: E2E_STORE_BUDGET_MS },
  );
  const servers: EdgeServer[] = [];
  const closers: (() => void)[] = [];
  const stops: (() => Promise<void>)[] = [];
  const generator = LoadGenerator.start();
  try {
    const db = await startDynaliteChild(BENCH_TABLE);
    stops.push(() => db.stop());
    const admin = createDynamoDbClient({
      region,
      endpoint: db.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await admin.send(new CreateTableCommand(rateLimiterDynamoTable()));
    admin.destroy();
    const origin = await startEchoOrigin(0);
    stops.push(() => origin.stop());
    const storeEndpoints = { [region]: db.endpoint };
    const storeEndpoint = db.endpoint;
    const edgeOf = async (
      functions: Parameters<typeof startEdgeServer>[0]['functions'],
      counters = emptyCounters(),
      observe?: Parameters<typeof startEdgeServer>[0]['onOutcome'],
    ) => {
      const server = await startEdgeServer({
        region,
        port: 0,
        functions,
        originUrl: origin.url,
        counters,
        ...(observe === undefined ? {} : { onOutcome: observe }),
      });
      servers.push(server);
      return server.url;
    };
    const bundles = await buildBundles(config, storeEndpoints);
    const ours = loadRegionFunctions(bundles, {
      config,
      region,
      storeEndpoints,
      log: () => undefined,
    });
    const ourCounters = emptyCounters();
    const oursUrl = await edgeOf(ours.edge, ourCounters, (outcome) =>
      ours.observe?.(outcome, ourCounters),
    );
    const noneUrl = await edgeOf(PASS_THROUGH_EDGE);
    /**
     * Measures the given deciders interleaved, A B … B A, each for half the
     * duration per segment, so that a drift of the machine's load during the
     * measurement weighs on every decider alike.
     */
    const interleaved = async (
      specs: ReadonlyMap<E2eVariant, Omit<LoadSpec, 'durationSeconds' | 'maxRequests'>>,
      variants: readonly E2eVariant[],
      segmentSeconds: number,
      rate?: number,
    ): Promise<E2eRun[]> => {
      const segments = new Map<E2eVariant, LoadSummary[]>();
      const fallbacks = new Map<E2eVariant, number>();
      const frontCpu = new Map<E2eVariant, number>();
      const storeCpu = new Map<E2eVariant, number>();
      const add = (m: Map<E2eVariant, number>, v: E2eVariant, x: number) =>
        m.set(v, (m.get(v) ?? 0) + x);
      const order = variants.length === 1 ? variants : [...variants, ...[...variants].reverse()];
      for (const variant of order) {
        const before = ourCounters.fallbacks;
        const frontBefore = process.cpuUsage();
        const storeBefore = await db.cpuMicros();
        const load = await generator.run({
          ...(specs.get(variant) as LoadSpec),
          durationSeconds: segmentSeconds,
          maxRequests: Math.ceil(options.maxRequests / 2),
          ...(rate === undefined ? {} : { overallRate: rate }),
        });
        const front = process.cpuUsage(frontBefore);
        add(frontCpu, variant, front.user + front.system);
        add(storeCpu, variant, (await db.cpuMicros()) - storeBefore);
        segments.set(variant, [...(segments.get(variant) ?? []), load]);
        if (variant === 'ours')
          fallbacks.set(variant, (fallbacks.get(variant) ?? 0) + ourCounters.fallbacks - before);
      }
      return variants.map((variant) => {
        const parts = segments.get(variant) ?? [];
        const load = combineLoads(parts);
        const perRequest = (m: Map<E2eVariant, number>) =>
          load.requests > 0 ? (m.get(variant) ?? 0) / load.requests : undefined;
        const run = summarizeRun(
          variant,
          load,
          fallbacks.get(variant),
          parts.map((p) => p.requestsPerSecond),
        );
        const front = perRequest(frontCpu);
        const store = perRequest(storeCpu);
        return {
          ...run,
          ...(front === undefined ? {} : { frontCpuMicrosPerRequest: front }),
          ...(store === undefined ? {} : { storeCpuMicrosPerRequest: store }),
        };
      });
    };
    const results: E2eWorkloadResult[] = [];
    for (const workload of workloads) {
      const specs = new Map<E2eVariant, Omit<LoadSpec, 'durationSeconds' | 'maxRequests'>>();
      for (const variant of workload.variants) {
        const prefix = `${workload.id}-${variant}-${Date.now()}-`;
        let url: string;
        if (variant === 'none') url = noneUrl;
        else if (variant === 'ours') url = oursUrl;
        else {
          const limiter = referenceLimiter({
            endpoint: storeEndpoint,
            region,
            points: workload.reference.points,
            durationSeconds: workload.reference.durationSeconds,
            inMemoryBlock: variant === 'rlf-mem',
            keyPrefix: prefix,
          });
          closers.push(() => limiter.close());
          url = await edgeOf(referenceEdgeFunctions(limiter, KEY_HEADER));
        }
        const spec = {
          url,
          path: `/${workload.policy.id}/item`,
          connections: options.connections,
          keyHeader: KEY_HEADER,
          keyPrefix: prefix,
          keyCount: workload.keys,
        };
        specs.set(variant, spec);
        await generator.run({
          ...spec,
          durationSeconds: options.warmupSeconds,
          maxRequests: options.maxRequests,
        });
      }
      const contenders = workload.variants.filter((v) => v !== 'none');
      const runs: E2eRun[] = [
        ...(workload.variants.includes('none')
          ? await interleaved(specs, ['none'], options.noneSeconds)
          : []),
        ...(await interleaved(specs, contenders, options.segmentSeconds)),
      ];
      let equalLoad: EqualLoadComparison | undefined;
      const oursRun = runs.find((r) => r.variant === 'ours');
      const rlfRun = runs.find((r) => r.variant === 'rlf');
      if (
        options.equalLoadSegmentSeconds > 0 &&
        workload.id !== 'refused-heavy' &&
        oursRun !== undefined &&
        rlfRun !== undefined
      ) {
        const rate = Math.max(
          1,
          Math.floor(
            EQUAL_LOAD_SHARE *
              Math.min(oursRun.load.requestsPerSecond, rlfRun.load.requestsPerSecond),
          ),
        );
        const [oursAtRate, rlfAtRate] = (await interleaved(
          specs,
          ['ours', 'rlf'],
          options.equalLoadSegmentSeconds,
          rate,
        )) as [E2eRun, E2eRun];
        equalLoad = {
          requestsPerSecond: rate,
          ours: oursAtRate,
          rlf: rlfAtRate,
          p99OursOverRlf: ratio(oursAtRate.load.latencyMs.p99, rlfAtRate.load.latencyMs.p99),
        };
      }
      results.push({
        workload: workload.id,
        description: workload.description,
        runs,
        ratios: ratiosOf(runs),
        ...(equalLoad === undefined ? {} : { equalLoad }),
      });
    }
    return {
      region,
      connections: options.connections,
      warmupSeconds: options.warmupSeconds,
      segmentSeconds: options.segmentSeconds,
      noneSeconds: options.noneSeconds,
      ...(options.equalLoadSegmentSeconds > 0
        ? { equalLoadSegmentSeconds: options.equalLoadSegmentSeconds }
        : {}),
      maxRequests: options.maxRequests,
      equalLoadShare: EQUAL_LOAD_SHARE,
      storeBudgetMs: E2E_STORE_BUDGET_MS,
      workloads: results,
    };
  } finally {
    await generator.stop();
    for (const server of servers) await server.stop();
    for (const close of closers) close();
    for (const stop of stops.reverse()) await stop();
  }
}

/** Counts a load summary's outcomes. */
export function summarizeRun(
  variant: E2eVariant,
  load: LoadSummary,
  fallbacks?: number,
  segmentRequestsPerSecond: readonly number[] = [load.requestsPerSecond],
): E2eRun {
  const forwarded = load.statusCounts['200'] ?? 0;
  const refused = load.statusCounts['429'] ?? 0;
  let other = 0;
  for (const [status, count] of Object.entries(load.statusCounts)) {
    if (status !== '200' && status !== '429') other += count;
  }
  return {
    variant,
    load,
    forwarded,
    refused,
    failures: other + load.errors + load.timeouts,
    ...(fallbacks === undefined ? {} : { fallbacks }),
    segmentRequestsPerSecond,
  };
}

/** The ratios of a workload's runs (undefined when a run is missing or empty). */
export function ratiosOf(runs: readonly E2eRun[]): E2eRatios {
  const get = (v: E2eVariant) => runs.find((r) => r.variant === v)?.load;
  const cpu = (v: E2eVariant) => {
    const run = runs.find((r) => r.variant === v);
    return run?.frontCpuMicrosPerRequest === undefined || run.storeCpuMicrosPerRequest === undefined
      ? undefined
      : run.frontCpuMicrosPerRequest + run.storeCpuMicrosPerRequest;
  };
  const ours = get('ours');
  const rlf = get('rlf');
  const rlfMem = get('rlf-mem');
  const none = get('none');
  return {
    throughputOursOverRlf: ratio(ours?.requestsPerSecond, rlf?.requestsPerSecond),
    p99OursOverRlf: ratio(ours?.latencyMs.p99, rlf?.latencyMs.p99),
    throughputOursOverRlfMem: ratio(ours?.requestsPerSecond, rlfMem?.requestsPerSecond),
    p99OursOverRlfMem: ratio(ours?.latencyMs.p99, rlfMem?.latencyMs.p99),
    throughputOursOverNone: ratio(ours?.requestsPerSecond, none?.requestsPerSecond),
    cpuPerRequestOursOverRlf: ratio(cpu('ours'), cpu('rlf')),
  };
}
