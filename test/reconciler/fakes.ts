/**
 * Test doubles for reconciler runs: a frozen clock that only sleeps move, a
 * recording logger, in-memory bucket stores that count calls in flight, and
 * per-region DynamoDB clients each with its own aws-sdk-client-mock.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { PolicyConfig } from '../../functions/config/schema';
import type { SlotItem } from '../../functions/core';
import { bucketGeneration, bucketIdOf } from '../../functions/limiter/bucket-id';
import type { ReconcilerConfig, ReconcilerLogger } from '../../functions/reconciler/reconcile';
import type { BucketStore } from '../../functions/store/types';

/** A clock that moves only when the run sleeps (or the test advances it). */
export class FakeClock {
  constructor(public nowMs: number) {}
  readonly now = () => this.nowMs;
  readonly sleep = async (ms: number) => {
    this.nowMs += ms;
  };
}

/** One recorded log line. */
export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly attributes: Record<string, unknown>;
}

/** A logger that keeps every line. */
export class RecordingLogger implements ReconcilerLogger {
  readonly lines: LogLine[] = [];
  info(message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level: 'info', message, attributes });
  }
  warn(message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level: 'warn', message, attributes });
  }
  error(message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level: 'error', message, attributes });
  }
  find(message: string, match: Record<string, unknown> = {}): LogLine[] {
    return this.lines.filter(
      (l) =>
        l.message.startsWith(message) &&
        Object.entries(match).every(([k, v]) => l.attributes[k] === v),
    );
  }
}

/** In-memory bucket stores per region; tracks the most calls ever in flight. */
export class FakeStores {
  readonly items = new Map<string, Map<string, SlotItem[]>>();
  readonly failing = new Set<string>();
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;

  set(region: string, bucketId: string, items: SlotItem[]): void {
    let byBucket = this.items.get(region);
    if (byBucket === undefined) {
      byBucket = new Map();
      this.items.set(region, byBucket);
    }
    byBucket.set(bucketId, items);
  }

  store(region: string): BucketStore {
    const read = async (bucketId: string): Promise<SlotItem[]> => {
      this.calls += 1;
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      try {
        await new Promise((r) => setImmediate(r));
        if (this.failing.has(region)) throw new Error(`replica ${region} unreachable`);
        return this.items.get(region)?.get(bucketId) ?? [];
      } finally {
        this.inFlight -= 1;
      }
    };
    return {
      readView: read,
      readSlot: () => Promise.reject(new Error('not used by the reconciler')),
      applyWrite: () => Promise.reject(new Error('not used by the reconciler')),
    };
  }
}

/** A mocked DynamoDB client. */
export type DynamoDbMock = ReturnType<typeof mockDynamoDb>;

function mockDynamoDb(client: DynamoDBClient) {
  return mockClient(client);
}

/** One DynamoDB client per region, each with its own mock. */
export function mockedRegions(regions: readonly string[]): {
  clients: Map<string, DynamoDBClient>;
  mocks: Map<string, DynamoDbMock>;
} {
  const clients = new Map<string, DynamoDBClient>();
  const mocks = new Map<string, DynamoDbMock>();
  for (const region of regions) {
    const client = new DynamoDBClient({
      region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    clients.set(region, client);
    mocks.set(region, mockDynamoDb(client));
  }
  return { clients, mocks };
}

/** A small config for reconciler tests. */
export function testConfig(
  regions: readonly string[],
  policies: readonly PolicyConfig[],
  syncLagMs = 1000,
): ReconcilerConfig {
  return {
    regions,
    tableName: 'buckets',
    policies,
    alarms: { syncLagMs, depletionRatio: 0.1 },
  };
}

/** A shared bucket that refills one token an hour: refill during a test is negligible. */
export const CAP: PolicyConfig = {
  id: 'global-cap',
  capacityTokens: 1000,
  refillTokens: 1,
  refillIntervalMs: 3_600_000,
  watchKeys: ['all'],
};

/** The bucket id of {@link CAP}'s watched key `all`. */
export const CAP_ID = bucketIdOf(
  CAP.id,
  bucketGeneration(CAP.version, CAP.refillIntervalMs),
  'all',
);
