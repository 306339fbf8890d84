/**
 * DynamoDB's per-partition throughput, for the emulator.
 *
 * Why: a DynamoDB partition serves at most about 1,000 write units or 3,000
 * read units per second, or a linear combination of both, whatever the
 * table's capacity mode (AWS Knowledge Center, "My on-demand Amazon DynamoDB
 * table has throttling"; Developer Guide, "Key range throughput exceeded").
 * All slot items of one bucket share a partition key, so one hot bucket can
 * hit that limit while the table as a whole is idle; dynalite has no such
 * limit, so without this the local runtime could never show it.
 *
 * The rule: one token bucket per partition key value, measured in seconds of
 * the partition's throughput. It holds at most one second (a full second of
 * throughput can be spent at once) and refills one second per second. A write
 * unit costs 1/writeUnitsPerSecond of it, a read unit 1/readUnitsPerSecond, so
 * reads and writes share it linearly, as AWS describes. A request is admitted
 * while the bucket is above zero and charged what it actually consumed once
 * it ran (DynamoDB only knows an item's size then), so the bucket can go
 * below zero; the partition then throttles until it has refilled. Replicated
 * writes arriving from other regions are charged the same way but never
 * refused: a global table applies them late rather than not at all, and
 * their cost throttles the local callers instead.
 *
 * DynamoDB's own algorithm is not public (it also adapts and splits hot
 * partitions over minutes); this is the documented limit, not its mechanism.
 */

/** The throughput of one partition. */
export interface PartitionLimits {
  /** Write units (1 KB written, rounded up) per second. @default 1000 */
  readonly writeUnitsPerSecond: number;
  /** Read units (4 KB read, rounded up; half for an eventually consistent read) per second. @default 3000 */
  readonly readUnitsPerSecond: number;
}

/** DynamoDB's documented per-partition limits. */
export const DYNAMODB_PARTITION_LIMITS: PartitionLimits = {
  writeUnitsPerSecond: 1000,
  readUnitsPerSecond: 3000,
};

/** Problems of a limits object, every one at once (empty when valid). */
export function partitionLimitProblems(limits: PartitionLimits): string[] {
  const problems: string[] = [];
  for (const name of ['writeUnitsPerSecond', 'readUnitsPerSecond'] as const) {
    const v = limits[name];
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0))
      problems.push(`${name} must be a positive number (got ${String(v)})`);
  }
  return problems;
}

/** A level this close to zero is zero: sums of unit costs like 1/1000 do not add up exactly. */
const ROUNDING_SECONDS = 1e-9;

/** Counters of one partition. */
export interface PartitionStats {
  readonly partition: string;
  readonly readUnits: number;
  readonly writeUnits: number;
  readonly replicatedWriteUnits: number;
  readonly throttled: number;
}

interface Bucket {
  /** Seconds of throughput left (≤ 1; below 0 after an overdraw). */
  level: number;
  atMs: number;
  readUnits: number;
  writeUnits: number;
  replicatedWriteUnits: number;
  throttled: number;
}

/** Per-partition throughput of one emulated region. */
export class PartitionThroughput {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param limits - the throughput of each partition.
   * @param now - epoch milliseconds (the emulator's clock).
   * @throws {RangeError} listing every problem of `limits`.
   */
  constructor(
    readonly limits: PartitionLimits,
    private readonly now: () => number,
  ) {
    const problems = partitionLimitProblems(limits);
    if (problems.length > 0)
      throw new RangeError(`invalid partition limits: ${problems.join('; ')}`);
  }

  private bucket(partition: string): Bucket {
    const nowMs = this.now();
    let b = this.buckets.get(partition);
    if (b === undefined) {
      b = {
        level: 1,
        atMs: nowMs,
        readUnits: 0,
        writeUnits: 0,
        replicatedWriteUnits: 0,
        throttled: 0,
      };
      this.buckets.set(partition, b);
    } else if (nowMs > b.atMs) {
      b.level = Math.min(1, b.level + (nowMs - b.atMs) / 1000);
      b.atMs = nowMs;
    }
    return b;
  }

  /**
   * Whether a request to every one of `partitions` may run now; when not, the
   * refusal is counted on the partitions that have no throughput left.
   */
  admit(partitions: readonly string[]): boolean {
    const exhausted = partitions.filter((p) => this.bucket(p).level <= ROUNDING_SECONDS);
    for (const p of exhausted) this.bucket(p).throttled++;
    return exhausted.length === 0;
  }

  /** Charges what a request consumed on `partition`. */
  charge(partition: string, kind: 'read' | 'write' | 'replicated-write', units: number): void {
    if (!(units > 0)) return;
    const b = this.bucket(partition);
    if (kind === 'read') {
      b.readUnits += units;
      b.level -= units / this.limits.readUnitsPerSecond;
    } else {
      if (kind === 'write') b.writeUnits += units;
      else b.replicatedWriteUnits += units;
      b.level -= units / this.limits.writeUnitsPerSecond;
    }
  }

  /** Counters of every partition seen, busiest first. */
  stats(): PartitionStats[] {
    return [...this.buckets.entries()]
      .map(([partition, b]) => ({
        partition,
        readUnits: b.readUnits,
        writeUnits: b.writeUnits,
        replicatedWriteUnits: b.replicatedWriteUnits,
        throttled: b.throttled,
      }))
      .sort(
        (a, b) => b.writeUnits + b.replicatedWriteUnits - (a.writeUnits + a.replicatedWriteUnits),
      );
  }
}

/** Write units of an item of `bytes`: 1 KB each, rounded up, at least 1. */
export function writeUnitsOf(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

/** Read units of `bytes` read: 4 KB each, rounded up, at least 1; half when eventually consistent. */
export function readUnitsOf(bytes: number, consistent: boolean): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

/** The message DynamoDB gives an on-demand table's hot partition. */
export const THROTTLING_MESSAGE =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html';

/**
 * The HTTP answer DynamoDB gives a request to an on-demand table's hot
 * partition: 400, `__type` ThrottlingException (the AWS SDKs retry it as a
 * throttling error), the message above, and the throttling reason
 * (`TableWriteKeyRangeThroughputExceeded` or `...Read...`) with the table's ARN.
 */
export function throttlingAnswer(
  region: string,
  table: string,
  kind: 'read' | 'write',
): { status: number; headers: Record<string, string>; body: Buffer } {
  const body = Buffer.from(
    JSON.stringify({
      __type: 'com.amazon.coral.availability#ThrottlingException',
      message: THROTTLING_MESSAGE,
      ThrottlingReasons: [
        {
          reason: `Table${kind === 'read' ? 'Read' : 'Write'}KeyRangeThroughputExceeded`,
          resource: `arn:aws:dynamodb:${region}:000000000000:table/${table}`,
        },
      ],
    }),
    'utf8',
  );
  return { status: 400, headers: { 'content-type': 'application/x-amz-json-1.0' }, body };
}
