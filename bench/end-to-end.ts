/**
 * Part 3: requests per second and latency through a local edge endpoint, for
 * three deciders behind the same HTTP front (the local runtime's CloudFront-
 * like edge server) and the same echo origin, on the same emulated DynamoDB:
 *
 * - `ours`: the bundled Lambda@Edge handler, as `npm start` runs it;
 * - `rlf` / `rlf-mem`: rate-limiter-flexible's RateLimiterDynamo, without and
 *   with its in-memory block of refused keys;
 * - `none`: no limiter at all (the ceiling of this front and origin).
 *
 * The load generator (autocannon) runs in a child process; each run is
 * bounded in count and in time, after a short warm-up with the same keys.
 * Absolute figures depend on this noisy shared machine; the report compares
 * ratios from the same run only.
 */

import type { PolicyConfig } from '../functions/config/schema';
import { type EdgeServer, startEdgeServer } from '../local/edge-server';
import { startLocal } from '../local/runtime';
import { emptyCounters } from '../local/status';
import { benchConfig } from './harness';
import { type LoadSummary, runLoad } from './load/load';
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
  readonly id: 'allowed-heavy' | 'refused-heavy';
  readonly description: string;
  /** Our policy (its id is the path prefix). */
  readonly policy: PolicyConfig;
  /** The reference limiter's fixed window. */
  readonly reference: { readonly points: number; readonly durationSeconds: number };
  /** Distinct keys (cycled by the load generator). */
  readonly keys: number;
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
}

/** One workload's runs and ratios. */
export interface E2eWorkloadResult {
  readonly workload: E2eWorkload['id'];
  readonly description: string;
  readonly runs: readonly E2eRun[];
  readonly ratios: E2eRatios;
}

/** Result of part 3. */
export interface EndToEndResult {
  readonly region: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly maxRequests: number;
  readonly workloads: readonly E2eWorkloadResult[];
}

/** Options of {@link measureEndToEnd}. */
export interface EndToEndOptions {
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly maxRequests: number;
  readonly allowedKeys: number;
}

/** The two workloads. */
export function e2eWorkloads(allowedKeys: number): E2eWorkload[] {
  return [
    {
      id: 'allowed-heavy',
      description: `${allowedKeys} keys, capacity far above the load: every request admitted`,
      policy: {
        id: 'open',
        capacityTokens: 1_000_000,
        refillTokens: 1_000_000,
        refillIntervalMs: 1000,
        onStoreError: 'open',
      },
      reference: { points: 1_000_000, durationSeconds: 60 },
      keys: allowedKeys,
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
    },
  ];
}

const KEY_HEADER = 'x-api-key';

/** Runs every workload against every decider, one after the other. */
export async function measureEndToEnd(options: EndToEndOptions): Promise<EndToEndResult> {
  const region = 'us-east-1';
  const workloads = e2eWorkloads(options.allowedKeys);
  const config = benchConfig(
    [region],
    workloads.map((w) => w.policy),
  );
  const local = await startLocal({ config, regions: [region], lagMs: 0, reconcileEveryMs: 0 });
  const servers: EdgeServer[] = [];
  const closers: (() => void)[] = [];
  try {
    await local.emulator.createTable(rateLimiterDynamoTable());
    const storeEndpoint = local.storeEndpoints[region] as string;
    const edgeOf = async (functions: Parameters<typeof startEdgeServer>[0]['functions']) => {
      const server = await startEdgeServer({
        region,
        port: 0,
        functions,
        originUrl: local.originUrl,
        counters: emptyCounters(),
      });
      servers.push(server);
      return server.url;
    };
    const noneUrl = await edgeOf(PASS_THROUGH_EDGE);
    const results: E2eWorkloadResult[] = [];
    for (const workload of workloads) {
      const runs: E2eRun[] = [];
      for (const variant of E2E_VARIANTS) {
        const prefix = `${workload.id}-${variant}-${Date.now()}-`;
        let url: string;
        if (variant === 'none') url = noneUrl;
        else if (variant === 'ours') url = local.edgeUrls[region] as string;
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
        await runLoad({
          ...spec,
          durationSeconds: options.warmupSeconds,
          maxRequests: options.maxRequests,
        });
        const load = await runLoad({
          ...spec,
          durationSeconds: options.durationSeconds,
          maxRequests: options.maxRequests,
        });
        runs.push(summarizeRun(variant, load));
      }
      results.push({
        workload: workload.id,
        description: workload.description,
        runs,
        ratios: ratiosOf(runs),
      });
    }
    return {
      region,
      connections: options.connections,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      maxRequests: options.maxRequests,
      workloads: results,
    };
  } finally {
    for (const server of servers) await server.stop();
    for (const close of closers) close();
    await local.stop();
  }
}

/** Counts a load summary's outcomes. */
export function summarizeRun(variant: E2eVariant, load: LoadSummary): E2eRun {
  const forwarded = load.statusCounts['200'] ?? 0;
  const refused = load.statusCounts['429'] ?? 0;
  let other = 0;
  for (const [status, count] of Object.entries(load.statusCounts)) {
    if (status !== '200' && status !== '429') other += count;
  }
  return { variant, load, forwarded, refused, failures: other + load.errors + load.timeouts };
}

/** The ratios of a workload's runs (undefined when a run is missing or empty). */
export function ratiosOf(runs: readonly E2eRun[]): E2eRatios {
  const get = (v: E2eVariant) => runs.find((r) => r.variant === v)?.load;
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
  };
}
