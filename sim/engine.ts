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

import { levelAt, type View } from '../functions/core';
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
export function runScenario(spec: ScenarioSpec, options: RunOptions): ScenarioRun {
  const { seed } = options;
  const names = options.strategies ?? STRATEGY_NAMES;
  const trace = generateTrace(spec, seed);
  const decisions = new Map<StrategyName, boolean[]>();
  const unseenMax = new Map<StrategyName, number>();
  let replicas: ScenarioRun['replicas'];

  // The ideal runs first: every other strategy is compared with it.
  const order: StrategyName[] = ['exact', ...names.filter((n) => n !== 'exact')];
  for (const name of order) {
    const strategy = createStrategy(name, spec, seed);
    const allowed: boolean[] = [];
    let maxUnseen = 0;
    for (const request of trace) {
      const outcome = strategy.decide(request);
      allowed.push(outcome.allowed);
      if (outcome.allowed && outcome.unseenTokens !== undefined) {
        maxUnseen = Math.max(maxUnseen, outcome.unseenTokens);
      }
    }
    decisions.set(name, allowed);
    if (strategy instanceof CheckpointMergeStrategy) {
      unseenMax.set(name, maxUnseen);
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
    measure(spec, seed, name, trace, decisions.get(name)!, ideal, idealTokens, unseenMax.get(name)),
  );
  const series = seriesOf(spec, trace, decisions, options.seriesPoints ?? 240);
  return { spec, seed, trace, results, decisions, series, ...(replicas ? { replicas } : {}) };
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
  unseenBoundTokens: number | undefined,
): StrategyResult {
  const { capacityTokens, refillTokens, refillIntervalMs: unit } = spec.policy;
  const replay = new ForcedReplay(capacityTokens * unit, refillTokens);
  let admittedRequests = 0;
  let admittedTokens = 0;
  let needlessRefusalTokens = 0;
  let differing = 0;
  trace.forEach((request, i) => {
    if (allowed[i] !== ideal[i]) differing++;
    if (allowed[i]) {
      admittedRequests++;
      admittedTokens += request.costTokens;
      replay.admit(request.atMs, request.costTokens * unit);
    } else if (replay.levelAt(request.atMs) >= request.costTokens * unit) {
      needlessRefusalTokens += request.costTokens;
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
    ...(unseenBoundTokens === undefined ? {} : { unseenBoundTokens }),
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
