/**
 * Small statistics for benchmark samples. Why a module of its own: every part
 * of the report summarises samples the same way (nearest-rank percentiles, so
 * a reported p99 is a value that was actually observed), and the report's
 * figures are only comparable if they are computed by one function.
 */

/** Summary of a sample of durations or counts. */
export interface Summary {
  /** Number of samples. */
  readonly count: number;
  readonly min: number;
  readonly median: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * The nearest-rank percentile of an ascending-sorted sample: the smallest
 * observed value such that at least `percent` % of the sample is at or below
 * it.
 *
 * @param sortedAscending - the sample, sorted ascending (not checked)
 * @param percent - in [0, 100]; 0 gives the minimum, 100 the maximum
 * @throws RangeError when the sample is empty or `percent` is outside [0, 100]
 */
export function percentile(sortedAscending: ArrayLike<number>, percent: number): number {
  const n = sortedAscending.length;
  if (n === 0) throw new RangeError('percentile of an empty sample');
  if (!(percent >= 0 && percent <= 100)) {
    throw new RangeError(`percent must be in [0, 100] (got ${percent})`);
  }
  const rank = Math.max(1, Math.ceil((percent / 100) * n));
  return sortedAscending[rank - 1] as number;
}

/** Summarises a sample (any order; the input is not modified). */
export function summarize(sample: ArrayLike<number>): Summary {
  if (sample.length === 0) throw new RangeError('summary of an empty sample');
  const sorted = Float64Array.from(sample).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    min: sorted[0] as number,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

/** `a / b`, or `undefined` when `b` is zero or either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return a / b;
}
