/**
 * Benchmark sizes. Why two profiles: `npm run bench` must finish in a few
 * minutes on a 2-core machine and `--quick` in under one (a smoke run for CI
 * and tests); every size lives here so that the two stay comparable and no
 * module hard-codes a count or a duration.
 */

import type { CostSizes } from './cost-variants';
import type { EdgeLatencySizes } from './edge-latency';
import type { EscrowBenchSizes } from './escrow';

/** Every size the benchmark uses. */
export interface BenchSizes {
  readonly profile: 'full' | 'quick';
  readonly decisionCost: { readonly iterations: number; readonly warmupIterations: number };
  readonly storeTraffic: {
    /** Warm-up decisions per case (at least what the workload needs to settle). */
    readonly warmupDecisions: number;
    readonly measuredDecisions: number;
    /** Limiter settings to compare; all when absent. */
    readonly variants?: readonly string[];
  };
  readonly endToEnd: {
    readonly connections: number;
    /** Warm-up per decider (s). autocannon works in whole seconds. */
    readonly warmupSeconds: number;
    /** One measured segment (s); each contender runs two, interleaved. */
    readonly segmentSeconds: number;
    /** The no-limiter run (s). */
    readonly noneSeconds: number;
    /** Segment of the equal-load runs (s); 0 skips them. */
    readonly equalLoadSegmentSeconds: number;
    /** Count bound of one measured run. */
    readonly maxRequests: number;
    /** Keys of the allowed-hot workload (few: the view cache serves them). */
    readonly hotKeys: number;
    /** Keys of the allowed-cold workload (many: every request reads its bucket). */
    readonly coldKeys: number;
  };
  readonly accuracy: {
    readonly seeds: readonly number[];
    /** Scenario names; all standard scenarios when absent. */
    readonly scenarios?: readonly string[];
  };
  readonly scale: {
    readonly regionCounts: readonly number[];
    readonly regionWarmupDecisions: number;
    readonly regionMeasuredDecisions: number;
    readonly cpuIterations: number;
    readonly keyCounts: readonly number[];
    readonly minDecisions: number;
    readonly concurrency: number;
    readonly keysTimeBudgetMs: number;
  };
  /** A request charged to several limits against one (bench/several-limits.ts). */
  readonly severalLimits: { readonly seconds: number; readonly ratePerSecond: number };
  /** Today's edge client against the light one (bench/edge-client.ts). */
  readonly edgeClient: {
    readonly rounds: number;
    readonly decisionsPerRound: number;
    readonly warmupDecisions: number;
    readonly moduleLoadRuns: number;
  };
  readonly cost: CostSizes;
  /** The edge simulator's per-region table (bench/edge-latency.ts). */
  readonly edgeLatency: EdgeLatencySizes;
  /** Escrow beside eventual: store calls, latency and a cut (bench/escrow.ts). */
  readonly escrow: EscrowBenchSizes;
}

/** `npm run bench`: a few minutes. */
export const FULL_SIZES: BenchSizes = {
  profile: 'full',
  decisionCost: { iterations: 200_000, warmupIterations: 50_000 },
  // A multiple of 300 = 30 (key, region) containers × 10-token leases: whole lease cycles.
  storeTraffic: { warmupDecisions: 500, measuredDecisions: 1_200 },
  endToEnd: {
    connections: 32,
    warmupSeconds: 2,
    segmentSeconds: 3,
    noneSeconds: 3,
    equalLoadSegmentSeconds: 3,
    maxRequests: 400_000,
    hotKeys: 20,
    coldKeys: 10_000,
  },
  accuracy: { seeds: [1, 2, 3, 4, 5] },
  scale: {
    regionCounts: [1, 2, 3, 4, 5, 6],
    regionWarmupDecisions: 300,
    regionMeasuredDecisions: 300,
    cpuIterations: 50_000,
    keyCounts: [1, 100, 10_000, 100_000],
    minDecisions: 1_000,
    concurrency: 32,
    keysTimeBudgetMs: 30_000,
  },
  // Virtual time: 30 s of 40 requests/s per workload and rule (a few seconds to run).
  severalLimits: { seconds: 30, ratePerSecond: 40 },
  // Warm-up long enough for the JIT to settle on both clients: early rounds cost more.
  edgeClient: { rounds: 12, decisionsPerRound: 500, warmupDecisions: 2_000, moduleLoadRuns: 15 },
  // A busy key at 10 requests/s per container; three whole metrics-flush intervals.
  cost: { requestsPerSecondPerContainer: 10, warmupSeconds: 10, measuredMinutes: 3 },
  // Virtual time: every workload in every regional edge cache region, about a minute.
  edgeLatency: { durationS: 60 },
  // Virtual time: 30 s per workload and mode, and a 40 s run with a 10 s cut (seconds to run).
  escrow: { seconds: 30, cutRunSeconds: 40, cutSeconds: 10 },
};

/** `npm run bench -- --quick`: under a minute, same shape, smaller sizes. */
export const QUICK_SIZES: BenchSizes = {
  profile: 'quick',
  decisionCost: { iterations: 20_000, warmupIterations: 5_000 },
  storeTraffic: {
    warmupDecisions: 100,
    measuredDecisions: 300,
    variants: ['view-cache', 'lease-10'],
  },
  endToEnd: {
    connections: 16,
    warmupSeconds: 1,
    segmentSeconds: 1,
    noneSeconds: 1,
    equalLoadSegmentSeconds: 0,
    maxRequests: 50_000,
    hotKeys: 20,
    coldKeys: 2_000,
  },
  accuracy: {
    seeds: [1],
    scenarios: ['uniform-lag200', 'idle-burst-lag200', 'partition-lag200'],
  },
  scale: {
    regionCounts: [1, 3],
    regionWarmupDecisions: 50,
    regionMeasuredDecisions: 150,
    cpuIterations: 10_000,
    keyCounts: [1, 1_000],
    minDecisions: 200,
    concurrency: 16,
    keysTimeBudgetMs: 4_000,
  },
  edgeClient: { rounds: 4, decisionsPerRound: 200, warmupDecisions: 600, moduleLoadRuns: 5 },
  severalLimits: { seconds: 5, ratePerSecond: 40 },
  // Same rate (the leases depend on it), one interval, the two settings that matter most.
  cost: {
    requestsPerSecondPerContainer: 10,
    warmupSeconds: 5,
    measuredMinutes: 1,
    variants: ['default', 'headers-on'],
  },
  edgeLatency: {
    durationS: 5,
    workloads: ['busy-key', 'cold-keys'],
    edgeRegions: ['us-east-1', 'sa-east-1', 'ap-southeast-2'],
  },
  // The cut run costs well under a second of this machine's time: the same run as the full one.
  escrow: { seconds: 5, cutRunSeconds: 40, cutSeconds: 10 },
};

/** Benchmark parts, in report order. */
export const PARTS = [
  'decision',
  'traffic',
  'e2e',
  'accuracy',
  'scale',
  'edge-client',
  'cost',
  'edge',
  'limits',
  'escrow',
] as const;
/** One benchmark part. */
export type BenchPart = (typeof PARTS)[number];

/** Parsed command line. */
export interface BenchArgs {
  readonly sizes: BenchSizes;
  /** Parts to run (all by default). */
  readonly parts: readonly BenchPart[];
  /**
   * Directory of report.md and report.json, relative to the working
   * directory; undefined writes no files (`--cost` without `--out`).
   */
  readonly outDir: string | undefined;
  /** `--cost`: run the cost part alone and print its table; write files only with `--out`. */
  readonly costOnly: boolean;
}

/** Where a complete full run writes its report: the tracked one the README cites. */
export const REPORT_DIR = 'bench/results';

/** Where any other run writes unless `--out` says otherwise (gitignored). */
export const SCRATCH_DIR = 'bench/out';

/** Thrown for an unknown flag or part; the message lists what is accepted. */
export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

/**
 * Parses `[--quick] [--only part,part] [--out dir] [--cost]`. Only a full run
 * of every part writes {@link REPORT_DIR} by default; a quick or partial run
 * writes {@link SCRATCH_DIR}, so it never replaces the tracked report by
 * accident; `--cost` alone writes nothing unless `--out` is given.
 *
 * @throws {@link BenchUsageError} on anything else.
 */
export function parseArgs(argv: readonly string[]): BenchArgs {
  let sizes = FULL_SIZES;
  let parts: BenchPart[] = [...PARTS];
  let outDir: string | undefined;
  let costOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--quick') sizes = QUICK_SIZES;
    else if (arg === '--cost') costOnly = true;
    else if (arg === '--only' || arg === '--out') {
      const value = argv[++i];
      if (value === undefined) throw new BenchUsageError(`${arg} needs a value`);
      if (arg === '--out') outDir = value;
      else {
        const wanted = value.split(',').map((p) => p.trim());
        const unknown = wanted.filter((p) => !(PARTS as readonly string[]).includes(p));
        if (unknown.length > 0) {
          throw new BenchUsageError(
            `unknown part(s) ${unknown.join(', ')}; parts are ${PARTS.join(', ')}`,
          );
        }
        parts = PARTS.filter((p) => wanted.includes(p));
      }
    } else {
      throw new BenchUsageError(
        `unknown argument "${arg}"; usage: npm run bench -- [--quick] [--only ${PARTS.join(',')}] [--out dir] [--cost]`,
      );
    }
  }
  if (costOnly) return { sizes, parts: ['cost'], outDir, costOnly };
  const complete = sizes.profile === 'full' && parts.length === PARTS.length;
  return { sizes, parts, outDir: outDir ?? (complete ? REPORT_DIR : SCRATCH_DIR), costOnly };
}
