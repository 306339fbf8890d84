/**
 * What the cost part compares and what it returns: the request mixes, the
 * deployment settings, the sizes and the result shapes (apart from
 * bench/cost-run.ts so that the report and its tests need none of the
 * machinery that measures them).
 */

import type { ClientHeadersMode, EdgeSystemLogLevel } from '../functions/config/schema';
import type { SeriesCount, WatchCount } from './cost-fixed';
import type { CostBreakdown, CostRun, DurationModel, FixedMonthly } from './cost-model';

/** A request mix. */
export interface CostWorkload {
  readonly id: 'busy-key' | 'cold-keys';
  readonly description: string;
  /** Distinct API keys, requested round-robin. */
  readonly keys: number;
}

/** A deployment setting compared. */
export interface CostVariant {
  readonly id: string;
  readonly description: string;
  readonly workload: CostWorkload['id'];
  /** The variant's `clientHeaders`; absent: as limiter.config.ts says (its default when it says nothing). */
  readonly clientHeaders?: ClientHeadersMode;
  /** The variant's `edgeSystemLogLevel`; absent: as limiter.config.ts says. */
  readonly edgeSystemLogLevel?: EdgeSystemLogLevel;
  /** `config`: the policies' leases as the config says; `none`: every lease removed. */
  readonly leases: 'config' | 'none';
}

/** Sizes of the cost part. */
export interface CostSizes {
  /** Requests per second each region's container receives (simulated time). */
  readonly requestsPerSecondPerContainer: number;
  /** Simulated traffic before the measured window (s). */
  readonly warmupSeconds: number;
  /** The measured window, in whole metrics-flush intervals (minutes). */
  readonly measuredMinutes: number;
  /** Variant ids to run; all when absent. */
  readonly variants?: readonly string[];
}

/** The request mixes. */
export const COST_WORKLOADS: readonly CostWorkload[] = [
  {
    id: 'busy-key',
    description: 'one API key, every region at the container rate (all admitted)',
    keys: 1,
  },
  {
    id: 'cold-keys',
    description:
      '600 API keys round-robin: each seen once a minute by each region (leases cannot help)',
    keys: 600,
  },
];

/** The settings compared, the default first. */
export const COST_VARIANTS: readonly CostVariant[] = [
  {
    id: 'default',
    description:
      'limiter.config.ts as shipped: no RateLimit headers on admitted responses (clientHeaders defaults to none), Lambda@Edge system logs at WARN, its leases',
    workload: 'busy-key',
    leases: 'config',
  },
  {
    id: 'headers-on',
    description:
      "as shipped, with clientHeaders: 'viewer-response' (RateLimit headers on admitted responses too)",
    workload: 'busy-key',
    clientHeaders: 'viewer-response',
    leases: 'config',
  },
  {
    id: 'no-leases',
    description: 'as shipped, every lease removed: one write per admitted request',
    workload: 'busy-key',
    leases: 'none',
  },
  {
    id: 'cold-keys',
    description: 'as shipped, many keys each seen rarely (leases cannot help)',
    workload: 'cold-keys',
    leases: 'config',
  },
];

/** What one variant measured and cost. */
export interface CostCase {
  readonly variant: CostVariant;
  readonly decisions: number;
  readonly admitted: number;
  readonly run: CostRun;
  /** Store round trips per viewer-request invocation (finished during it). */
  readonly storeCallsPerRequest: number;
  /** Handler output per admitted request (bytes). */
  readonly outputBytesPerAdmitted: number;
  /** Handler output per container and flush interval (bytes). */
  readonly outputBytesPerContainerMinute: number;
  /** Mean CPU time per invocation here, before scaling (µs). */
  readonly cpuMicrosPerRequest: number;
  readonly cpuMicrosPerResponse: number;
  readonly breakdown: CostBreakdown;
}

/** Result of the cost part. */
export interface CostResult {
  readonly regions: readonly string[];
  readonly sizes: CostSizes;
  readonly duration: DurationModel;
  readonly fixed: FixedMonthly;
  readonly series: SeriesCount;
  readonly watch: WatchCount;
  readonly cases: readonly CostCase[];
}
