/**
 * Test doubles for reconciler runs: a frozen clock that only sleeps move, a
 * recording logger, in-memory bucket stores that count calls in flight, and
 * an in-memory replicated table of heartbeats and status items (the
 * replication port of every region) whose writes reach the other replicas
 * after a lag on that clock.
 */
import type { PolicyConfig } from '../../functions/config/schema';
import type { SlotItem } from '../../functions/core';
import { bucketGeneration, bucketIdOf } from '../../functions/limiter/bucket-id';
import type { ReconcilerConfig, ReconcilerLogger } from '../../functions/reconciler/reconcile';
import type { Heartbeat, ReconcilerStatus } from '../../functions/shared/replication-status';
import type {
  ReplicationCallOptions,
  ReplicationStore,
} from '../../functions/store/replication-store';
import { type BucketStore, StoreError } from '../../functions/store/types';

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

/** The methods of {@link ReplicationStore}. */
export type ReplicationMethod = keyof ReplicationStore;

type Item =
  | { readonly kind: 'heartbeat'; readonly value: Heartbeat }
  | {
      readonly kind: 'status';
      readonly value: ReconcilerStatus;
    };

/** An item on its way to another replica. */
interface Delivery {
  readonly dueMs: number;
  readonly replica: string;
  readonly key: string;
  readonly item: Item;
}

/**
 * The heartbeat and status items of every replica, in memory. A write lands
 * in its own replica at once and in each other replica `lagMs[replica]`
 * later on the clock (Infinity: never), like a global table's replication.
 * A replica in {@link FakeReplicatedTable.unreachable}, or a method listed in
 * {@link FakeReplicatedTable.failing} as `replica.method`, rejects with a
 * StoreError; an aborted signal rejects with a `timeout` one, as the port says.
 */
export class FakeReplicatedTable {
  readonly unreachable = new Set<string>();
  readonly failing = new Set<`${string}.${ReplicationMethod}`>();
  readonly #replicas = new Map<string, Map<string, Item>>();
  readonly #pending: Delivery[] = [];
  readonly #calls = new Map<string, number>();

  constructor(
    private readonly clock: FakeClock,
    private readonly regions: readonly string[],
    private readonly lagMs: Readonly<Record<string, number>> = {},
  ) {}

  /** Puts an item in one replica only, as if it had replicated there long ago. */
  seedHeartbeat(replica: string, heartbeat: Heartbeat): void {
    this.#replica(replica).set(`heartbeat/${heartbeat.region}`, {
      kind: 'heartbeat',
      value: heartbeat,
    });
  }

  /** Calls of `method` on `replica`'s store, failed ones included. */
  calls(replica: string, method: ReplicationMethod): number {
    return this.#calls.get(`${replica}.${method}`) ?? 0;
  }

  /** The status item of `region` as `replica` holds it now. */
  status(replica: string, region: string): ReconcilerStatus | undefined {
    const item = this.#read(replica, `status/${region}`);
    return item?.kind === 'status' ? item.value : undefined;
  }

  /** The replication port of one replica. */
  store(replica: string): ReplicationStore {
    const call = async <T>(
      method: ReplicationMethod,
      options: ReplicationCallOptions | undefined,
      body: () => T,
    ): Promise<T> => {
      this.#calls.set(`${replica}.${method}`, this.calls(replica, method) + 1);
      await new Promise((r) => setImmediate(r));
      if (options?.abortSignal?.aborted === true) {
        throw new StoreError(`${method} not started: the time budget is spent`, 'timeout');
      }
      if (this.unreachable.has(replica) || this.failing.has(`${replica}.${method}`)) {
        throw new StoreError(
          `${method} failed (unavailable): replica ${replica} down`,
          'unavailable',
        );
      }
      return body();
    };
    return {
      writeHeartbeat: (region, atMs, options) =>
        call('writeHeartbeat', options, () => {
          if (!Number.isSafeInteger(atMs)) {
            throw new StoreError(`heartbeat time ${atMs} is not a safe integer`, 'invalid');
          }
          const key = `heartbeat/${region}`;
          const previous = this.#read(replica, key);
          const seq = (previous?.kind === 'heartbeat' ? previous.value.seq : 0) + 1;
          const heartbeat = { region, atMs, seq };
          this.#write(replica, key, { kind: 'heartbeat', value: heartbeat });
          return heartbeat;
        }),
      readHeartbeat: (region, options) =>
        call('readHeartbeat', options, () => {
          const item = this.#read(replica, `heartbeat/${region}`);
          return item?.kind === 'heartbeat' ? item.value : undefined;
        }),
      readHeartbeats: (options) =>
        call('readHeartbeats', options, () => {
          this.#deliver(replica);
          return [...this.#replica(replica).values()].flatMap((i) =>
            i.kind === 'heartbeat' ? [i.value] : [],
          );
        }),
      writeStatus: (status, options) =>
        call('writeStatus', options, () => {
          this.#write(replica, `status/${status.region}`, { kind: 'status', value: status });
        }),
      readStatus: (region, options) =>
        call('readStatus', options, () => this.status(replica, region)),
    };
  }

  #replica(replica: string): Map<string, Item> {
    let items = this.#replicas.get(replica);
    if (items === undefined) {
      items = new Map();
      this.#replicas.set(replica, items);
    }
    return items;
  }

  #write(replica: string, key: string, item: Item): void {
    this.#replica(replica).set(key, item);
    for (const other of this.regions) {
      if (other === replica) continue;
      const lag = this.lagMs[other] ?? 0;
      if (Number.isFinite(lag)) {
        this.#pending.push({ dueMs: this.clock.now() + lag, replica: other, key, item });
      }
    }
  }

  #read(replica: string, key: string): Item | undefined {
    this.#deliver(replica);
    return this.#replica(replica).get(key);
  }

  #deliver(replica: string): void {
    for (let i = 0; i < this.#pending.length; ) {
      const p = this.#pending[i] as Delivery;
      if (p.replica === replica && p.dueMs <= this.clock.now()) {
        this.#replica(replica).set(p.key, p.item);
        this.#pending.splice(i, 1);
      } else {
        i += 1;
      }
    }
  }
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
