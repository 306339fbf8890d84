/**
 * Part 1: the CPU cost of the pure core's decision (merge on read over every
 * slot's checkpoint, then the admission rule) for views of 1, 3 and 6 slots,
 * and of `levelAt` alone.
 *
 * Why timed one call at a time: the tail (p99) is what an edge function's
 * latency budget sees, and it includes GC pauses and deoptimisations that a
 * batch average would hide. The timer's own overhead is measured the same way
 * and reported next to the figures (it is not subtracted, so the figures are an
 * upper bound). Each case is warmed up first so that the JIT has settled.
 */

import {
  type BucketPolicy,
  type Checkpoint,
  decide,
  levelAt,
  type SeenCount,
  type SlotItem,
  type View,
  viewOf,
} from '../functions/core';
import { type Summary, summarize } from './stats';

/** Region names used to build views, in order. */
export const BENCH_REGIONS: readonly string[] = [
  'us-east-1',
  'eu-west-1',
  'ap-southeast-1',
  'us-west-2',
  'eu-central-1',
  'ap-northeast-1',
];

/** The policy of the CPU benchmark: 1,000 tokens, 100 tokens/s. */
export const CPU_BENCH_POLICY: BucketPolicy = {
  capacityTokens: 1000,
  refillTokens: 100,
  refillIntervalMs: 1000,
};

/** Timing of one operation on one view size. */
export interface OperationTiming {
  /** `decide` or `levelAt`. */
  readonly operation: 'decide' | 'levelAt';
  /** Slots in the view (each with a checkpoint). */
  readonly slots: number;
  /** Nanoseconds per call. */
  readonly nanoseconds: Summary;
  /** Calls per second of one core, from the batch mean (no timer per call). */
  readonly callsPerSecond: number;
}

/** Result of part 1. */
export interface DecisionCostResult {
  readonly iterations: number;
  readonly warmupIterations: number;
  /** Median cost of an empty timed section (ns): the timer's own overhead. */
  readonly timerOverheadNs: number;
  readonly timings: readonly OperationTiming[];
}

/**
 * A view of `slots` slots as a bucket looks after steady traffic from every
 * region: each slot has taken some tokens and carries a checkpoint that saw
 * every slot (slightly stale counts for the others).
 */
export function steadyView(slots: number, nowMs: number): View {
  if (!(slots >= 1 && slots <= BENCH_REGIONS.length)) {
    throw new RangeError(`slots must be in [1, ${BENCH_REGIONS.length}] (got ${slots})`);
  }
  const names = BENCH_REGIONS.slice(0, slots);
  const inc = nowMs - 3_600_000;
  const items: SlotItem[] = names.map((slot, i) => {
    const n = 5_000 + 137 * i;
    const cv: Record<string, SeenCount> = {};
    for (const [j, other] of names.entries()) {
      cv[other] = { n: 5_000 + 137 * j - (other === slot ? 0 : 3), inc };
    }
    const checkpoint: Checkpoint = {
      ct: nowMs - 40 - 10 * i,
      cl: 600 * CPU_BENCH_POLICY.refillIntervalMs,
      cv,
    };
    return { slot, n, v: n, inc, at: checkpoint.ct, checkpoint };
  });
  return viewOf(items);
}

/** Options of {@link measureDecisionCost}. */
export interface DecisionCostOptions {
  /** Timed calls per case. */
  readonly iterations: number;
  /** Untimed calls per case before timing. */
  readonly warmupIterations: number;
  /** View sizes to measure. @default [1, 3, 6] */
  readonly slotCounts?: readonly number[];
}

/** Keeps results alive so that the JIT cannot drop the calls being timed. */
let sink = 0;

function timeCalls(iterations: number, call: (i: number) => number): Float64Array {
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    sink += call(i);
    samples[i] = Number(process.hrtime.bigint() - start);
  }
  return samples;
}

function batchCallsPerSecond(iterations: number, call: (i: number) => number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += call(i);
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return elapsedNs > 0 ? (iterations * 1e9) / elapsedNs : Number.POSITIVE_INFINITY;
}

/** Measures `decide` and `levelAt` for each view size. */
export function measureDecisionCost(options: DecisionCostOptions): DecisionCostResult {
  const nowMs = 1_700_000_000_000;
  const slotCounts = options.slotCounts ?? [1, 3, 6];
  timeCalls(options.warmupIterations, () => 0);
  const overhead = summarize(timeCalls(options.iterations, () => 0));
  const timings: OperationTiming[] = [];
  for (const slots of slotCounts) {
    const view = steadyView(slots, nowMs);
    const own = BENCH_REGIONS[0] as string;
    const cases: [OperationTiming['operation'], (i: number) => number][] = [
      [
        'decide',
        (i) =>
          decide({
            policy: CPU_BENCH_POLICY,
            view,
            slot: own,
            costTokens: 1,
            nowMs: nowMs + (i & 1023),
          }).levelScaled,
      ],
      ['levelAt', (i) => levelAt(CPU_BENCH_POLICY, view, nowMs + (i & 1023))],
    ];
    for (const [operation, call] of cases) {
      timeCalls(options.warmupIterations, call);
      const nanoseconds = summarize(timeCalls(options.iterations, call));
      const callsPerSecond = batchCallsPerSecond(options.iterations, call);
      timings.push({ operation, slots, nanoseconds, callsPerSecond });
    }
  }
  if (sink === Number.MIN_VALUE) timings.length = 0;
  return {
    iterations: options.iterations,
    warmupIterations: options.warmupIterations,
    timerOverheadNs: overhead.median,
    timings,
  };
}
