/**
 * Cost models, pure: measured traffic and dated prices in, dollars out.
 *
 * - {@link estimateCost}: DynamoDB on-demand alone, per decision (the store
 *   traffic and scale parts of the report).
 * - {@link costPerMillionAdmitted}: everything a million admitted requests
 *   cost (both Lambda@Edge functions' requests and duration, DynamoDB writes,
 *   replicated writes and reads, CloudWatch Logs ingestion, and the fixed
 *   monthly metric series, alarms and dashboards spread over a stated
 *   volume), each part with its share. bench/cost-run.ts measures its inputs.
 *
 * Why explicit: the report must show the arithmetic and the prices it used,
 * with their source and date, rather than a bare dollar figure.
 *
 * Billing rules modelled (DynamoDB on-demand, standard table class):
 * - a write of an item up to 1 KB is 1 write request unit (WRU); dynalite's
 *   `ConsumedCapacity` gives the units of each successful write;
 * - a write rejected by its condition still costs 1 WRU in the region that
 *   received it and is not replicated;
 * - on a global table every successful write is billed once per replica as a
 *   replicated write request unit (rWRU), the receiving region included;
 * - a read is billed per 4 KB read: 1 RRU strongly consistent, 0.5 RRU
 *   eventually consistent (a Query sums its items before rounding up).
 *
 * Logs: what the handlers write is measured; what Lambda writes of its own
 * follows the functions' system log level ({@link platformLogsAt}).
 */

import type { EdgeSystemLogLevel } from '../functions/config/schema';

/** On-demand prices of one region. */
export interface PriceSheet {
  /** The AWS region the prices apply to. */
  readonly region: string;
  /** When these prices took effect (ISO date). */
  readonly effectiveDate: string;
  /** When and where they were read, for the report. */
  readonly source: string;
  /** USD per million write request units (single-region tables). */
  readonly writeRequestUnitUsdPerMillion: number;
  /** USD per million read request units. */
  readonly readRequestUnitUsdPerMillion: number;
  /** USD per million replicated write request units (global tables). */
  readonly replicatedWriteRequestUnitUsdPerMillion: number;
}

/**
 * us-east-1 on-demand prices after the price cut AWS applied on 2024-11-01
 * (on-demand throughput −50 %, global-table replicated writes priced like
 * single-region writes). Read from public write-ups of that change dated
 * July–August 2025; check the AWS DynamoDB on-demand pricing page before
 * relying on the dollar figures.
 */
export const US_EAST_1_ON_DEMAND: PriceSheet = {
  region: 'us-east-1',
  effectiveDate: '2024-11-01',
  source:
    'AWS on-demand price cut of 2024-11-01 as quoted by public DynamoDB pricing write-ups dated 2025-07/2025-08; not re-checked against the live AWS price list (no network)',
  writeRequestUnitUsdPerMillion: 0.625,
  readRequestUnitUsdPerMillion: 0.125,
  replicatedWriteRequestUnitUsdPerMillion: 0.625,
};

/** Store traffic measured for a number of decisions. */
export interface StoreTraffic {
  /** Decisions the traffic served. */
  readonly decisions: number;
  /** Successful write calls (UpdateItem, PutItem, DeleteItem). */
  readonly writeCalls: number;
  /** Write calls rejected by their condition (billed, not replicated). */
  readonly failedConditionalWrites: number;
  /** Read calls (GetItem, Query, Scan). */
  readonly readCalls: number;
  /** WRU of the successful writes, as the store reported them. */
  readonly writeUnits: number;
  /** RRU of the reads, as the store reported them. */
  readonly readUnits: number;
}

/** Request units and dollars derived from {@link StoreTraffic}. */
export interface CostEstimate {
  /** Store write calls (successful + failed conditional) per 1,000 decisions. */
  readonly writesPer1000: number;
  /** Store read calls per 1,000 decisions. */
  readonly readsPer1000: number;
  /** WRU per 1,000 decisions in the receiving region (failed conditional writes included). */
  readonly wruPer1000: number;
  /** RRU per 1,000 decisions. */
  readonly rruPer1000: number;
  /** rWRU per 1,000 decisions on a global table of `replicas` replicas. */
  readonly rwruPer1000: number;
  /** Number of replicas the estimate assumes. */
  readonly replicas: number;
  /** USD per million decisions on the global table (rWRU + RRU). */
  readonly usdPerMillionDecisions: number;
}

/**
 * Converts measured traffic into request units per 1,000 decisions and a
 * dollar cost per million decisions on a global table.
 *
 * @param traffic - what the store served; `decisions` must be positive
 * @param replicas - replicas of the global table (≥ 1)
 * @param prices - the price sheet (defaults to us-east-1 on-demand)
 * @throws RangeError on a non-positive decision count or replica count
 */
export function estimateCost(
  traffic: StoreTraffic,
  replicas: number,
  prices: PriceSheet = US_EAST_1_ON_DEMAND,
): CostEstimate {
  if (!(traffic.decisions > 0)) throw new RangeError('traffic.decisions must be positive');
  if (!(Number.isInteger(replicas) && replicas >= 1)) {
    throw new RangeError(`replicas must be a positive integer (got ${replicas})`);
  }
  const per1000 = 1000 / traffic.decisions;
  const failedUnits = traffic.failedConditionalWrites;
  const wru = traffic.writeUnits + failedUnits;
  const rwru = traffic.writeUnits * replicas + failedUnits;
  const totalUsd =
    (rwru * prices.replicatedWriteRequestUnitUsdPerMillion +
      traffic.readUnits * prices.readRequestUnitUsdPerMillion) /
    1e6;
  return {
    writesPer1000: (traffic.writeCalls + traffic.failedConditionalWrites) * per1000,
    readsPer1000: traffic.readCalls * per1000,
    wruPer1000: wru * per1000,
    rruPer1000: traffic.readUnits * per1000,
    rwruPer1000: rwru * per1000,
    replicas,
    usdPerMillionDecisions: (totalUsd / traffic.decisions) * 1e6,
  };
}

/** A price, where it was read, and when. */
export interface SourcedPrice {
  readonly usd: number;
  /** What one `usd` buys, e.g. `per million requests`. */
  readonly unit: string;
  readonly source: string;
  /** When the figure was taken (ISO date). */
  readonly asOf: string;
}

/** Every price {@link costPerMillionAdmitted} uses (us-east-1 where prices vary by region). */
export interface CostPrices {
  readonly lambdaEdgeRequests: SourcedPrice;
  readonly lambdaEdgeDuration: SourcedPrice & {
    /** Billing granularity of one invocation's duration (ms). */
    readonly granularityMs: number;
  };
  readonly logsIngestion: SourcedPrice;
  readonly customMetric: SourcedPrice;
  readonly alarm: SourcedPrice;
  readonly dashboard: SourcedPrice;
  readonly dynamodb: PriceSheet;
}

/**
 * When the prices below were recorded in this repository, from the pages
 * named in each source. They were not re-read against the live pages from
 * the machine that runs the benchmark (it has no network): check them before
 * relying on the dollar figures.
 */
export const PRICES_RECORDED = '2026-12-01';

/** The prices of the cost table. */
export const DEFAULT_COST_PRICES: CostPrices = {
  lambdaEdgeRequests: {
    usd: 0.6,
    unit: 'per million requests',
    source: 'AWS Lambda pricing page, Lambda@Edge section (the same in every region; no free tier)',
    asOf: PRICES_RECORDED,
  },
  lambdaEdgeDuration: {
    usd: 0.00005001,
    unit: 'per GB-second',
    source:
      "AWS Lambda pricing page, Lambda@Edge section; billed in 1 ms steps instead of 50 ms since 2021-04-01 (AWS What's New post of 2021-03-31)",
    asOf: PRICES_RECORDED,
    granularityMs: 1,
  },
  logsIngestion: {
    usd: 0.5,
    unit: 'per GB ingested (GB = 2^30 bytes)',
    source:
      'Amazon CloudWatch pricing page, Logs, Standard class, us-east-1 (Lambda logs: first tier; other regions cost more, e.g. about $0.76 in ap-northeast-1)',
    asOf: PRICES_RECORDED,
  },
  customMetric: {
    usd: 0.3,
    unit: 'per metric-month (first 10,000 metrics; prorated by the hour a metric receives data)',
    source:
      'Amazon CloudWatch pricing page, Metrics; metrics extracted from EMF are custom metrics',
    asOf: PRICES_RECORDED,
  },
  alarm: {
    usd: 0.1,
    unit: 'per standard-resolution alarm-month (one metric; a math expression of n metrics is n)',
    source: 'Amazon CloudWatch pricing page, Alarms',
    asOf: PRICES_RECORDED,
  },
  dashboard: {
    usd: 3,
    unit: 'per dashboard-month (beyond 3 free per account)',
    source: 'Amazon CloudWatch pricing page, Dashboards',
    asOf: PRICES_RECORDED,
  },
  dynamodb: US_EAST_1_ON_DEMAND,
};

/**
 * The lines Lambda itself writes per invocation in text log format (`START`,
 * `END`, `REPORT`), as the AWS Lambda Developer Guide shows them ("Log and
 * monitor Node.js Lambda functions", example log output); a request id is a
 * 36-character UUID.
 */
export const LAMBDA_PLATFORM_LOG_LINES: readonly string[] = [
  'START RequestId: 6bc28136-e5b1-4365-b021-0ce6b2e64ab0 Version: 12',
  'END RequestId: 6bc28136-e5b1-4365-b021-0ce6b2e64ab0',
  'REPORT RequestId: 6bc28136-e5b1-4365-b021-0ce6b2e64ab0\tDuration: 2.71 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 79 MB\t',
];

/**
 * Bytes CloudWatch Logs counts per log event on top of its message (the
 * PutLogEvents batch-size rule: the messages in UTF-8 plus 26 bytes per
 * event). The model assumes ingestion is metered the same way: an upper bound
 * if it meters the messages only.
 */
export const LOG_EVENT_OVERHEAD_BYTES = 26;

/** What Lambda logs per invocation besides the handler's own output. */
export interface PlatformLogs {
  readonly bytesPerInvocation: number;
  readonly eventsPerInvocation: number;
}

/** The platform lines of {@link LAMBDA_PLATFORM_LOG_LINES}. */
export const LAMBDA_PLATFORM_LOGS: PlatformLogs = {
  bytesPerInvocation: LAMBDA_PLATFORM_LOG_LINES.reduce(
    (sum, line) => sum + Buffer.byteLength(line, 'utf8'),
    0,
  ),
  eventsPerInvocation: LAMBDA_PLATFORM_LOG_LINES.length,
};

/** Nothing per invocation. */
const NO_PLATFORM_LOGS: PlatformLogs = { bytesPerInvocation: 0, eventsPerInvocation: 0 };

/**
 * What Lambda logs of its own per invocation at a system log level (the
 * Lambda@Edge functions log in Lambda's JSON format, which log-level
 * filtering needs: AWS Lambda Developer Guide, "Log-level filtering"):
 * - `WARN`: nothing per invocation. Lambda sends only its warnings, such as
 *   a notice that logs were dropped: rare events, not counted here.
 * - `INFO` (Lambda's default): its start and report records of every
 *   invocation, priced as the text lines of {@link LAMBDA_PLATFORM_LOG_LINES}
 *   (a lower bound: the JSON records say the same with field names).
 * - `DEBUG`: at least as much as INFO, priced the same (a lower bound).
 */
export function platformLogsAt(level: EdgeSystemLogLevel): PlatformLogs {
  return level === 'WARN' ? NO_PLATFORM_LOGS : LAMBDA_PLATFORM_LOGS;
}

/** How an invocation's measured work becomes billed duration. */
export interface DurationModel {
  /**
   * How much slower CPU-bound work runs in the function than where it was
   * measured: Lambda gives a function CPU in proportion to its memory, one
   * vCPU at 1,769 MB, so 1769 / 128 ≈ 13.8 for a 128 MB viewer trigger.
   */
  readonly cpuSlowdown: number;
  /** Round trip to the replica the viewer waits for, per store call (ms). */
  readonly storeRoundTripMs: number;
  /** Billing granularity (ms); every invocation is billed at least one step. */
  readonly granularityMs: number;
}

/** CPU share of a function of `memoryMb` (Lambda: one vCPU at 1,769 MB). */
export function cpuSlowdownAt(memoryMb: number): number {
  return 1769 / memoryMb;
}

/**
 * The billed duration of one invocation: its CPU time scaled to the
 * function's CPU share, plus the store round trips it waited for, rounded up
 * to the billing granularity (at least one step).
 */
export function billedDurationMs(
  cpuMicros: number,
  storeRoundTrips: number,
  model: DurationModel,
): number {
  if (!(cpuMicros >= 0) || !(storeRoundTrips >= 0)) {
    throw new RangeError('cpuMicros and storeRoundTrips must be non-negative');
  }
  const ms = (cpuMicros / 1000) * model.cpuSlowdown + storeRoundTrips * model.storeRoundTripMs;
  const steps = Math.max(1, Math.ceil(ms / model.granularityMs - 1e-9));
  return steps * model.granularityMs;
}

/** One Lambda@Edge function's work over a run. */
export interface EdgeFunctionUsage {
  readonly invocations: number;
  /** Sum of every invocation's billed duration ({@link billedDurationMs}) (ms). */
  readonly billedMs: number;
  readonly memoryMb: number;
  /** Bytes the handler wrote to stdout and stderr (EMF, logs), measured. */
  readonly outputBytes: number;
  /** Lines it wrote: one log event each. */
  readonly outputEvents: number;
}

/** The measured inputs of {@link costPerMillionAdmitted}. */
export interface CostRun {
  /** Admitted requests of the run (the denominator). */
  readonly admitted: number;
  readonly viewerRequest: EdgeFunctionUsage;
  /** Absent when the viewer-response function is not deployed (`clientHeaders: 'none'`). */
  readonly viewerResponse?: EdgeFunctionUsage;
  /** Billed store traffic of the run, all replicas. */
  readonly store: Pick<StoreTraffic, 'writeUnits' | 'failedConditionalWrites' | 'readUnits'>;
  /** Replicas of the global table. */
  readonly replicas: number;
  /** The system log level of both Lambda@Edge functions (`edgeSystemLogLevel`): what Lambda logs of its own. */
  readonly edgeSystemLogLevel: EdgeSystemLogLevel;
}

/** Costs that do not grow with requests, and the volume they are spread over. */
export interface FixedMonthly {
  /** Metric series that receive data every hour, in every region. */
  readonly metricSeries: number;
  /** Alarms, counted as CloudWatch bills them (metrics per alarm). */
  readonly alarmMetrics: number;
  /** Dashboards beyond the free ones. */
  readonly dashboards: number;
  /** Admitted requests per month the fixed costs are spread over. */
  readonly admittedPerMonth: number;
}

/** Parts of the cost, in table order. */
export const COST_PARTS = [
  'edge-request-requests',
  'edge-request-duration',
  'edge-response-requests',
  'edge-response-duration',
  'dynamodb-writes',
  'dynamodb-replicated-writes',
  'dynamodb-reads',
  'logs-handlers',
  'logs-platform',
  'metric-series',
  'alarms-dashboards',
] as const;
/** One part of the cost. */
export type CostPartId = (typeof COST_PARTS)[number];

/** One row of the cost table. */
export interface CostPart {
  readonly id: CostPartId;
  readonly label: string;
  /** The quantity per admitted request (or per month) and its price, in words. */
  readonly basis: string;
  readonly usdPerMillion: number;
  /** Share of the total, 0..1. */
  readonly share: number;
  /** Fixed monthly parts are spread over {@link FixedMonthly.admittedPerMonth}. */
  readonly fixed: boolean;
}

/** Dollars per million admitted requests, part by part. */
export interface CostBreakdown {
  readonly parts: readonly CostPart[];
  /** The parts that grow with requests. */
  readonly perRequestUsdPerMillion: number;
  readonly fixedUsdPerMonth: number;
  /** Per-request parts plus the fixed ones at the stated volume. */
  readonly totalUsdPerMillion: number;
}

const GB = 2 ** 30;

/**
 * What a million admitted requests cost, from one measured run: every part
 * with the quantity it is computed from, its price and its share.
 *
 * @throws RangeError when nothing was admitted, or on a non-positive replica
 *   count or monthly volume
 */
export function costPerMillionAdmitted(
  run: CostRun,
  fixed: FixedMonthly,
  prices: CostPrices = DEFAULT_COST_PRICES,
  platform: PlatformLogs = platformLogsAt(run.edgeSystemLogLevel),
  eventOverheadBytes: number = LOG_EVENT_OVERHEAD_BYTES,
): CostBreakdown {
  if (!(run.admitted > 0)) throw new RangeError('run.admitted must be positive');
  if (!(Number.isInteger(run.replicas) && run.replicas >= 1)) {
    throw new RangeError(`replicas must be a positive integer (got ${run.replicas})`);
  }
  if (!(fixed.admittedPerMonth > 0)) throw new RangeError('admittedPerMonth must be positive');
  const perAdmitted = (quantity: number) => quantity / run.admitted;
  const million = 1e6;
  const rows: Omit<CostPart, 'share'>[] = [];
  const fn = (
    usage: EdgeFunctionUsage | undefined,
    requestsId: CostPartId,
    durationId: CostPartId,
    name: string,
  ) => {
    const invocations = usage?.invocations ?? 0;
    const gbSeconds = usage === undefined ? 0 : (usage.billedMs / 1000) * (usage.memoryMb / 1024);
    rows.push({
      id: requestsId,
      label: `Lambda@Edge requests, ${name}`,
      basis: `${fmt(perAdmitted(invocations))} invocations × $${prices.lambdaEdgeRequests.usd} ${prices.lambdaEdgeRequests.unit}`,
      usdPerMillion: perAdmitted(invocations) * prices.lambdaEdgeRequests.usd,
      fixed: false,
    });
    rows.push({
      id: durationId,
      label: `Lambda@Edge duration, ${name}`,
      basis:
        usage === undefined || invocations === 0
          ? 'not deployed'
          : `${fmt(usage.billedMs / invocations)} billed ms × ${usage.memoryMb} MB × $${prices.lambdaEdgeDuration.usd} ${prices.lambdaEdgeDuration.unit}`,
      usdPerMillion: perAdmitted(gbSeconds) * prices.lambdaEdgeDuration.usd * million,
      fixed: false,
    });
  };
  fn(run.viewerRequest, 'edge-request-requests', 'edge-request-duration', 'viewer request');
  fn(run.viewerResponse, 'edge-response-requests', 'edge-response-duration', 'viewer response');

  const rwru = prices.dynamodb.replicatedWriteRequestUnitUsdPerMillion;
  const receiving = run.store.writeUnits + run.store.failedConditionalWrites;
  const replicated = run.store.writeUnits * (run.replicas - 1);
  rows.push({
    id: 'dynamodb-writes',
    label: 'DynamoDB writes (receiving replica)',
    basis: `${fmt(perAdmitted(receiving))} write units (rejected conditions included) × $${rwru} per million`,
    usdPerMillion: perAdmitted(receiving) * rwru,
    fixed: false,
  });
  rows.push({
    id: 'dynamodb-replicated-writes',
    label: `DynamoDB replicated writes (${run.replicas - 1} other replica${run.replicas === 2 ? '' : 's'})`,
    basis: `${fmt(perAdmitted(replicated))} replicated write units × $${rwru} per million`,
    usdPerMillion: perAdmitted(replicated) * rwru,
    fixed: false,
  });
  rows.push({
    id: 'dynamodb-reads',
    label: 'DynamoDB reads',
    basis: `${fmt(perAdmitted(run.store.readUnits))} read units × $${prices.dynamodb.readRequestUnitUsdPerMillion} per million`,
    usdPerMillion: perAdmitted(run.store.readUnits) * prices.dynamodb.readRequestUnitUsdPerMillion,
    fixed: false,
  });

  const functions = [run.viewerRequest, run.viewerResponse].filter(
    (u): u is EdgeFunctionUsage => u !== undefined,
  );
  const handlerBytes = functions.reduce(
    (sum, u) => sum + u.outputBytes + u.outputEvents * eventOverheadBytes,
    0,
  );
  const invocations = functions.reduce((sum, u) => sum + u.invocations, 0);
  const platformBytes =
    invocations * (platform.bytesPerInvocation + platform.eventsPerInvocation * eventOverheadBytes);
  const logPrice = prices.logsIngestion.usd;
  rows.push({
    id: 'logs-handlers',
    label: 'CloudWatch Logs, handler output (EMF and logs, measured)',
    basis: `${fmt(perAdmitted(handlerBytes))} bytes × $${logPrice} per GB`,
    usdPerMillion: (perAdmitted(handlerBytes) * million * logPrice) / GB,
    fixed: false,
  });
  rows.push({
    id: 'logs-platform',
    label: "CloudWatch Logs, Lambda's own START/END/REPORT records",
    basis:
      platformBytes === 0
        ? `none per invocation at system log level ${run.edgeSystemLogLevel} (its rare warnings not counted)`
        : `${fmt(perAdmitted(platformBytes))} bytes × $${logPrice} per GB (system log level ${run.edgeSystemLogLevel})`,
    usdPerMillion: (perAdmitted(platformBytes) * million * logPrice) / GB,
    fixed: false,
  });

  const seriesUsd = fixed.metricSeries * prices.customMetric.usd;
  const watchUsd = fixed.alarmMetrics * prices.alarm.usd + fixed.dashboards * prices.dashboard.usd;
  const perMonth = (usd: number) => (usd / fixed.admittedPerMonth) * million;
  const volume = `${fmt(fixed.admittedPerMonth / million)} million admitted per month`;
  rows.push({
    id: 'metric-series',
    label: 'CloudWatch metric series',
    basis: `${fixed.metricSeries} series × $${prices.customMetric.usd} per month = $${fmt(seriesUsd)}/month over ${volume}`,
    usdPerMillion: perMonth(seriesUsd),
    fixed: true,
  });
  rows.push({
    id: 'alarms-dashboards',
    label: 'CloudWatch alarms and dashboards',
    basis: `${fixed.alarmMetrics} alarm metrics × $${prices.alarm.usd} + ${fixed.dashboards} dashboards × $${prices.dashboard.usd} = $${fmt(watchUsd)}/month over ${volume}`,
    usdPerMillion: perMonth(watchUsd),
    fixed: true,
  });

  const total = rows.reduce((sum, r) => sum + r.usdPerMillion, 0);
  return {
    parts: rows.map((r) => ({ ...r, share: total === 0 ? 0 : r.usdPerMillion / total })),
    perRequestUsdPerMillion: rows.filter((r) => !r.fixed).reduce((s, r) => s + r.usdPerMillion, 0),
    fixedUsdPerMonth: seriesUsd + watchUsd,
    totalUsdPerMillion: total,
  };
}

/** Another way to limit requests, for comparison (its price, not measured here). */
export interface CostComparison {
  readonly label: string;
  readonly usdPerMillion: number;
  /** What it does and does not do, compared with this limiter. */
  readonly note: string;
  readonly source: string;
  readonly asOf: string;
}

/** The comparison rows of the cost table. */
export const COST_COMPARISONS: readonly CostComparison[] = [
  {
    label: 'AWS WAF rate-based rule',
    usdPerMillion: 0.61,
    note: '$0.60 per million requests inspected plus $5 per web ACL and $1 per rule per month (≈ $0.01 per million at 600 million a month); counts over 1–10 minute windows, approximate, per IP or custom key; blocks only, no RateLimit headers, no token bucket',
    source: 'AWS WAF pricing page',
    asOf: PRICES_RECORDED,
  },
  {
    label: 'Amazon API Gateway usage plans (REST API)',
    usdPerMillion: 3.5,
    note: '$3.50 per million REST API calls (first 333 million a month, us-east-1); throttling per API key is per region and best effort, quotas per day, week or month; the API itself, not a limiter in front of an existing origin',
    source: 'Amazon API Gateway pricing page',
    asOf: PRICES_RECORDED,
  },
];

function fmt(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}
