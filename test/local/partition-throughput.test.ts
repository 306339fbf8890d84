/**
 * Per-partition throughput on a clock the test moves: a second of throughput
 * at most, spent by writes and reads in proportion to their limits, refilled
 * one second per second, and every bad limit reported at once.
 */
import { describe, expect, it } from 'vitest';
import {
  DYNAMODB_PARTITION_LIMITS,
  PartitionThroughput,
  partitionLimitProblems,
  throttlingAnswer,
} from '../../local/partition-throughput';

function meter(limits = { writeUnitsPerSecond: 10, readUnitsPerSecond: 30 }) {
  let nowMs = 1_000_000;
  const throughput = new PartitionThroughput(limits, () => nowMs);
  return { throughput, advance: (ms: number) => (nowMs += ms) };
}

/** Writes of one unit admitted in a row at one instant. */
function burst(throughput: PartitionThroughput, partition: string, max = 10_000): number {
  let n = 0;
  while (n < max && throughput.admit([partition])) {
    throughput.charge(partition, 'write', 1);
    n++;
  }
  return n;
}

describe('PartitionThroughput', () => {
  it('defaults to DynamoDB’s documented limits', () => {
    expect(DYNAMODB_PARTITION_LIMITS).toEqual({
      writeUnitsPerSecond: 1000,
      readUnitsPerSecond: 3000,
    });
  });

  it('admits one second of writes at once, then throttles until it refills', () => {
    const { throughput, advance } = meter();
    expect(burst(throughput, 'hot')).toBe(10);
    expect(throughput.admit(['hot'])).toBe(false);
    advance(500);
    expect(burst(throughput, 'hot')).toBe(5);
    advance(10_000);
    // Idle time banks at most one second.
    expect(burst(throughput, 'hot')).toBe(10);
    expect(throughput.stats()[0]).toMatchObject({ partition: 'hot', writeUnits: 25, throttled: 4 });
  });

  it('shares the second between reads and writes in proportion to their limits', () => {
    const { throughput } = meter();
    for (let i = 0; i < 5; i++) throughput.charge('p', 'write', 1); // half a second
    let reads = 0;
    while (throughput.admit(['p'])) {
      throughput.charge('p', 'read', 0.5); // an eventually consistent read of ≤ 4 KB
      reads++;
    }
    expect(reads).toBe(30); // 15 read units: the other half
  });

  it('keeps partitions apart, and refuses a request naming an exhausted one', () => {
    const { throughput } = meter();
    burst(throughput, 'hot');
    expect(throughput.admit(['cold'])).toBe(true);
    expect(throughput.admit(['cold', 'hot'])).toBe(false);
    const byName = Object.fromEntries(throughput.stats().map((s) => [s.partition, s.throttled]));
    // The burst's last try and the pair's: both refused on `hot`.
    expect(byName).toEqual({ hot: 2, cold: 0 });
  });

  it('charges replicated writes without refusing them, and they throttle local callers', () => {
    const { throughput } = meter();
    for (let i = 0; i < 12; i++) throughput.charge('p', 'replicated-write', 1);
    expect(throughput.admit(['p'])).toBe(false);
    expect(throughput.stats()[0]).toMatchObject({ replicatedWriteUnits: 12, writeUnits: 0 });
  });

  it('reports every bad limit at once', () => {
    expect(
      partitionLimitProblems({ writeUnitsPerSecond: 0, readUnitsPerSecond: Number.NaN }),
    ).toEqual([
      'writeUnitsPerSecond must be a positive number (got 0)',
      'readUnitsPerSecond must be a positive number (got NaN)',
    ]);
    expect(
      () => new PartitionThroughput({ writeUnitsPerSecond: -1, readUnitsPerSecond: 0 }, () => 0),
    ).toThrow(/writeUnitsPerSecond.*readUnitsPerSecond/);
  });

  it('answers as DynamoDB answers a hot key of an on-demand table', () => {
    const answer = throttlingAnswer('eu-west-1', 'buckets', 'write');
    expect(answer.status).toBe(400);
    const body = JSON.parse(answer.body.toString('utf8'));
    expect(body.__type).toMatch(/#ThrottlingException$/);
    expect(body.message).toMatch(/^Throughput exceeds the current capacity/);
    expect(body.ThrottlingReasons).toEqual([
      {
        reason: 'TableWriteKeyRangeThroughputExceeded',
        resource: 'arn:aws:dynamodb:eu-west-1:000000000000:table/buckets',
      },
    ]);
  });
});
