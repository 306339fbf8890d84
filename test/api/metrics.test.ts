/** The EMF sink: one document per dimension group, with the aggregate (empty) dimension set. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EmfLimiterMetrics } from '../../functions/shared/metrics';

interface EmfDocument {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

function captureEmf(run: () => void): EmfDocument[] {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as EmfDocument);
}

afterEach(() => vi.restoreAllMocks());

describe('EmfLimiterMetrics', () => {
  it('writes each dimension group as its own document, with detail and empty dimension sets', () => {
    const sink = new EmfLimiterMetrics();
    const docs = captureEmf(() => {
      sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 0.5 });
      sink.decision({ policy: 'api', outcome: 'allowed', remainingRatio: 0.25 });
      sink.decision({ policy: 'demo', outcome: 'refused', remainingRatio: 0 });
      sink.storeCall({ operation: 'readView', latencyMs: 3 });
      sink.storeCall({ operation: 'write', latencyMs: 150, errorKind: 'timeout' });
      sink.storeCall({ operation: 'write', latencyMs: 4, errorKind: 'conflict' });
      sink.fallback({ policy: 'api', mode: 'local' });
      sink.conditionalRetry({ policy: 'api' });
      sink.flush();
    });
    const find = (metric: string, dims: Record<string, string>) =>
      docs.find(
        (d) =>
          d._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === metric) &&
          Object.entries(dims).every(([k, v]) => d[k] === v),
      );
    const decisions = find('Decisions', { Policy: 'api', Outcome: 'allowed' })!;
    expect(decisions._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'EdgeRateLimiter',
      Dimensions: [['Policy', 'Outcome'], []],
    });
    expect(decisions.Decisions).toEqual([1, 1]);
    expect(decisions.service).toBeUndefined();
    expect(find('RemainingRatio', { Policy: 'api' })!.RemainingRatio).toEqual([0.5, 0.25]);
    expect(find('Decisions', { Policy: 'demo', Outcome: 'refused' })!.Decisions).toBe(1);
    const errors = docs.filter((d) => 'StoreErrors' in d);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ Kind: 'timeout', StoreErrors: 1 });
    expect(find('StoreCalls', { Operation: 'write' })!.StoreCalls).toEqual([1, 1]);
    expect(
      find('StoreLatency', { Operation: 'write' })!._aws.CloudWatchMetrics[0]!.Metrics,
    ).toContainEqual({
      Name: 'StoreLatency',
      Unit: 'Milliseconds',
    });
    expect(find('Fallbacks', { Policy: 'api', Mode: 'local' })!.Fallbacks).toBe(1);
    expect(find('ConditionalRetries', { Policy: 'api' })!.ConditionalRetries).toBe(1);
  });

  it('splits more than 99 values into several documents that all keep their dimensions', () => {
    const sink = new EmfLimiterMetrics({ maxBufferedValues: 10_000 });
    const docs = captureEmf(() => {
      for (let i = 0; i < 250; i += 1) sink.fallback({ policy: 'api', mode: 'open' });
      sink.flush();
    });
    expect(docs.length).toBeGreaterThanOrEqual(3);
    expect(docs.every((d) => d.Policy === 'api' && d.Mode === 'open')).toBe(true);
    const total = docs.reduce(
      (sum, d) => sum + (Array.isArray(d.Fallbacks) ? d.Fallbacks.length : 1),
      0,
    );
    expect(total).toBe(250);
  });

  it('flushes by itself when the buffer is full, and writes nothing when empty', () => {
    const sink = new EmfLimiterMetrics({ maxBufferedValues: 4 });
    const docs = captureEmf(() => {
      sink.conditionalRetry({ policy: 'a' });
      sink.conditionalRetry({ policy: 'a' });
      sink.conditionalRetry({ policy: 'a' });
      sink.conditionalRetry({ policy: 'a' });
      sink.flush();
    });
    expect(docs).toHaveLength(1);
    expect(docs[0]!.ConditionalRetries).toEqual([1, 1, 1, 1]);
  });

  it('reports what a container still owes the store as one aggregate series', () => {
    const sink = new EmfLimiterMetrics();
    const docs = captureEmf(() => {
      sink.pending({ debtTokens: 7, handBackTokens: 3 });
      sink.pending({ debtTokens: 0, handBackTokens: 0 });
      sink.flush();
    });
    const pending = docs.find((d) =>
      d._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === 'PendingDebtTokens'),
    )!;
    expect(pending._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([[]]);
    expect(pending.PendingDebtTokens).toEqual([7, 0]);
  });
});
