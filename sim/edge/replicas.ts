/**
 * What replicas buy (`npm run simulate -- --edge --replica-sets`): the same
 * config with 3, 5 and 13 replica regions, through the edge simulator. Per
 * replica set: what a busy key's viewer waits in each edge region, the store
 * traffic and what it costs per million admitted requests, and the
 * over-admission bound of a shared bucket (which grows with the regions that
 * write to it). Engineers choose their replica set from it
 * (docs/edge-latency.md, "What replicas buy").
 */

import { clientHeadersMode } from '../../functions/config/client-headers';
import type { LimiterConfig } from '../../functions/config/schema';
import { REGIONAL_EDGE_CACHE_REGIONS } from '../network/model';
import { type EdgeRow, runEdgeWorkload } from './run';

/** The replica sets compared: the shipped three, five with the Americas' west and south, and 13. */
export const REPLICA_SETS: readonly (readonly string[])[] = [
  ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
  ['us-east-1', 'eu-west-1', 'ap-southeast-1', 'us-west-2', 'sa-east-1'],
  // Every regional edge cache region but us-east-2, 19 ms from us-east-1.
  REGIONAL_EDGE_CACHE_REGIONS.filter((r) => r !== 'us-east-2'),
];

/**
 * Prices (us-east-1 on demand, the same figures as bench/cost-model.ts with
 * their sources there): a write unit on the receiving and on every other
 * replica, a read unit, a Lambda@Edge request and GB-second (128 MB, billed
 * in 1 ms steps).
 */
export const REPLICA_SET_PRICES = {
  writeUnitUsdPerMillion: 0.625,
  readUnitUsdPerMillion: 0.125,
  edgeRequestUsdPerMillion: 0.6,
  edgeGbSecondUsd: 0.00005001,
  edgeMemoryGb: 128 / 1024,
} as const;

/** One replica set's figures. */
export interface ReplicaSetResult {
  readonly replicas: readonly string[];
  /** The busy-key rows, one per edge region. */
  readonly busyKey: readonly EdgeRow[];
  /** Store writes per admitted busy-key request, mean over edge regions (receiving replica). */
  readonly writesPerAdmitted: number;
  readonly readsPerAdmitted: number;
  /** DynamoDB per million admitted busy-key requests for the key's bucket: writes on every replica, and reads. */
  readonly dynamodbUsdPerMillion: number;
  /** Store writes of every limit of a busy-key request per admitted request (receiving replica). */
  readonly requestWritesPerAdmitted: number;
  /** DynamoDB per million admitted busy-key requests for all their limits. */
  readonly requestDynamodbUsdPerMillion: number;
  /** The viewer-request function's duration per million requests (the limiter's wait, 128 MB). */
  readonly edgeDurationUsdPerMillion: number;
  /**
   * Lambda@Edge requests per million: the viewer-request function's, and the
   * viewer-response function's with `clientHeaders: 'viewer-response'`.
   */
  readonly edgeRequestsUsdPerMillion: number;
  /** Lambda@Edge requests and duration plus DynamoDB for all limits, per million admitted. */
  readonly totalUsdPerMillion: number;
  /** The shared bucket (`global-cap` workload): worst over-admission and its bound (tokens). */
  readonly sharedOverTokens: number;
  readonly sharedBoundTokens: number;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Runs busy-key and global-cap for each replica set on `config` (its other settings kept). */
export async function compareReplicaSets(
  config: LimiterConfig,
  options: {
    readonly sets?: readonly (readonly string[])[];
    readonly edgeRegions?: readonly string[];
    readonly durationS?: number;
    readonly seed?: number;
  } = {},
): Promise<ReplicaSetResult[]> {
  const out: ReplicaSetResult[] = [];
  for (const replicas of options.sets ?? REPLICA_SETS) {
    const withSet: LimiterConfig = { ...config, regions: replicas };
    const run = {
      config: withSet,
      edgeRegions: options.edgeRegions ?? REGIONAL_EDGE_CACHE_REGIONS,
      seed: options.seed ?? 1,
      durationS: options.durationS ?? 60,
    };
    const busyKey = await runEdgeWorkload('busy-key', run);
    const shared = await runEdgeWorkload('global-cap', run);
    const writes = mean(busyKey.map((r) => r.writesPerAdmitted));
    const reads = mean(busyKey.map((r) => r.readsPerAdmitted));
    const requestWrites = busyKey[0]?.requestWritesPerAdmitted ?? 0;
    const requestReads = busyKey[0]?.requestReadsPerAdmitted ?? 0;
    const p = REPLICA_SET_PRICES;
    const dynamodb = (w: number, r: number) =>
      w * replicas.length * p.writeUnitUsdPerMillion + r * p.readUnitUsdPerMillion;
    const edgeDuration =
      (mean(busyKey.map((r) => r.billedMsMean)) / 1000) * p.edgeMemoryGb * p.edgeGbSecondUsd * 1e6;
    const edgeFunctions = clientHeadersMode(config) === 'viewer-response' ? 2 : 1;
    const edgeRequests = edgeFunctions * p.edgeRequestUsdPerMillion;
    const requestDynamodb = dynamodb(requestWrites, requestReads);
    out.push({
      replicas,
      busyKey,
      writesPerAdmitted: writes,
      readsPerAdmitted: reads,
      dynamodbUsdPerMillion: dynamodb(writes, reads),
      requestWritesPerAdmitted: requestWrites,
      requestDynamodbUsdPerMillion: requestDynamodb,
      edgeDurationUsdPerMillion: edgeDuration,
      edgeRequestsUsdPerMillion: edgeRequests,
      totalUsdPerMillion: edgeRequests + edgeDuration + requestDynamodb,
      sharedOverTokens: Math.max(0, ...shared.map((r) => r.overAdmissionTokens)),
      sharedBoundTokens: Math.max(0, ...shared.map((r) => r.boundTokens)),
    });
  }
  return out;
}

const money = (usd: number) => `$${usd.toFixed(3)}`;

/** Two Markdown tables: latency per edge region, then traffic, cost and bound per replica set. */
export function formatReplicaSets(results: readonly ReplicaSetResult[]): string {
  const edges = results[0]?.busyKey.map((r) => r.edgeRegion) ?? [];
  const head = results.map((r) => `${r.replicas.length} replicas: p50 / p99 ms (store wait)`);
  const latency = [
    `| edge region | ${head.join(' | ')} |`,
    `| --- | ${head.map(() => '---:').join(' | ')} |`,
    ...edges.map((edge) => {
      const cells = results.map((r) => {
        const row = r.busyKey.find((b) => b.edgeRegion === edge);
        return row === undefined
          ? '–'
          : `${row.addedLatencyP50Ms.toFixed(2)} / ${row.addedLatencyP99Ms.toFixed(0)} (${(100 * row.storeWaitShare).toFixed(1)} %)`;
      });
      return `| ${edge} | ${cells.join(' | ')} |`;
    }),
  ];
  const totals = [
    '| replicas | writes / admitted: key, all limits | DynamoDB $ / M: key, all limits | Lambda@Edge $ / M: requests, duration | $ / M admitted | shared bucket: over-admission / bound (tokens) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.replicas.length} (${r.replicas.join(', ')}) | ${r.writesPerAdmitted.toFixed(3)}, ${r.requestWritesPerAdmitted.toFixed(3)} | ${money(r.dynamodbUsdPerMillion)}, ${money(r.requestDynamodbUsdPerMillion)} | ${money(r.edgeRequestsUsdPerMillion)}, ${money(r.edgeDurationUsdPerMillion)} | ${money(r.totalUsdPerMillion)} | ${r.sharedOverTokens.toFixed(1)} / ${r.sharedBoundTokens.toFixed(0)} |`,
    ),
  ];
  return [...latency, '', ...totals].join('\n');
}
