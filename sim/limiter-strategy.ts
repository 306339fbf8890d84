/**
 * The shipped limiter as a simulator strategy: one real {@link Limiter} per
 * region (its view cache, blocked-until cache, leases, store guard and
 * failure modes, exactly as the edge runs them), on the simulator's
 * replicated store and virtual clock. Where `checkpoint-merge` measures the
 * core alone, this measures what ships: the cache's age counts as lag, and
 * so does everything else the service does between the core and the store.
 *
 * Each region's limiter talks to its region's replica through a store that
 * applies writes with the core's own `applySlotWrite` (the conditional write)
 * and replicates them with the scenario's lags and partitions. Store calls
 * answer at once: the decisions are the limiter's, the timing is the trace's.
 */

import { DEFAULT_RUNTIME } from '../functions/config/resolve';
import type { LimiterConfig, PolicyConfig } from '../functions/config/schema';
import {
  applySlotWrite,
  applyTakeWrite,
  compareItems,
  type SlotItem,
  type SlotWrite,
  type TakeWrite,
} from '../functions/core';
import { Limiter } from '../functions/limiter/limiter';
import type { Time } from '../functions/limiter/timers';
import { type BucketStore, StoreConflictError, type TakeResult } from '../functions/store/types';
import { ReplicatedStore } from './network';
import type { ScenarioSpec, SimRequest } from './types';
import { VirtualTime } from './virtual-time';

/** Settings of a {@link LimiterStrategy}: the shipped defaults unless given. */
export interface LimiterStrategyOptions {
  /** Policy fields beyond the scenario's bucket shape (e.g. a lease). */
  readonly policy?: Partial<PolicyConfig>;
  /** The limiter's view cache (ms). @default the shipped default */
  readonly viewCacheMs?: number;
}

/** One decision of the limiter, as the engine measures it. */
export interface LimiterOutcome {
  readonly allowed: boolean;
  readonly retryAfterMs: number;
  /** Tokens other regions had admitted that the deciding view did not hold, plus every lease's unserved tokens. */
  readonly unseenTokens: number;
}

/** The policy id every simulated bucket uses. */
const POLICY_ID = 'sim';

/** A BucketStore on one region's replica of the simulated table. */
class ReplicaStore implements BucketStore {
  /** What the limiter's last view read returned (its cached view of other slots). */
  lastRead: ReadonlyMap<string, SlotItem> = new Map();

  constructor(
    private readonly region: string,
    private readonly table: ReplicatedStore<SlotItem>,
    private readonly time: VirtualTime,
  ) {}

  async readView(): Promise<SlotItem[]> {
    this.table.advanceTo(this.time.now());
    const items = [...this.table.replica(this.region).values()];
    this.lastRead = new Map(items.map((i) => [i.slot, i]));
    return items;
  }

  async readSlot(_bucketId: string, slot: string): Promise<SlotItem | undefined> {
    this.table.advanceTo(this.time.now());
    return this.table.replica(this.region).get(slot);
  }

  async applyWrite(_bucketId: string, write: SlotWrite): Promise<SlotItem> {
    this.table.advanceTo(this.time.now());
    const current = this.table.replica(this.region).get(write.slot);
    const next = applySlotWrite(current, write);
    if (next === undefined) throw new StoreConflictError(current);
    this.table.write(this.region, write.slot, next);
    return next;
  }

  async applyTake(_bucketId: string, take: TakeWrite): Promise<TakeResult> {
    this.table.advanceTo(this.time.now());
    const before = this.table.replica(this.region).get(take.slot);
    const after = applyTakeWrite(before, take);
    if (after === undefined) throw new StoreConflictError(before);
    this.table.write(this.region, take.slot, after);
    return { before, after };
  }
}

/** The real limiter, one container per region. */
export class LimiterStrategy {
  readonly name = 'limiter' as const;
  readonly #time: VirtualTime;
  readonly #table: ReplicatedStore<SlotItem>;
  readonly #stores = new Map<string, ReplicaStore>();
  readonly #limiters = new Map<string, Limiter>();
  /** The view cache the limiters run with (ms). */
  readonly viewCacheMs: number;

  constructor(
    private readonly spec: ScenarioSpec,
    seed: number,
    options: LimiterStrategyOptions = {},
  ) {
    this.#time = new VirtualTime(0);
    this.#table = new ReplicatedStore<SlotItem>(
      {
        regions: spec.regions,
        lag: spec.lag,
        ...(spec.links === undefined ? {} : { links: spec.links }),
        ...(spec.partitions === undefined ? {} : { partitions: spec.partitions }),
        seed,
        label: `${spec.name}:limiter`,
      },
      (candidate, current) => compareItems(candidate, current) > 0,
    );
    const config = simConfig(spec, options.policy ?? {});
    for (const region of spec.regions) {
      const store = new ReplicaStore(region, this.#table, this.#time);
      this.#stores.set(region, store);
      this.#limiters.set(
        region,
        new Limiter({
          config,
          region,
          store,
          time: skewed(this.#time, spec.clockSkewMs?.[region] ?? 0),
          ...(options.viewCacheMs === undefined ? {} : { viewCacheMs: options.viewCacheMs }),
          log: () => undefined,
        }),
      );
    }
    this.viewCacheMs = options.viewCacheMs ?? DEFAULT_RUNTIME.viewCacheMs;
  }

  /** Decides one request at its arrival time. Requests must come in time order. */
  async decide(request: SimRequest): Promise<LimiterOutcome> {
    if (request.atMs > this.#time.now()) await this.#time.advance(request.atMs - this.#time.now());
    this.#table.advanceTo(request.atMs);
    const limiter = this.#limiters.get(request.region)!;
    // What the deciding view lacks, and what every container holds in leases (taken, not
    // yet served): the documented bound is their sum (docs/design.md, "Bounds").
    let held = 0;
    for (const l of this.#limiters.values()) held += l.leasedTokens();
    const unseenTokens = this.#unseen(request.region) + held;
    const result = await this.#time.run(
      limiter.limit({ policyId: POLICY_ID, key: 'k', costTokens: request.costTokens }),
    );
    return { allowed: result.allowed, retryAfterMs: result.retryAfterMs, unseenTokens };
  }

  /** Ends the run: every message delivered. */
  finish(): number {
    return this.#table.flush();
  }

  #unseen(region: string): number {
    const cached = this.#stores.get(region)!.lastRead;
    let unseen = 0;
    for (const other of this.spec.regions) {
      if (other === region) continue;
      const truth = this.#table.replica(other).get(other);
      if (truth === undefined) continue;
      const seen = cached.get(other);
      unseen += truth.n - (seen !== undefined && seen.inc === truth.inc ? seen.n : 0);
    }
    return unseen;
  }
}

/** A region's clock: true (virtual) time shifted by its skew; timers and latency unchanged. */
function skewed(time: VirtualTime, skewMs: number): Time {
  if (skewMs === 0) return time;
  return {
    now: () => time.now() + skewMs,
    monotonicMs: () => time.monotonicMs(),
    setTimer: (fn, ms) => time.setTimer(fn, ms),
    clearTimer: (handle) => time.clearTimer(handle),
  };
}

function simConfig(spec: ScenarioSpec, extra: Partial<PolicyConfig>): LimiterConfig {
  return {
    appName: 'Simulator',
    account: '111111111111',
    regions: [...spec.regions],
    tableName: 'simulated',
    origin: { domainName: 'origin.example.com' },
    policies: [
      {
        id: POLICY_ID,
        capacityTokens: spec.policy.capacityTokens,
        refillTokens: spec.policy.refillTokens,
        refillIntervalMs: spec.policy.refillIntervalMs,
        ...extra,
      },
    ],
    rules: [],
  };
}
