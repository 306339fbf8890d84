/**
 * The EMF sink: counters and distributions aggregated in the container, one
 * document per minute and dimension group (detail and empty dimension sets),
 * written once per flush interval. Time is virtual (an injected clock).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  disabledByEnvironment,
  type EmfDistribution,
  type EmfDocument,
  EmfLimiterMetrics,
  type EmfLimiterMetricsOptions,
  MAX_VALUES_PER_METRIC,
  METRICS_FLUSH_INTERVAL_MS,
  quantiseLatencyMs,
  quantiseRatio,
} from '../../functions/shared/metrics';

/** 2024-05-01T12:00:00Z: a minute boundary. */
const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

function sinkAt(options: EmfLimiterMetricsOptions = {}) {
  let nowMs = T0;
  const lines: string[] = [];
  const sink = new EmfLimiterMetrics({
    clock: () => nowMs,
    write: (line) => lines.push(line),
    disabled: false,
    ...options,
  });
  return {
    sink,
    lines,
    docs: () => lines.map((l) => JSON.parse(l) as EmfDocument),
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

function find(docs: EmfDocument[], metric: string, dims: Record<string, string>) {
  return docs.filter(
    (d) =>
      d._aws.CloudWatchMetrics[0]?.Metrics.some((m) => m.Name === metric) &&
      Object.entries(dims).every(([k, v]) => d[k] === v),
  );
}

/** The `q`-quantile CloudWatch would read from Values/Counts (nearest rank). */
function quantile(dist: EmfDistribution, q: number): number {
  const rank = Math.ceil(q * dist.Count);
  let seen = 0;
  for (let i = 0; i < dist.Values.length; i++) {
    seen += dist.Counts[i] as number;
    if (seen >= rank) return dist.Values[i] as number;
  }
  return Number.NaN;
}

describe('EmfLimiterMetrics', () => {
  it('writes one document per dimension group, with detail and empty dimension sets, and sums counters', () => {
    const { sink, docs } = sinkAt();
    sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 0.5 });
    sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 0.25 });
    sink.decision({ policy: 'demo', outcome: 'refused', remainingRatio: 0 });
    sink.storeCall({ operation: 'readView', latencyMs: 3 });
    sink.storeCall({ operation: 'write', latencyMs: 150, errorKind: 'timeout' });
    sink.storeCall({ operation: 'write', latencyMs: 4, errorKind: 'conflict' });
    sink.fallback({ policy: 'api', mode: 'local' });
    sink.conditionalRetry({ policy: 'api' });
    sink.flush();
    const all = docs();
    const [allowed] = find(all, 'Decisions', { Policy: 'api', Outcome: 'allowed' });
    expect(allowed?._aws).toEqual({
      Timestamp: T0,
      CloudWatchMetrics: [
        {
          Namespace: 'EdgeRateLimiter',
          Dimensions: [['Policy', 'Outcome'], []],
          Metrics: [{ Name: 'Decisions', Unit: 'Count' }],
        },
      ],
    });
    expect(allowed?.Decisions).toBe(2);
    expect(allowed?.service).toBeUndefined();
    expect(find(all, 'Decisions', { Policy: 'demo', Outcome: 'refused' })[0]?.Decisions).toBe(1);
    expect(find(all, 'RemainingRatio', { Policy: 'api' })[0]?.RemainingRatio).toEqual({
      Values: [0.25, 0.5],
      Counts: [1, 1],
      Min: 0.25,
      Max: 0.5,
      Count: 2,
      Sum: 0.75,
    });
    const write = find(all, 'StoreCalls', { Operation: 'write' })[0];
    expect(write?.StoreCalls).toBe(2);
    expect(write?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
      { Name: 'StoreCalls', Unit: 'Count' },
      { Name: 'StoreLatency', Unit: 'Milliseconds' },
    ]);
    expect(write?.StoreLatency).toMatchObject({ Min: 4, Max: 150, Count: 2, Sum: 154 });
    // A conflict is the protocol working: no StoreErrors for it.
    const errors = all.filter((d) => 'StoreErrors' in d);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ Kind: 'timeout', StoreErrors: 1 });
    expect(find(all, 'Fallbacks', { Policy: 'api', Mode: 'local' })[0]?.Fallbacks).toBe(1);
    expect(find(all, 'ConditionalRetries', { Policy: 'api' })[0]?.ConditionalRetries).toBe(1);
  });

  it('writes at the end of an invocation only once the flush interval has passed', () => {
    const { sink, lines, docs, advance } = sinkAt();
    sink.fallback({ policy: 'api', mode: 'open' });
    expect(sink.flushIfDue()).toBe(false);
    advance(METRICS_FLUSH_INTERVAL_MS - 1);
    sink.fallback({ policy: 'api', mode: 'open' });
    expect(sink.flushIfDue()).toBe(false);
    expect(lines).toEqual([]);
    advance(1);
    expect(sink.flushIfDue()).toBe(true);
    const counted = docs().reduce((s, d) => s + (Number(d.Fallbacks) || 0), 0);
    expect(counted).toBe(2);
    // The interval restarts at the flush; an empty buffer writes nothing.
    expect(sink.flushIfDue()).toBe(false);
    advance(METRICS_FLUSH_INTERVAL_MS);
    lines.length = 0;
    expect(sink.flushIfDue()).toBe(true);
    expect(lines).toEqual([]);
  });

  it('stamps each document with the minute its events happened in, however late it is flushed', () => {
    const { sink, docs, advance } = sinkAt();
    advance(59_000);
    sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 1 });
    advance(2_000);
    sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 1 });
    sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 1 });
    advance(10 * 60_000);
    sink.flush();
    const decisions = find(docs(), 'Decisions', { Policy: 'api' });
    expect(decisions.map((d) => [d._aws.Timestamp, d.Decisions])).toEqual([
      [T0, 1],
      [T0 + 60_000, 2],
    ]);
  });

  it('keeps a distribution whose percentiles stay within the bucket width, with exact Min, Max, Count and Sum', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.05, max: 2_000, noNaN: true }), {
          minLength: 1,
          maxLength: 2_000,
        }),
        (latencies) => {
          const { sink, docs } = sinkAt({ maxBufferedEntries: 100_000 });
          for (const latencyMs of latencies) sink.storeCall({ operation: 'write', latencyMs });
          sink.flush();
          const parts = find(docs(), 'StoreLatency', { Operation: 'write' }).map(
            (d) => d.StoreLatency as EmfDistribution,
          );
          for (const part of parts) {
            expect(part.Values.length).toBeLessThanOrEqual(MAX_VALUES_PER_METRIC);
            expect(part.Counts).toHaveLength(part.Values.length);
          }
          const merged: EmfDistribution = {
            Values: parts.flatMap((p) => p.Values),
            Counts: parts.flatMap((p) => p.Counts),
            Min: Math.min(...parts.map((p) => p.Min)),
            Max: Math.max(...parts.map((p) => p.Max)),
            Count: parts.reduce((s, p) => s + p.Count, 0),
            Sum: parts.reduce((s, p) => s + p.Sum, 0),
          };
          const sorted = [...latencies].sort((a, b) => a - b);
          expect(merged.Count).toBe(latencies.length);
          expect(merged.Min).toBe(sorted[0]);
          expect(merged.Max).toBe(sorted.at(-1));
          const exactSum = latencies.reduce((s, v) => s + v, 0);
          expect(Math.abs(merged.Sum - exactSum)).toBeLessThanOrEqual(0.05 * exactSum + 1e-9);
          for (const q of [0.5, 0.9, 0.99]) {
            const exact = sorted[Math.ceil(q * sorted.length) - 1] as number;
            const read = quantile(merged, q);
            expect(Math.abs(read - exact) / exact).toBeLessThanOrEqual(0.05);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('splits a distribution of more than 100 distinct values over documents that all keep their dimensions', () => {
    const { sink, docs } = sinkAt();
    // 250 distinct pending-debt values (kept exactly: token counts).
    for (let i = 0; i < 250; i++) sink.pending({ debtTokens: i, handBackTokens: 0 });
    sink.flush();
    const parts = find(docs(), 'PendingDebtTokens', {});
    expect(parts).toHaveLength(3);
    for (const part of parts) {
      expect(part._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([[]]);
      expect((part.PendingDebtTokens as EmfDistribution).Values.length).toBeLessThanOrEqual(100);
    }
    const values = parts.flatMap((p) => (p.PendingDebtTokens as EmfDistribution).Values);
    expect(values).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(parts.reduce((s, p) => s + (p.PendingDebtTokens as EmfDistribution).Count, 0)).toBe(250);
  });

  it('flushes by itself when the buffer holds too many entries', () => {
    const { sink, lines } = sinkAt({ maxBufferedEntries: 3 });
    sink.conditionalRetry({ policy: 'a' });
    sink.conditionalRetry({ policy: 'a' });
    sink.conditionalRetry({ policy: 'b' });
    expect(lines).toEqual([]);
    sink.conditionalRetry({ policy: 'c' });
    expect(lines).toHaveLength(3);
  });

  it('writes about as many bytes for ten thousand requests as for a hundred', () => {
    const bytesFor = (requests: number) => {
      const { sink, lines } = sinkAt();
      for (let i = 0; i < requests; i++) {
        sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: (i % 10) / 10 });
        sink.storeCall({ operation: 'write', latencyMs: 2 + (i % 20) });
      }
      sink.flush();
      return lines.reduce((s, l) => s + l.length + 1, 0);
    };
    const hundred = bytesFor(100);
    expect(bytesFor(10_000)).toBeLessThan(hundred * 1.2);
    expect(hundred / 100).toBeLessThan(20);
  });

  it('buffers and writes nothing when disabled', () => {
    const { sink, lines, advance } = sinkAt({ disabled: true });
    sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 1 });
    advance(METRICS_FLUSH_INTERVAL_MS);
    sink.flushIfDue();
    sink.flush();
    expect(lines).toEqual([]);
  });

  it('rejects a negative interval and an empty buffer bound', () => {
    expect(() => new EmfLimiterMetrics({ flushIntervalMs: -1 })).toThrow(RangeError);
    expect(() => new EmfLimiterMetrics({ maxBufferedEntries: 0 })).toThrow(RangeError);
  });
});

describe('disabledByEnvironment', () => {
  it.each([
    ['true', true],
    ['1', true],
    [' ON ', true],
    ['false', false],
    ['0', false],
    ['', false],
    [undefined, false],
  ])('POWERTOOLS_METRICS_DISABLED=%s → %s', (value, disabled) => {
    expect(disabledByEnvironment({ POWERTOOLS_METRICS_DISABLED: value })).toBe(disabled);
  });
});

describe('quantisers', () => {
  it('keeps a latency within 5 % and in order', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.001, max: 1e6, noNaN: true }),
        fc.double({ min: 0.001, max: 1e6, noNaN: true }),
        (a, b) => {
          expect(Math.abs(quantiseLatencyMs(a) - a) / a).toBeLessThanOrEqual(0.05);
          if (a <= b) expect(quantiseLatencyMs(a)).toBeLessThanOrEqual(quantiseLatencyMs(b));
        },
      ),
    );
    expect(quantiseLatencyMs(0)).toBe(0);
    expect(quantiseLatencyMs(-3)).toBe(0);
  });

  it('rounds a ratio to 0.01 within 0..1', () => {
    expect(quantiseRatio(0.123)).toBe(0.12);
    expect(quantiseRatio(1.7)).toBe(1);
    expect(quantiseRatio(-1)).toBe(0);
    expect(quantiseRatio(Number.NaN)).toBe(0);
  });
});
