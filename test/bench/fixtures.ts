/**
 * Small hand-made benchmark results for the report and target tests: every
 * figure is chosen so that a verdict or a rendered cell can be predicted.
 */
import {
  type CostRun,
  costPerMillionAdmitted,
  type EdgeFunctionUsage,
  estimateCost,
  type FixedMonthly,
  US_EAST_1_ON_DEMAND,
} from '../../bench/cost-model';
import {
  COST_VARIANTS,
  type CostCase,
  type CostResult,
  type CostVariant,
} from '../../bench/cost-variants';
import {
  type EdgeClientResult,
  type EdgeClientRound,
  edgeClientFiguresOf,
} from '../../bench/edge-client';
import type { EdgeLatencyResult } from '../../bench/edge-latency';
import type { E2eRun, E2eWorkloadResult, EndToEndResult } from '../../bench/end-to-end';
import { ratiosOf } from '../../bench/end-to-end';
import type { LoadSummary } from '../../bench/load/load';
import type { BenchReport } from '../../bench/report';
import type { StoreTrafficResult, TrafficCase } from '../../bench/store-traffic';
import type { EdgeSystemLogLevel } from '../../functions/config/schema';
import type { EdgeRow } from '../../sim/edge/run';

/** A traffic case with `writes` writes for `admitted` admissions out of 1,000 decisions. */
export function trafficCase(
  workload: TrafficCase['workload'],
  variant: string,
  admitted: number,
  writes: number,
  extra: Partial<TrafficCase> = {},
): TrafficCase {
  const traffic = {
    writeCalls: writes,
    failedConditionalWrites: 0,
    readCalls: 10,
    writeUnits: writes,
    readUnits: 5,
    otherCalls: 0,
  };
  return {
    workload,
    variant,
    regions: 3,
    decisions: 1000,
    admitted,
    refused: 1000 - admitted,
    sources: { store: 1000 },
    traffic,
    writesPerAdmitted: admitted === 0 ? 0 : writes / admitted,
    storeCallsWhileBlocked: 0,
    storeCallsWhileLeased: 0,
    blockedDecisions: 0,
    conditionalRetries: 0,
    handedBackTokens: 0,
    wallMicrosecondsPerDecision: 100,
    cost: estimateCost({ decisions: 1000, ...traffic }, 3),
    ...extra,
  };
}

/** Store traffic where every target is met. */
export function goodTraffic(): StoreTrafficResult {
  return {
    regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
    warmupDecisions: 100,
    measuredDecisions: 1000,
    priceSheet: US_EAST_1_ON_DEMAND,
    cases: [
      trafficCase('allowed-heavy', 'no-cache', 1000, 1000),
      trafficCase('allowed-heavy', 'view-cache', 1000, 1000),
      trafficCase('allowed-heavy', 'lease-10', 1000, 90),
      trafficCase('mixed', 'lease-10', 500, 90),
      trafficCase('refused-heavy', 'view-cache', 5, 5, { blockedDecisions: 990 }),
    ],
    reference: [],
  };
}

/** A load summary with the given throughput and p99. */
export function load(
  requestsPerSecond: number,
  p99: number,
  status: Record<string, number>,
): LoadSummary {
  const requests = Object.values(status).reduce((a, b) => a + b, 0);
  return {
    requests,
    durationSeconds: requests / requestsPerSecond,
    requestsPerSecond,
    latencyMs: { p50: p99 / 4, p90: p99 / 2, p99, max: p99 * 2, mean: p99 / 3 },
    statusCounts: status,
    bytesPerResponse: 300,
    errors: 0,
    timeouts: 0,
  };
}

function run(
  variant: E2eRun['variant'],
  rps: number,
  p99: number,
  ok: number,
  refused: number,
): E2eRun {
  return {
    variant,
    load: load(rps, p99, { '200': ok, '429': refused }),
    forwarded: ok,
    refused,
    failures: 0,
    segmentRequestsPerSecond: [rps, rps],
    frontCpuMicrosPerRequest: 1_000_000 / rps / 2,
    storeCpuMicrosPerRequest: 1_000_000 / rps / 4,
  };
}

/** An allowed workload's result: ours 1.5× RLF's throughput, 0.4× its p99 at equal load. */
function allowedWorkload(workload: 'allowed-hot' | 'allowed-cold'): E2eWorkloadResult {
  const runs = [
    run('none', 4000, 10, 40000, 0),
    run('ours', 1500, 30, 15000, 0),
    run('rlf', 1000, 40, 10000, 0),
  ];
  return {
    workload,
    description: workload,
    runs,
    ratios: ratiosOf(runs),
    equalLoad: {
      requestsPerSecond: 800,
      ours: run('ours', 800, 20, 8000, 0),
      rlf: run('rlf', 800, 50, 8000, 0),
      p99OursOverRlf: 0.4,
    },
  };
}

/** End-to-end results: ours 1.5× RLF when allowed, 8× when refused. */
export function goodEndToEnd(): EndToEndResult {
  const refused = [
    run('none', 4000, 10, 40000, 0),
    run('ours', 3200, 12, 20, 32000),
    run('rlf', 400, 90, 20, 4000),
    run('rlf-mem', 3000, 13, 20, 30000),
  ];
  return {
    region: 'us-east-1',
    connections: 16,
    warmupSeconds: 1,
    segmentSeconds: 2,
    noneSeconds: 2,
    equalLoadSegmentSeconds: 2,
    maxRequests: 100_000,
    equalLoadShare: 0.8,
    storeBudgetMs: 1000,
    workloads: [
      allowedWorkload('allowed-hot'),
      allowedWorkload('allowed-cold'),
      {
        workload: 'refused-heavy',
        description: 'hot key',
        runs: refused,
        ratios: ratiosOf(refused),
      },
    ],
  };
}

/** A whole report with every part but accuracy and scale. */
export function report(overrides: Partial<BenchReport> = {}): BenchReport {
  return {
    meta: {
      generatedAt: '2025-01-01T00:00:00.000Z',
      profile: 'quick',
      command: 'npm run bench -- --quick',
      machine: {
        nodeVersion: 'v20.0.0',
        cpuModel: 'Test CPU',
        cores: 2,
        memoryGiB: 4,
        platform: 'Linux x64',
      },
      durationSeconds: 12,
    },
    storeTraffic: goodTraffic(),
    endToEnd: goodEndToEnd(),
    targets: [],
    problems: [],
    ...overrides,
  };
}

/** Edge-client figures: light 100 µs and SDK `sdkMicros` µs of CPU per decision in each of two rounds; a require ratio of 0.25. */
export function goodEdgeClient(sdkMicros = 400): EdgeClientResult {
  const rounds: EdgeClientRound[] = [0, 1].flatMap(() => [
    {
      transport: 'sdk',
      decisions: 100,
      admitted: 100,
      cpuMicros: 100 * sdkMicros,
      wallMicros: 200_000,
      storeCalls: 200,
      fallbacks: 0,
    },
    {
      transport: 'light',
      decisions: 100,
      admitted: 100,
      cpuMicros: 100 * 100,
      wallMicros: 100_000,
      storeCalls: 200,
      fallbacks: 0,
    },
  ]);
  return {
    rounds: 2,
    decisionsPerRound: 100,
    warmupDecisions: 10,
    ...edgeClientFiguresOf(rounds),
    moduleLoad: {
      runs: 3,
      zippedBytes: { light: 30 * 1024, sdk: 120 * 1024 },
      requireMsMedian: { light: 10, sdk: 40 },
      initMsMedian: { light: 3, sdk: 4 },
      zippedRatio: 0.25,
      requireRatio: 0.25,
    },
  };
}

/**
 * A cost result: `default` and `headers-on` on three replicas, one write per
 * `requestsPerWrite` admitted requests, 1,000 admitted of 1,000, every
 * invocation billed 2 ms (viewer request) and 1 ms (viewer response), both
 * functions' system logs at `systemLogLevel`. The default runs no
 * viewer-response function unless `defaultHeaders` (as shipped: about $0.81
 * per million at WARN; with the function and Lambda's records at INFO, about
 * $1.73).
 */
export function costResult(
  requestsPerWrite = 10,
  defaultHeaders = false,
  systemLogLevel: EdgeSystemLogLevel = 'WARN',
): CostResult {
  const fixed: FixedMonthly = {
    metricSeries: 100,
    alarmMetrics: 50,
    dashboards: 2,
    admittedPerMonth: 1e9,
  };
  const usage = (billedMsEach: number): EdgeFunctionUsage => ({
    invocations: 1000,
    billedMs: 1000 * billedMsEach,
    memoryMb: 128,
    outputBytes: 5000,
    outputEvents: 10,
  });
  const variant = (id: string, headers: boolean): CostCase => {
    const run: CostRun = {
      admitted: 1000,
      viewerRequest: usage(2),
      ...(headers ? { viewerResponse: usage(1) } : {}),
      store: {
        writeUnits: 1000 / requestsPerWrite,
        failedConditionalWrites: 0,
        readUnits: 1000 / requestsPerWrite / 2,
      },
      replicas: 3,
      edgeSystemLogLevel: systemLogLevel,
    };
    return {
      variant: COST_VARIANTS.find((v) => v.id === id) as CostVariant,
      decisions: 1000,
      admitted: 1000,
      run,
      storeCallsPerRequest: 2 / requestsPerWrite,
      outputBytesPerAdmitted: headers ? 10 : 5,
      outputBytesPerContainerMinute: 3000,
      cpuMicrosPerRequest: 100,
      cpuMicrosPerResponse: 5,
      breakdown: costPerMillionAdmitted(run, fixed),
    };
  };
  return {
    regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
    sizes: { requestsPerSecondPerContainer: 10, warmupSeconds: 5, measuredMinutes: 1 },
    duration: { cpuSlowdown: 1769 / 128, storeRoundTripMs: 10, granularityMs: 1 },
    fixed,
    series: {
      perEdgeRegion: 7,
      incidentPerEdgeRegion: 3,
      edgeRegions: 13,
      reconciler: 9,
      total: 100,
    },
    watch: { alarms: 48, alarmMetrics: 50, dashboards: 2 },
    cases: [variant('default', defaultHeaders), variant('headers-on', true)],
  };
}

/** One edge simulator row: a busy key that meets every edge target, with `extra` on top. */
export function edgeRow(edgeRegion: string, extra: Partial<EdgeRow> = {}): EdgeRow {
  return {
    workload: 'busy-key',
    policy: 'api',
    edgeRegion,
    replicaRegion: 'us-east-1',
    rttMs: 100,
    requests: 600,
    admitted: 600,
    addedLatencyP50Ms: 0.4,
    addedLatencyP99Ms: 105,
    fallbackRate: 0,
    storeWaitShare: 0.05,
    overAdmissionTokens: 0,
    boundTokens: 20,
    writesPerAdmitted: 0.2,
    readsPerAdmitted: 0.1,
    requestWritesPerAdmitted: 0.5,
    requestReadsPerAdmitted: 0.3,
    billedMsMean: 7,
    coldStarts: 1,
    maxPartitionWritesPerSecond: 10,
    throttledWrites: 0,
    ...extra,
  };
}

/** An edge part whose rows meet every edge target. */
export function goodEdgeLatency(): EdgeLatencyResult {
  return {
    seed: 1,
    durationS: 60,
    rows: [
      edgeRow('us-east-1', { rttMs: 8.5, addedLatencyP99Ms: 15 }),
      edgeRow('sa-east-1'),
      edgeRow('sa-east-1', { workload: 'overload', overAdmissionTokens: 20, boundTokens: 190 }),
    ],
  };
}
