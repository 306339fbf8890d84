/**
 * The simulator's engine: one trace per (scenario, seed), every strategy run
 * on it in virtual time, and the same measurements for each.
 *
 * Why measured this way: "over-admission" is stated against the token-bucket
 * envelope (no window may admit more than C + R·|W|), computed exactly by a
 * forced replay of what a strategy admitted; "under-admission" counts only
 * refusals that a single store holding the same history would not have made,
 * so a strategy is not blamed for refusals the ideal would make too. Nothing
 * here reads a clock or Math.random: the same seed gives the same figures.
 *
 * Importable: the benchmarks reuse {@link runScenario} and {@link generateTrace}.
 */

import { fullRefillMs, levelAt, type View } from '../functions/core';
import { ForcedReplay } from './bucket-math';
import { CheckpointMergeStrategy, createStrategy, type ReplicaSnapshot } from './strategies';
import { generateTrace } from './traffic';
import {
  type LagModel,
  type ScenarioSpec,
  type Series,
  type SimRequest,
  STRATEGY_NAMES,
  type StrategyName,
  type StrategyResult,
} from './types';

export { generateTrace } from './traffic';
export * from './types';

/** Options of {@link runScenario}. */
export interface RunOptions {
  readonly seed: number;
  /** Which strategies to run. @default all of them */
  readonly strategies?: readonly StrategyName[];
  /** Points per series for charts. @default 240 */
  readonly seriesPoints?: number;
}

/** Everything one scenario run produced. */
export interface ScenarioRun {
  readonly spec: ScenarioSpec;
  readonly seed: number;
  readonly trace: readonly SimRequest[];
  readonly results: readonly StrategyResult[];
  /** Per strategy, whether each request of the trace was admitted. */
  readonly decisions: ReadonlyMap<StrategyName, readonly boolean[]>;
  readonly series: Series;
  /** Ours: every region's replica once all messages arrived, and each one's level then. */
  readonly replicas?: ReplicaSnapshot & { readonly levelsScaled: ReadonlyMap<string, number> };
}

/** Mean one-way lag over every directed link between the scenario's regions (ms, rounded). */
export function meanLagMs(spec: ScenarioSpec): number {
  const meanOf = (m: LagModel) => (m.kind === 'fixed' ? m.ms : m.meanMs);
  let sum = 0;
  let links = 0;
  for (const from of spec.regions) {
    for (const to of spec.regions) {
      if (from === to) continue;
      sum += meanOf(spec.links?.[`${from}>${to}`] ?? spec.lag);
      links++;
    }
  }
  return links === 0 ? meanOf(spec.lag) : Math.round(sum / links);
}

/** Runs every strategy on the scenario's trace and measures each. */
export async function runScenario(spec: ScenarioSpec, options: RunOptions): Promise<ScenarioRun> {
  const { seed } = options;
  const names = options.strategies ?? STRATEGY_NAMES;
  const trace = generateTrace(spec, seed);
  const decisions = new Map<StrategyName, boolean[]>();
  const observed = new Map<StrategyName, Observed>();
  let replicas: ScenarioRun['replicas'];

  // The ideal runs first: every other strategy is compared with it.
  const order: StrategyName[] = ['exact', ...names.filter((n) => n !== 'exact')];
  for (const name of order) {
    const strategy = createStrategy(name, spec, seed);
    const allowed: boolean[] = [];
    const retryAfterMs: (number | undefined)[] = [];
    let maxUnseen: number | undefined;
    for (const request of trace) {
      const outcome = await strategy.decide(request);
      allowed.push(outcome.allowed);
      retryAfterMs.push(outcome.retryAfterMs);
      if (outcome.unseenTokens !== undefined) {
        maxUnseen = Math.max(maxUnseen ?? 0, outcome.allowed ? outcome.unseenTokens : 0);
      }
    }
    decisions.set(name, allowed);
    observed.set(name, { retryAfterMs, maxUnseen });
    if (strategy instanceof CheckpointMergeStrategy) {
      const snapshot = strategy.snapshot();
      const levelsScaled = new Map<string, number>();
      for (const [region, view] of snapshot.views) {
        levelsScaled.set(region, levelAt(spec.policy, view, snapshot.atMs));
      }
      replicas = { ...snapshot, levelsScaled };
    } else {
      strategy.finish();
    }
  }

  const ideal = decisions.get('exact')!;
  const idealTokens = admittedTokensOf(trace, ideal);
  const results = names.map((name) =>
    measure(spec, seed, name, trace, decisions.get(name)!, ideal, idealTokens, observed.get(name)!),
  );
  const series = seriesOf(spec, trace, decisions, options.seriesPoints ?? 240);
  return { spec, seed, trace, results, decisions, series, ...(replicas ? { replicas } : {}) };
}

/** What a strategy reported besides its decisions. */
interface Observed {
  /** Per request, the retry time it gave (strategies that report one). */
  readonly retryAfterMs: readonly (number | undefined)[];
  /** The most unseen tokens at an admission (ours only). */
  readonly maxUnseen: number | undefined;
}

function admittedTokensOf(trace: readonly SimRequest[], allowed: readonly boolean[]): number {
  let tokens = 0;
  trace.forEach((r, i) => {
    if (allowed[i]) tokens += r.costTokens;
  });
  return tokens;
}

function measure(
  spec: ScenarioSpec,
  seed: number,
  strategy: StrategyName,
  trace: readonly SimRequest[],
  allowed: readonly boolean[],
  ideal: readonly boolean[],
  idealTokens: number,
  observed: Observed,
): StrategyResult {
  const { capacityTokens, refillTokens, refillIntervalMs: unit } = spec.policy;
  const replay = new ForcedReplay(capacityTokens * unit, refillTokens);
  const healMs = spec.partitions?.reduce((last, p) => Math.max(last, p.endMs), 0);
  const settledMs = healMs === undefined ? undefined : healMs + fullRefillMs(spec.policy);
  let admittedRequests = 0;
  let admittedTokens = 0;
  let needlessRefusalTokens = 0;
  let needlessAfterHeal = 0;
  let needlessLater = 0;
  let differing = 0;
  let refusalsWithRetry = 0;
  let longerRetries = 0;
  let worstRetryExcessMs = 0;
  trace.forEach((request, i) => {
    if (allowed[i] !== ideal[i]) differing++;
    const cost = request.costTokens * unit;
    if (allowed[i]) {
      admittedRequests++;
      admittedTokens += request.costTokens;
      replay.admit(request.atMs, cost);
      return;
    }
    const level = replay.levelAt(request.atMs);
    if (level >= cost) {
      needlessRefusalTokens += request.costTokens;
      if (settledMs !== undefined && healMs !== undefined && request.atMs >= healMs) {
        if (request.atMs < settledMs) needlessAfterHeal += request.costTokens;
        else needlessLater += request.costTokens;
      }
    }
    const retry = observed.retryAfterMs[i];
    if (retry !== undefined) {
      refusalsWithRetry++;
      const exactRetry = level >= cost ? 0 : Math.ceil((cost - level) / refillTokens);
      if (retry > exactRetry) {
        longerRetries++;
        worstRetryExcessMs = Math.max(worstRetryExcessMs, retry - exactRetry);
      }
    }
  });
  const worstWindowExcessTokens = replay.worstExcessUnits() / unit;
  return {
    scenario: spec.name,
    strategy,
    regions: spec.regions.length,
    lagMs: meanLagMs(spec),
    seed,
    capacityTokens,
    refillTokensPerSecond: (refillTokens * 1000) / unit,
    requests: trace.length,
    admittedRequests,
    admittedTokens,
    idealTokens,
    admittedPercentOfIdeal: idealTokens === 0 ? 100 : (100 * admittedTokens) / idealTokens,
    worstWindowExcessTokens,
    worstWindowExcessCapacity: worstWindowExcessTokens / capacityTokens,
    underAdmittedTokens: Math.max(0, idealTokens - admittedTokens),
    needlessRefusalTokens,
    decisionsDifferingFromIdeal: differing,
    ...(observed.maxUnseen === undefined ? {} : { unseenBoundTokens: observed.maxUnseen }),
    ...(refusalsWithRetry === 0 || strategy === 'exact'
      ? {}
      : { longerRetryShare: longerRetries / refusalsWithRetry, worstRetryExcessMs }),
    ...(settledMs === undefined
      ? {}
      : { needlessAfterHealTokens: needlessAfterHeal, needlessLaterTokens: needlessLater }),
  };
}

function seriesOf(
  spec: ScenarioSpec,
  trace: readonly SimRequest[],
  decisions: ReadonlyMap<StrategyName, readonly boolean[]>,
  points: number,
): Series {
  const fromMs = spec.chartWindowMs?.fromMs ?? 0;
  const toMs = spec.chartWindowMs?.toMs ?? spec.durationMs;
  const timesMs = Array.from(
    { length: points + 1 },
    (_, i) => fromMs + ((toMs - fromMs) * i) / points,
  );
  const byStrategy = new Map<StrategyName, number[]>();
  for (const [name, allowed] of decisions) {
    const values: number[] = [];
    let cumulative = 0;
    let next = 0;
    // Counted from the window's start, so an idle hour before a burst does not flatten the chart.
    while (next < trace.length && trace[next]!.atMs < fromMs) next++;
    for (const t of timesMs) {
      while (next < trace.length && trace[next]!.atMs <= t) {
        if (allowed[next]) cumulative += trace[next]!.costTokens;
        next++;
      }
      values.push(cumulative);
    }
    byStrategy.set(name, values);
  }
  return { timesMs, byStrategy };
}

/** Whether every replica holds the same items (after a run, once all messages arrived). */
export function replicasConverged(views: ReadonlyMap<string, View>): boolean {
  const canonical = [...views.values()].map((view) =>
    JSON.stringify([...view.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
  return canonical.every((c) => c === canonical[0]);
}
