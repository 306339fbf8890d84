import { describe, expect, it } from 'vitest';
import { percentile, ratio, summarize } from '../../bench/stats';

describe('percentile (nearest rank)', () => {
  const sample = Float64Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  it.each([
    [0, 10],
    [1, 10],
    [10, 10],
    [11, 20],
    [50, 50],
    [90, 90],
    [91, 100],
    [99, 100],
    [100, 100],
  ])('p%d of 10..100 is %d', (p, expected) => {
    expect(percentile(sample, p)).toBe(expected);
  });

  it('returns an observed value, never an interpolation', () => {
    expect(percentile([1, 1000], 50)).toBe(1);
    expect(percentile([1, 1000], 51)).toBe(1000);
  });

  it('rejects an empty sample and percents outside [0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], 100.5)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts a copy and reports min, median, p99, max and mean', () => {
    const input = [5, 1, 4, 2, 3];
    const s = summarize(input);
    expect(s).toEqual({ count: 5, min: 1, median: 3, p90: 5, p99: 5, max: 5, mean: 3 });
    expect(input).toEqual([5, 1, 4, 2, 3]);
  });

  it('p99 of 1..1000 is 990 and the median 500', () => {
    const s = summarize(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(s.p99).toBe(990);
    expect(s.median).toBe(500);
  });

  it('rejects an empty sample', () => {
    expect(() => summarize([])).toThrow(RangeError);
  });
});

describe('ratio', () => {
  it('divides, and is undefined for a missing side or a zero denominator', () => {
    expect(ratio(6, 3)).toBe(2);
    expect(ratio(undefined, 3)).toBeUndefined();
    expect(ratio(3, undefined)).toBeUndefined();
    expect(ratio(3, 0)).toBeUndefined();
  });
});
