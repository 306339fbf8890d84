/**
 * The simulator's vocabulary: scenarios (regions, policy, traffic, network),
 * requests, strategies and their measured results.
 *
 * Why plain data: a scenario is a value that can be printed, compared and
 * reused by the benchmarks; the engine is a pure function of (scenario, seed).
 */

import type { BucketPolicy } from '../functions/core';

/** How long one replication message takes on a link, per message. */
export type LagModel =
  /** Every message takes exactly `ms`. */
  | { readonly kind: 'fixed'; readonly ms: number }
  /** Uniform in `[meanMs·(1 − jitter), meanMs·(1 + jitter)]`, integer ms. */
  | { readonly kind: 'uniform'; readonly meanMs: number; readonly jitter: number };

/** A network partition: no message crosses between the two sides while it lasts. */
export interface Partition {
  /** Regions on one side; every other region is on the other side. */
  readonly isolated: readonly string[];
  readonly startMs: number;
  /** Messages held by the cut are delivered after this, plus their lag. */
  readonly endMs: number;
}

/** The shape of the offered load. */
export type TrafficShape =
  /** Poisson arrivals, the same rate in every region. */
  | { readonly kind: 'uniform'; readonly requestsPerSecond: number }
  /** Poisson arrivals split by `shares` (one per region, summing to 1). */
  | {
      readonly kind: 'skewed';
      readonly requestsPerSecond: number;
      readonly shares: readonly number[];
    }
  /**
   * A short warm-up, a long idle, then every region bursts at once: where a
   * counter that applies the capacity cap only on read admits far too much.
   */
  | {
      readonly kind: 'idle-burst';
      readonly warmupMs: number;
      readonly warmupRequestsPerSecond: number;
      readonly idleMs: number;
      readonly burstMs: number;
      readonly burstRequestsPerSecondPerRegion: number;
    }
  /**
   * Follow-the-sun: each region's rate is a sine wave over `periodMs`, phases
   * spread evenly, between `minRequestsPerSecond` and `maxRequestsPerSecond`.
   */
  | {
      readonly kind: 'diurnal';
      readonly periodMs: number;
      readonly minRequestsPerSecond: number;
      readonly maxRequestsPerSecond: number;
    };

/** One simulated scenario. */
export interface ScenarioSpec {
  /** Short kebab-case name, unique in the catalogue. */
  readonly name: string;
  /** One line for the table and the chart. */
  readonly description: string;
  readonly regions: readonly string[];
  readonly policy: BucketPolicy;
  readonly traffic: TrafficShape;
  /** Request costs are uniform integers in `[min, max]`. @default {min: 1, max: 1} */
  readonly costTokens?: { readonly min: number; readonly max: number };
  /** Last moment a request may arrive (ms from the start). */
  readonly durationMs: number;
  /** Lag of every link unless `links` says otherwise. */
  readonly lag: LagModel;
  /** Per directed link `from>to`, e.g. `us-east-1>ap-southeast-1`. */
  readonly links?: Readonly<Record<string, LagModel>>;
  readonly partitions?: readonly Partition[];
  /**
   * Per region, how far its clock runs ahead of true time (ms; negative:
   * behind). Ours decide at their own clock's time; the trace, the network and
   * the measurements stay on true time.
   */
  readonly clockSkewMs?: Readonly<Record<string, number>>;
  /** The part of the timeline the chart shows (ms); defaults to the whole run. */
  readonly chartWindowMs?: { readonly fromMs: number; readonly toMs: number };
}

/** One request of a trace. */
export interface SimRequest {
  /** Position in the trace (0-based). */
  readonly index: number;
  /** Arrival time, ms from the start. */
  readonly atMs: number;
  readonly region: string;
  readonly costTokens: number;
}

/** Every strategy the simulator compares. */
export const STRATEGY_NAMES = [
  'exact',
  'checkpoint-merge',
  'limiter',
  'independent',
  'static-split',
  'pn-counter',
  'escrow',
] as const;

/** A strategy's name. */
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** What each strategy is, in a few words (table legend and chart legend). */
export const STRATEGY_LABELS: Readonly<Record<StrategyName, string>> = {
  exact: 'exact single-store bucket (ideal)',
  'checkpoint-merge': 'ours, the core alone: per-region slots, checkpoints merged on read',
  limiter: 'ours as shipped: the real Limiter per region (caches, leases, failure modes)',
  independent: 'independent full bucket per region',
  'static-split': 'static split: C/N and R/N per region',
  'pn-counter': 'naive PN-counter bucket (min(C, adds − consumes))',
  escrow: 'escrow: C and R split into rights per region, moved towards demand',
};

/** The figures of one strategy on one scenario. */
export interface StrategyResult {
  readonly scenario: string;
  readonly strategy: StrategyName;
  readonly regions: number;
  /** Mean one-way replication lag over the scenario's links (ms). */
  readonly lagMs: number;
  readonly seed: number;
  readonly capacityTokens: number;
  readonly refillTokensPerSecond: number;
  readonly requests: number;
  readonly admittedRequests: number;
  readonly admittedTokens: number;
  /** Tokens the exact single-store bucket admits on the same trace. */
  readonly idealTokens: number;
  /** admittedTokens / idealTokens, in percent. */
  readonly admittedPercentOfIdeal: number;
  /**
   * Worst over-admission in any time window W: max over W of
   * (tokens admitted in W − C − R·|W|), at least 0.
   */
  readonly worstWindowExcessTokens: number;
  /** The same in units of capacity. */
  readonly worstWindowExcessCapacity: number;
  /** Net shortfall against the ideal: max(0, idealTokens − admittedTokens). */
  readonly underAdmittedTokens: number;
  /**
   * Tokens refused although a single store holding exactly this strategy's
   * past admissions would have had them: refusals that were not needed at
   * that moment (a timing measure; a lagged strategy may admit them later).
   */
  readonly needlessRefusalTokens: number;
  /** Requests whose decision differs from the exact bucket's on the same trace. */
  readonly decisionsDifferingFromIdeal: number;
  /**
   * Ours only: the largest number of tokens other regions had admitted that a
   * deciding region had not yet seen (for the limiter: its cached view, so the
   * cache's age counts as lag). Property 4 says the worst-window excess never
   * exceeds it.
   */
  readonly unseenBoundTokens?: number;
  /**
   * Ours only: of the refusals, the share whose retry time exceeds what the
   * exact level of this strategy's own admissions gives (Retry-After longer
   * than needed), and the worst such excess (ms).
   */
  readonly longerRetryShare?: number;
  readonly worstRetryExcessMs?: number;
  /**
   * Scenarios with a partition: needless refusals (tokens) in the first
   * refill-to-full time after the heal, and after that. Converging within one
   * refill-to-full time means the second is no worse than without a partition.
   */
  readonly needlessAfterHealTokens?: number;
  readonly needlessLaterTokens?: number;
}

/** Cumulative admitted tokens over time, for the chart. */
export interface Series {
  readonly timesMs: readonly number[];
  readonly byStrategy: ReadonlyMap<StrategyName, readonly number[]>;
}
