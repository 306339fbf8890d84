import { describe, expect, it } from 'vitest';
import {
  billedDurationMs,
  COST_COMPARISONS,
  COST_PARTS,
  type CostPartId,
  type CostPrices,
  type CostRun,
  costPerMillionAdmitted,
  cpuSlowdownAt,
  DEFAULT_COST_PRICES,
  estimateCost,
  LAMBDA_PLATFORM_LOG_LINES,
  LAMBDA_PLATFORM_LOGS,
  type PriceSheet,
  platformLogsAt,
  US_EAST_1_ON_DEMAND,
} from '../../bench/cost-model';
import type { EdgeSystemLogLevel } from '../../functions/config/schema';

const prices: PriceSheet = {
  region: 'test-1',
  effectiveDate: '2024-11-01',
  source: 'test',
  writeRequestUnitUsdPerMillion: 1,
  readRequestUnitUsdPerMillion: 0.5,
  replicatedWriteRequestUnitUsdPerMillion: 2,
};

describe('estimateCost', () => {
  it('counts every successful write once per replica and reads once', () => {
    const c = estimateCost(
      {
        decisions: 2000,
        writeCalls: 1000,
        failedConditionalWrites: 0,
        readCalls: 200,
        writeUnits: 1000,
        readUnits: 100,
      },
      3,
      prices,
    );
    expect(c.writesPer1000).toBe(500);
    expect(c.readsPer1000).toBe(100);
    expect(c.wruPer1000).toBe(500);
    expect(c.rruPer1000).toBe(50);
    expect(c.rwruPer1000).toBe(1500);
    // (3000 rWRU × $2 + 100 RRU × $0.5) / 1e6 for 2000 decisions → per million decisions.
    expect(c.usdPerMillionDecisions).toBeCloseTo(((3000 * 2 + 100 * 0.5) / 1e6 / 2000) * 1e6, 12);
  });

  it('bills a write rejected by its condition once, in the receiving region only', () => {
    const c = estimateCost(
      {
        decisions: 1000,
        writeCalls: 0,
        failedConditionalWrites: 10,
        readCalls: 0,
        writeUnits: 0,
        readUnits: 0,
      },
      3,
      prices,
    );
    expect(c.writesPer1000).toBe(10);
    expect(c.wruPer1000).toBe(10);
    expect(c.rwruPer1000).toBe(10);
  });

  it('uses the store-reported units, so a 2 KB write costs 2 WRU per replica', () => {
    const c = estimateCost(
      {
        decisions: 1000,
        writeCalls: 1000,
        failedConditionalWrites: 0,
        readCalls: 0,
        writeUnits: 2000,
        readUnits: 0,
      },
      2,
      prices,
    );
    expect(c.rwruPer1000).toBe(4000);
  });

  it('one admitted request per decision on 3 replicas at us-east-1 prices costs 3 rWRU', () => {
    const c = estimateCost(
      {
        decisions: 1_000_000,
        writeCalls: 1_000_000,
        failedConditionalWrites: 0,
        readCalls: 0,
        writeUnits: 1_000_000,
        readUnits: 0,
      },
      3,
    );
    expect(c.usdPerMillionDecisions).toBeCloseTo(
      3 * US_EAST_1_ON_DEMAND.replicatedWriteRequestUnitUsdPerMillion,
      12,
    );
  });

  it('rejects zero decisions and non-integer replica counts', () => {
    const traffic = {
      decisions: 0,
      writeCalls: 0,
      failedConditionalWrites: 0,
      readCalls: 0,
      writeUnits: 0,
      readUnits: 0,
    };
    expect(() => estimateCost(traffic, 3)).toThrow(RangeError);
    expect(() => estimateCost({ ...traffic, decisions: 1 }, 0)).toThrow(RangeError);
    expect(() => estimateCost({ ...traffic, decisions: 1 }, 1.5)).toThrow(RangeError);
  });

  it('states a dated price sheet', () => {
    expect(US_EAST_1_ON_DEMAND.effectiveDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(US_EAST_1_ON_DEMAND.source.length).toBeGreaterThan(20);
  });
});

describe('billedDurationMs', () => {
  const model = { cpuSlowdown: 10, storeRoundTripMs: 10, granularityMs: 1 };

  it.each([
    // CPU × slowdown + round trips, rounded up to the granularity, at least one step.
    [100, 0, 1, 1],
    [150, 0, 1, 2],
    [500, 1, 1, 15],
    [501, 1, 1, 16],
    [0, 0, 1, 1],
    [500, 1, 50, 50],
    [5_000, 2, 50, 100],
  ])(
    '%i µs CPU, %i round trips, %i ms steps → %i ms',
    (cpuMicros, trips, granularityMs, billed) => {
      expect(billedDurationMs(cpuMicros, trips, { ...model, granularityMs })).toBe(billed);
    },
  );

  it('scales CPU to a 128 MB function (one vCPU at 1,769 MB)', () => {
    expect(cpuSlowdownAt(128)).toBeCloseTo(13.82, 2);
    expect(cpuSlowdownAt(1769)).toBe(1);
  });

  it('rejects negative work', () => {
    expect(() => billedDurationMs(-1, 0, model)).toThrow(RangeError);
    expect(() => billedDurationMs(0, -1, model)).toThrow(RangeError);
  });
});

describe('costPerMillionAdmitted', () => {
  const allPrices: CostPrices = {
    ...DEFAULT_COST_PRICES,
    lambdaEdgeRequests: { ...DEFAULT_COST_PRICES.lambdaEdgeRequests, usd: 1 },
    lambdaEdgeDuration: { ...DEFAULT_COST_PRICES.lambdaEdgeDuration, usd: 0.0001 },
    logsIngestion: { ...DEFAULT_COST_PRICES.logsIngestion, usd: 1 },
    customMetric: { ...DEFAULT_COST_PRICES.customMetric, usd: 0.5 },
    alarm: { ...DEFAULT_COST_PRICES.alarm, usd: 0.2 },
    dashboard: { ...DEFAULT_COST_PRICES.dashboard, usd: 4 },
    dynamodb: prices,
  };
  const platform = { bytesPerInvocation: 100, eventsPerInvocation: 2 };
  const run: CostRun = {
    admitted: 1000,
    // 1,250 requests, 250 of them refused: the viewer request runs for every one.
    viewerRequest: {
      invocations: 1250,
      billedMs: 3750,
      memoryMb: 128,
      outputBytes: 2000,
      outputEvents: 20,
    },
    viewerResponse: {
      invocations: 1000,
      billedMs: 1000,
      memoryMb: 128,
      outputBytes: 0,
      outputEvents: 0,
    },
    store: { writeUnits: 100, failedConditionalWrites: 10, readUnits: 40 },
    replicas: 3,
    edgeSystemLogLevel: 'INFO',
  };
  const fixed = { metricSeries: 100, alarmMetrics: 50, dashboards: 2, admittedPerMonth: 1e8 };
  const byId = (b: ReturnType<typeof costPerMillionAdmitted>): Record<CostPartId, number> =>
    Object.fromEntries(b.parts.map((p) => [p.id, p.usdPerMillion])) as Record<CostPartId, number>;

  it('prices every part from the measured quantities (hand-computed)', () => {
    const b = costPerMillionAdmitted(run, fixed, allPrices, platform, 10);
    const parts = byId(b);
    expect(b.parts.map((p) => p.id)).toEqual([...COST_PARTS]);
    expect(parts['edge-request-requests']).toBeCloseTo(1.25, 12); // 1.25 invocations × $1
    // 3.75 s × 0.125 GB per 1,000 admitted × $0.0001 per GB-s, per million.
    expect(parts['edge-request-duration']).toBeCloseTo(0.046875, 12);
    expect(parts['edge-response-requests']).toBeCloseTo(1, 12);
    expect(parts['edge-response-duration']).toBeCloseTo(0.0125, 12);
    // (100 written + 10 rejected) × $2 per million, per 1,000 admitted.
    expect(parts['dynamodb-writes']).toBeCloseTo(0.22, 12);
    // 100 writes × 2 other replicas × $2.
    expect(parts['dynamodb-replicated-writes']).toBeCloseTo(0.4, 12);
    expect(parts['dynamodb-reads']).toBeCloseTo(0.02, 12);
    // (2,000 bytes + 20 lines × 10) per 1,000 admitted = 2.2 B; × 1e6 / 2^30 × $1.
    expect(parts['logs-handlers']).toBeCloseTo(2.2e6 / 2 ** 30, 12);
    // 2,250 invocations × (100 + 2 × 10) bytes per 1,000 admitted = 270 B.
    expect(parts['logs-platform']).toBeCloseTo(270e6 / 2 ** 30, 12);
    // $50 and $18 a month over 100 million admitted.
    expect(parts['metric-series']).toBeCloseTo(0.5, 12);
    expect(parts['alarms-dashboards']).toBeCloseTo(0.18, 12);
    const perRequest =
      1.25 + 0.046875 + 1 + 0.0125 + 0.22 + 0.4 + 0.02 + 2.2e6 / 2 ** 30 + 270e6 / 2 ** 30;
    expect(b.perRequestUsdPerMillion).toBeCloseTo(perRequest, 12);
    expect(b.fixedUsdPerMonth).toBeCloseTo(68, 12);
    expect(b.totalUsdPerMillion).toBeCloseTo(perRequest + 0.68, 12);
    expect(b.parts.reduce((s, p) => s + p.share, 0)).toBeCloseTo(1, 12);
    expect(b.parts.filter((p) => p.fixed).map((p) => p.id)).toEqual([
      'metric-series',
      'alarms-dashboards',
    ]);
  });

  it('charges nothing for a viewer-response function that is not deployed', () => {
    const { viewerResponse: _, ...headersOff } = run;
    const on = costPerMillionAdmitted(run, fixed, allPrices, platform, 10);
    const off = costPerMillionAdmitted(headersOff, fixed, allPrices, platform, 10);
    expect(byId(off)['edge-response-requests']).toBe(0);
    expect(byId(off)['edge-response-duration']).toBe(0);
    expect(off.parts.find((p) => p.id === 'edge-response-duration')?.basis).toBe('not deployed');
    // Its requests, duration and platform lines: 1 + 0.0125 + 1,000 × 120 B per 1,000 admitted.
    expect(on.perRequestUsdPerMillion - off.perRequestUsdPerMillion).toBeCloseTo(
      1 + 0.0125 + 120e6 / 2 ** 30,
      12,
    );
  });

  it("counts Lambda's own records by the run's system log level unless told otherwise", () => {
    const at = (edgeSystemLogLevel: EdgeSystemLogLevel) =>
      costPerMillionAdmitted({ ...run, edgeSystemLogLevel }, fixed, allPrices);
    // 2,250 invocations × (254 B + 3 records × 26 B) per 1,000 admitted = 747 B; × 1e6 / 2^30 × $1.
    expect(byId(at('INFO'))['logs-platform']).toBeCloseTo(747e6 / 2 ** 30, 12);
    expect(byId(at('DEBUG'))['logs-platform']).toBeCloseTo(747e6 / 2 ** 30, 12);
    expect(at('INFO').parts.find((p) => p.id === 'logs-platform')?.basis).toBe(
      '747 bytes × $1 per GB (system log level INFO)',
    );
    // WARN: none per invocation; the rest unchanged.
    const warn = at('WARN');
    expect(byId(warn)['logs-platform']).toBe(0);
    expect(warn.parts.find((p) => p.id === 'logs-platform')?.basis).toBe(
      'none per invocation at system log level WARN (its rare warnings not counted)',
    );
    expect(at('INFO').perRequestUsdPerMillion - warn.perRequestUsdPerMillion).toBeCloseTo(
      747e6 / 2 ** 30,
      12,
    );
    expect(byId(warn)['logs-handlers']).toBeCloseTo(byId(at('INFO'))['logs-handlers'], 12);
  });

  it('with the default prices, one write per admitted request on three replicas is 3 × $0.625', () => {
    const b = costPerMillionAdmitted(
      { ...run, store: { writeUnits: 1000, failedConditionalWrites: 0, readUnits: 0 } },
      fixed,
    );
    expect(byId(b)['dynamodb-writes'] + byId(b)['dynamodb-replicated-writes']).toBeCloseTo(
      3 * 0.625,
      12,
    );
  });

  it('rejects a run that admitted nothing, a bad replica count and an empty month', () => {
    expect(() => costPerMillionAdmitted({ ...run, admitted: 0 }, fixed)).toThrow(RangeError);
    expect(() => costPerMillionAdmitted({ ...run, replicas: 0 }, fixed)).toThrow(RangeError);
    expect(() => costPerMillionAdmitted(run, { ...fixed, admittedPerMonth: 0 })).toThrow(
      RangeError,
    );
  });
});

describe('the priced lines and prices', () => {
  it("models Lambda's START, END and REPORT lines in their documented format", () => {
    const [start, end, report] = LAMBDA_PLATFORM_LOG_LINES;
    const id = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
    expect(start).toMatch(new RegExp(`^START RequestId: ${id} Version: \\d+$`));
    expect(end).toMatch(new RegExp(`^END RequestId: ${id}$`));
    expect(report).toMatch(
      new RegExp(
        `^REPORT RequestId: ${id}\\tDuration: [\\d.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB\\t$`,
      ),
    );
    expect(LAMBDA_PLATFORM_LOGS.eventsPerInvocation).toBe(3);
    expect(LAMBDA_PLATFORM_LOGS.bytesPerInvocation).toBe(254);
  });

  it('prices no record per invocation at WARN, and the START/END/REPORT lines at INFO and DEBUG', () => {
    expect(platformLogsAt('WARN')).toEqual({ bytesPerInvocation: 0, eventsPerInvocation: 0 });
    expect(platformLogsAt('INFO')).toBe(LAMBDA_PLATFORM_LOGS);
    expect(platformLogsAt('DEBUG')).toBe(LAMBDA_PLATFORM_LOGS);
  });

  it('dates every price and names its source', () => {
    const sourced = [
      DEFAULT_COST_PRICES.lambdaEdgeRequests,
      DEFAULT_COST_PRICES.lambdaEdgeDuration,
      DEFAULT_COST_PRICES.logsIngestion,
      DEFAULT_COST_PRICES.customMetric,
      DEFAULT_COST_PRICES.alarm,
      DEFAULT_COST_PRICES.dashboard,
      ...COST_COMPARISONS,
    ];
    for (const p of sourced) {
      expect(p.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(p.source).toMatch(/pricing page/);
    }
    expect(DEFAULT_COST_PRICES.lambdaEdgeDuration.granularityMs).toBe(1);
  });
});
