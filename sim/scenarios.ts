/**
 * The scenario catalogue behind `npm run simulate`, and the overrides the CLI
 * applies (`--lag`, `--regions`).
 *
 * Why these: lag 0 on one and on several slots must match the exact bucket
 * decision for decision; 50, 200 and 1000 ms show how over-admission grows
 * with lag (one scenario with a different lag per link, one with six regions
 * and every message between 10 ms and 2 s); the traffic shapes cover an even
 * load, an 80/10/10 skew, an idle
 * hour followed by a burst (where the naive PN-counter fails), a steady 3×
 * overload, a follow-the-sun wave and a partition that cuts and heals.
 */

import type { BucketPolicy } from '../functions/core';
import type { LagModel, ScenarioSpec, TrafficShape } from './types';

/** Region names used by the scenarios, in order; `--regions N` takes the first N. */
export const REGION_NAMES = [
  'us-east-1',
  'eu-west-1',
  'ap-southeast-1',
  'us-west-2',
  'eu-central-1',
  'ap-northeast-1',
  'sa-east-1',
  'ap-south-1',
] as const;

/** Most regions a scenario may have. */
export const MAX_REGIONS = REGION_NAMES.length;

/** 100 tokens, 20 tokens/s: a typical API key limit. */
export const DEFAULT_POLICY: BucketPolicy = {
  capacityTokens: 100,
  refillTokens: 20,
  refillIntervalMs: 1000,
};

/** The PN-counter trap's example (docs/design.md, "Why not one shared counter"): 10 tokens, 1 token/s. */
const SMALL_POLICY: BucketPolicy = { capacityTokens: 10, refillTokens: 1, refillIntervalMs: 1000 };

const REFILL_PER_SECOND = 20;

/** The lag model of `--lag MS`: each message takes between half and one and a half times MS. */
export function lagModel(meanMs: number): LagModel {
  return meanMs === 0 ? { kind: 'fixed', ms: 0 } : { kind: 'uniform', meanMs, jitter: 0.5 };
}

/** Both directions of each `a|b` pair get the same lag model. */
function symmetricLinks(meanMsByPair: Readonly<Record<string, number>>): Record<string, LagModel> {
  const links: Record<string, LagModel> = {};
  for (const [pair, meanMs] of Object.entries(meanMsByPair)) {
    const [a, b] = pair.split('|') as [string, string];
    links[`${a}>${b}`] = lagModel(meanMs);
    links[`${b}>${a}`] = lagModel(meanMs);
  }
  return links;
}

function regions(count: number): string[] {
  return REGION_NAMES.slice(0, count);
}

/** 80 % to the first region, the rest split evenly. */
function skewedShares(count: number): number[] {
  if (count === 1) return [1];
  return [0.8, ...Array.from({ length: count - 1 }, () => 0.2 / (count - 1))];
}

function uniform(name: string, lagMs: number, regionCount = 3): ScenarioSpec {
  return {
    name,
    description: `${regionCount} region(s), even load at 2× refill, lag ${lagMs} ms`,
    regions: regions(regionCount),
    policy: DEFAULT_POLICY,
    traffic: { kind: 'uniform', requestsPerSecond: 2 * REFILL_PER_SECOND },
    durationMs: 60_000,
    lag: lagModel(lagMs),
  };
}

const IDLE_BURST: TrafficShape = {
  kind: 'idle-burst',
  warmupMs: 10_000,
  warmupRequestsPerSecond: 2,
  idleMs: 3_600_000,
  burstMs: 10_000,
  burstRequestsPerSecondPerRegion: 50,
};

/** Every scenario `npm run simulate` runs by default. */
export const SCENARIOS: readonly ScenarioSpec[] = [
  uniform('single-region-lag0', 0, 1),
  uniform('uniform-lag0', 0),
  uniform('uniform-lag50', 50),
  uniform('uniform-lag200', 200),
  uniform('uniform-lag1000', 1000),
  {
    name: 'skewed-80-10-10-lag200',
    description: '3 regions, 80/10/10 split at 2× refill, lag 200 ms',
    regions: regions(3),
    policy: DEFAULT_POLICY,
    traffic: { kind: 'skewed', requestsPerSecond: 2 * REFILL_PER_SECOND, shares: skewedShares(3) },
    durationMs: 60_000,
    lag: lagModel(200),
  },
  {
    name: 'idle-burst-lag200',
    description: 'C=10, 1/s: 10 s warm-up, 1 h idle, then 50 req/s per region for 10 s, lag 200 ms',
    regions: regions(3),
    policy: SMALL_POLICY,
    traffic: IDLE_BURST,
    durationMs: 10_000 + 3_600_000 + 10_000,
    lag: lagModel(200),
    chartWindowMs: { fromMs: 10_000 + 3_600_000 - 1000, toMs: 10_000 + 3_600_000 + 10_000 },
  },
  {
    name: 'overload-3x-lag200',
    description: '3 regions, steady load at 3× refill, lag 200 ms',
    regions: regions(3),
    policy: DEFAULT_POLICY,
    traffic: { kind: 'uniform', requestsPerSecond: 3 * REFILL_PER_SECOND },
    durationMs: 60_000,
    lag: lagModel(200),
  },
  {
    name: 'diurnal-lag200',
    description: '3 regions, follow-the-sun wave (0.2×–2× refill each, 120 s day), lag 200 ms',
    regions: regions(3),
    policy: DEFAULT_POLICY,
    traffic: {
      kind: 'diurnal',
      periodMs: 120_000,
      minRequestsPerSecond: 0.2 * REFILL_PER_SECOND,
      maxRequestsPerSecond: 2 * REFILL_PER_SECOND,
    },
    durationMs: 240_000,
    lag: lagModel(200),
  },
  {
    name: 'per-link-lag',
    description:
      '3 regions at 2× refill, per-link lag: us–eu 700 ms, us–ap 1000 ms, eu–ap 1200 ms (±50 %)',
    regions: regions(3),
    policy: DEFAULT_POLICY,
    traffic: { kind: 'uniform', requestsPerSecond: 2 * REFILL_PER_SECOND },
    durationMs: 60_000,
    lag: lagModel(1000),
    links: symmetricLinks({
      'us-east-1|eu-west-1': 700,
      'us-east-1|ap-southeast-1': 1000,
      'eu-west-1|ap-southeast-1': 1200,
    }),
  },
  {
    name: 'six-regions-lag10-2000',
    description: '6 regions at 2× refill, every message 10–2000 ms (uniform): wide, uneven lag',
    regions: regions(6),
    policy: DEFAULT_POLICY,
    traffic: { kind: 'uniform', requestsPerSecond: 2 * REFILL_PER_SECOND },
    durationMs: 60_000,
    lag: { kind: 'uniform', meanMs: 1005, jitter: 995 / 1005 },
  },
  {
    name: 'clock-skew-2s',
    description: '3 regions at 3× refill, lag 200 ms; us-east-1’s clock runs 2 s ahead',
    regions: regions(3),
    policy: DEFAULT_POLICY,
    traffic: { kind: 'uniform', requestsPerSecond: 3 * REFILL_PER_SECOND },
    durationMs: 60_000,
    lag: lagModel(200),
    clockSkewMs: { 'us-east-1': 2000 },
  },
  {
    name: 'partition-lag200',
    description:
      '3 regions at 2× refill; eu-west-1 cut off from 30 s to 60 s, then healed; lag 200 ms',
    regions: regions(3),
    policy: DEFAULT_POLICY,
    traffic: { kind: 'uniform', requestsPerSecond: 2 * REFILL_PER_SECOND },
    durationMs: 90_000,
    lag: lagModel(200),
    partitions: [{ isolated: ['eu-west-1'], startMs: 30_000, endMs: 60_000 }],
  },
];

/** Names of the catalogue, in order. */
export const SCENARIO_NAMES: readonly string[] = SCENARIOS.map((s) => s.name);

/** Overrides from the command line. */
export interface ScenarioOverrides {
  /** Mean one-way lag of every link (ms). */
  readonly lagMs?: number;
  /** Number of regions (1..MAX_REGIONS). */
  readonly regions?: number;
}

/** A scenario with the CLI's overrides applied (the name is kept). */
export function withOverrides(spec: ScenarioSpec, overrides: ScenarioOverrides): ScenarioSpec {
  let next: ScenarioSpec = spec;
  if (overrides.lagMs !== undefined) {
    const { links: _links, ...rest } = next;
    next = { ...rest, lag: lagModel(overrides.lagMs) };
  }
  if (overrides.regions !== undefined && overrides.regions !== spec.regions.length) {
    const names = regions(overrides.regions);
    const traffic: TrafficShape =
      next.traffic.kind === 'skewed'
        ? { ...next.traffic, shares: skewedShares(names.length) }
        : next.traffic;
    const partitions = (next.partitions ?? [])
      .map((p) => ({ ...p, isolated: p.isolated.filter((r) => names.includes(r)) }))
      .filter((p) => p.isolated.length > 0 && p.isolated.length < names.length);
    next = { ...next, regions: names, traffic, partitions };
  }
  if (next === spec) return spec;
  const lag = next.lag.kind === 'fixed' ? next.lag.ms : next.lag.meanMs;
  return {
    ...next,
    description: `${spec.description} [overridden: ${next.regions.length} region(s), lag ${lag} ms]`,
  };
}
