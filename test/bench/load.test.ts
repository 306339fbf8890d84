import { describe, expect, it } from 'vitest';
import { combineLoads } from '../../bench/load/load';
import { load } from './fixtures';

describe('combineLoads', () => {
  it('adds counts and durations and weighs latencies by responses', () => {
    const a = load(100, 40, { '200': 100 }); // 1 s, p99 40 ms
    const b = load(300, 20, { '200': 200, '429': 100 }); // 1 s, p99 20 ms
    const c = combineLoads([a, b]);
    expect(c.requests).toBe(400);
    expect(c.durationSeconds).toBe(2);
    expect(c.requestsPerSecond).toBe(200);
    expect(c.statusCounts).toEqual({ '200': 300, '429': 100 });
    expect(c.latencyMs.p99).toBeCloseTo((40 * 100 + 20 * 300) / 400, 12);
    expect(c.latencyMs.max).toBe(80);
    expect(c.bytesPerResponse).toBe(300);
  });

  it('returns a single segment unchanged in substance', () => {
    const a = load(250, 12, { '429': 500 });
    const c = combineLoads([a]);
    expect(c.requestsPerSecond).toBeCloseTo(250, 12);
    expect(c.latencyMs.p99).toBeCloseTo(12, 12);
    expect(c.statusCounts).toEqual({ '429': 500 });
  });

  it('rejects an empty list', () => {
    expect(() => combineLoads([])).toThrow(RangeError);
  });
});
