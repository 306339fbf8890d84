/**
 * The deployed system at real distances, in virtual time, around the real
 * limiter: edge regions with Lambda containers that are frozen between
 * invocations, each talking to its replica across the network model, table
 * replicas that replicate to each other with the model's delay, and
 * DynamoDB's per-partition write limit.
 *
 * What is modelled, and how (docs/edge-latency.md):
 * - **containers**: an arriving request goes to the most recently used idle
 *   container of its edge region, or a new one; a container serves one
 *   request at a time (Lambda's model) and is frozen when the request ends;
 * - **freezing**: a frozen container runs nothing. A store answer or a timer
 *   due while it is frozen waits for the next invocation; then the due
 *   timers fire, the request starts (its synchronous part: a lease serves
 *   it at once), and the answers that arrived meanwhile are delivered;
 * - **network**: each store call draws a round trip from the network model
 *   (edge region to replica, DynamoDB's service time included); the call is
 *   applied to the replica half way, answered at the end. A container's
 *   first call also opens the connection: two more round trips (TCP, TLS);
 * - **replication**: each write reaches the other replicas after half the
 *   replica-to-replica round trip plus {@link EdgeWorldOptions.replicationMs};
 * - **throughput**: a partition (bucket) that has taken
 *   {@link PARTITION_WRITE_UNITS_PER_SECOND} writes in the current second on
 *   a replica answers further writes there with a throttling error;
 *   replicated writes count on every replica;
 * - **CPU**: a decision and each store call's send and receive cost CPU at
 *   128 MB (a share of a vCPU), added to the request's latency.
 */

import type { ResolvedConfig } from '../../functions/config/resolve';
import {
  applySlotWrite,
  applyTakeWrite,
  compareItems,
  type SlotItem,
  type SlotWrite,
  type TakeWrite,
} from '../../functions/core';
import { bucketIdOf, normaliseKey } from '../../functions/limiter/bucket-id';
import { Limiter } from '../../functions/limiter/limiter';
import type { Time, TimerHandle } from '../../functions/limiter/timers';
import {
  type BucketStore,
  StoreConflictError,
  StoreError,
  type TakeResult,
} from '../../functions/store/types';
import { ReplicatedStore } from '../network';
import { linkBetween, sampleRoundTripMs, storeRoundTrip } from '../network/model';
import { createRng, type Rng } from '../prng';
import { VirtualTime } from '../virtual-time';

/** Write units one partition key takes per second (DynamoDB's per-partition limit). */
export const PARTITION_WRITE_UNITS_PER_SECOND = 1000;

/** CPU of the work one request does, measured at full speed, and the share of a vCPU it gets. */
export interface CpuModel {
  /** The limiter and the handler for one decision (µs at full speed). */
  readonly decisionMicros: number;
  /** One store call's request and answer through the edge's transport (µs at full speed). */
  readonly storeCallMicros: number;
  /** Full speed over the function's speed: 1,769 MB buys one vCPU, 128 MB a share of it. */
  readonly slowdown: number;
}

/**
 * Default CPU figures: the edge transport's measured cost per decision with two
 * store calls (bench/edge-client.ts, light transport: about 250 µs, the
 * medians of the full runs in bench/results), the limiter's own (about
 * 30 µs), and Lambda's 128 MB share of a vCPU (128/1,769).
 */
export const DEFAULT_CPU: CpuModel = {
  decisionMicros: 30,
  storeCallMicros: 125,
  slowdown: 1769 / 128,
};

/** How an {@link EdgeWorld} is built. */
export interface EdgeWorldOptions {
  readonly config: ResolvedConfig;
  /** The edge regions traffic arrives in. */
  readonly edgeRegions: readonly string[];
  readonly seed: number;
  readonly cpu?: CpuModel;
  /**
   * Replication's own delay on top of the network's one way (ms): an
   * assumption, since DynamoDB publishes `ReplicationLatency` but no typical
   * figure; docs/edge-latency.md. @default 500
   */
  readonly replicationMs?: number;
  /** Enforce the per-partition write limit. @default true */
  readonly throughputLimits?: boolean;
}

/** What one request got. */
export interface EdgeOutcome {
  readonly edgeRegion: string;
  readonly key: string;
  readonly policyId: string;
  readonly atMs: number;
  readonly allowed: boolean;
  readonly tokens: number;
  readonly source: string;
  readonly fallback: boolean;
  /** Why the store did not decide, for a fallback. */
  readonly fallbackCause?: string;
  /** Virtual time the request waited for the limiter, CPU included (ms). */
  readonly addedLatencyMs: number;
  /** Whether it waited for a store round trip. */
  readonly waitedForStore: boolean;
  /** Tokens the deciding container's view lacked of other replicas' slots, plus every lease held for the bucket. */
  readonly boundTokens: number;
  readonly coldStart: boolean;
}

interface ContainerTimer {
  readonly fn: () => void;
  cancelled: boolean;
  handle: TimerHandle;
}

/** One Lambda execution environment. */
class Container {
  active = false;
  busy = false;
  lastUsedMs = 0;
  connected = false;
  /** Store calls sent and answers seen during the current invocation (CPU). */
  sends = 0;
  receives = 0;
  readonly #dueTimers: ContainerTimer[] = [];
  readonly #dueAnswers: (() => void)[] = [];
  readonly time: Time;
  readonly limiter: Limiter;
  /** The last view each bucket's read returned, per slot (the bound's "unseen"). */
  readonly lastRead = new Map<string, Map<string, SlotItem>>();

  constructor(
    world: EdgeWorld,
    readonly edgeRegion: string,
    readonly replica: string,
  ) {
    const global = world.time;
    this.time = {
      now: () => global.now(),
      monotonicMs: () => global.monotonicMs(),
      setTimer: (fn, ms) => {
        const timer: ContainerTimer = { fn, cancelled: false, handle: undefined };
        timer.handle = global.setTimer(() => {
          if (timer.cancelled) return;
          if (this.active) fn();
          else this.#dueTimers.push(timer);
        }, ms);
        return timer;
      },
      clearTimer: (handle) => {
        const timer = handle as ContainerTimer;
        timer.cancelled = true;
        global.clearTimer(timer.handle);
      },
    };
    this.limiter = new Limiter({
      config: world.config,
      region: replica,
      store: new EdgeStore(world, this),
      time: this.time,
      log: () => undefined,
    });
  }

  /** Resolves when an answer that arrived now can be seen: at once if running, else at the next invocation. */
  deliver(): Promise<void> {
    if (this.active) return Promise.resolve();
    return new Promise((resolve) => this.#dueAnswers.push(resolve));
  }

  /** Starts an invocation: due timers fire, then `start` runs, then the answers that waited are delivered. */
  thaw<T>(start: () => Promise<T>): Promise<T> {
    this.active = true;
    this.sends = 0;
    this.receives = 0;
    for (const timer of this.#dueTimers.splice(0)) if (!timer.cancelled) timer.fn();
    const work = start();
    for (const resolve of this.#dueAnswers.splice(0)) resolve();
    return work;
  }

  freeze(nowMs: number): void {
    this.active = false;
    this.busy = false;
    this.lastUsedMs = nowMs;
  }
}

/** A container's store: its replica, across the network, through the container's freezes. */
class EdgeStore implements BucketStore {
  readonly #rng: Rng;

  constructor(
    private readonly world: EdgeWorld,
    private readonly container: Container,
  ) {
    this.#rng = createRng(world.seed, `rtt:${container.edgeRegion}:${world.containerCount}`);
  }

  readView(bucketId: string, options: { abortSignal?: AbortSignal } = {}): Promise<SlotItem[]> {
    return this.#call(options.abortSignal, () => {
      this.world.countRead(bucketId);
      const items = this.world.itemsOf(this.container.replica, bucketId);
      this.container.lastRead.set(bucketId, new Map(items.map((i) => [i.slot, i])));
      return items;
    });
  }

  readSlot(
    bucketId: string,
    slot: string,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<SlotItem | undefined> {
    return this.#call(options.abortSignal, () => {
      this.world.countRead(bucketId);
      return this.world.itemOf(this.container.replica, bucketId, slot);
    });
  }

  applyWrite(
    bucketId: string,
    write: SlotWrite,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<SlotItem> {
    return this.#call(options.abortSignal, () => {
      const replica = this.container.replica;
      this.world.chargeWrite(replica, bucketId);
      const current = this.world.itemOf(replica, bucketId, write.slot);
      const next = applySlotWrite(current, write);
      if (next === undefined) throw new StoreConflictError(current);
      this.world.write(replica, bucketId, next);
      return next;
    });
  }

  applyTake(
    bucketId: string,
    take: TakeWrite,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<TakeResult> {
    return this.#call(options.abortSignal, () => {
      const replica = this.container.replica;
      this.world.chargeWrite(replica, bucketId);
      const before = this.world.itemOf(replica, bucketId, take.slot);
      const after = applyTakeWrite(before, take);
      if (after === undefined) throw new StoreConflictError(before);
      this.world.write(replica, bucketId, after);
      return { before, after };
    });
  }

  async #call<T>(signal: AbortSignal | undefined, apply: () => T): Promise<T> {
    const c = this.container;
    if (c.active) c.sends += 1;
    const link = storeRoundTrip(c.edgeRegion, c.replica);
    let rttMs = sampleRoundTripMs(link, () => this.#rng.next());
    if (!c.connected) {
      // A new connection: TCP's and TLS 1.3's handshakes before the request.
      c.connected = true;
      rttMs += 2 * sampleRoundTripMs(linkBetween(c.edgeRegion, c.replica), () => this.#rng.next());
    }
    const time = this.world.time;
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    await time.sleep(rttMs / 2);
    try {
      outcome = { ok: true, value: apply() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    await time.sleep(rttMs / 2);
    await c.deliver();
    if (c.active) c.receives += 1;
    if (signal?.aborted === true) {
      throw new StoreError('aborted: the call outlived its ceiling', 'timeout', {
        cause: signal.reason,
      });
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }
}

/** Every replica, every edge region's containers, and what they did. */
export class EdgeWorld {
  readonly time = new VirtualTime(1_700_000_000_000);
  readonly config: ResolvedConfig;
  readonly seed: number;
  readonly #cpu: CpuModel;
  readonly #table: ReplicatedStore<SlotItem>;
  readonly #containers = new Map<string, Container[]>();
  readonly #throughput: boolean;
  /** Writes per (replica, bucket) in the current second. */
  readonly #writeUnits = new Map<string, { second: number; units: number }>();
  /** Most writes one partition took in one second on one replica. */
  maxPartitionWritesPerSecond = 0;
  throttledWrites = 0;
  containerCount = 0;
  coldStarts = 0;
  readonly writesByBucket = new Map<string, number>();
  /** Read calls (queries and single-item reads) per bucket. */
  readonly readsByBucket = new Map<string, number>();

  constructor(options: EdgeWorldOptions) {
    this.config = options.config;
    this.seed = options.seed;
    this.#cpu = options.cpu ?? DEFAULT_CPU;
    this.#throughput = options.throughputLimits ?? true;
    const replicas = options.config.config.regions;
    const replicationMs = options.replicationMs ?? 500;
    const links: Record<string, { kind: 'uniform'; meanMs: number; jitter: number }> = {};
    for (const from of replicas) {
      for (const to of replicas) {
        if (from === to) continue;
        links[`${from}>${to}`] = {
          kind: 'uniform',
          meanMs: Math.round(linkBetween(from, to).medianMs / 2 + replicationMs),
          jitter: 0.2,
        };
      }
    }
    this.#table = new ReplicatedStore<SlotItem>(
      {
        regions: replicas,
        lag: { kind: 'uniform', meanMs: replicationMs, jitter: 0.2 },
        links,
        seed: options.seed,
        label: 'edge-replication',
      },
      (candidate, current) => compareItems(candidate, current) > 0,
    );
    for (const edge of options.edgeRegions) this.#containers.set(edge, []);
  }

  /** The replica an edge region's containers talk to (the product's rule). */
  replicaOf(edgeRegion: string): string {
    return this.config.replicaFor(edgeRegion);
  }

  /** Items of a bucket in a replica, now. */
  itemsOf(replica: string, bucketId: string): SlotItem[] {
    this.#table.advanceTo(this.time.now());
    const out: SlotItem[] = [];
    for (const slot of this.config.config.regions) {
      const item = this.#table.replica(replica).get(`${bucketId}|${slot}`);
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  itemOf(replica: string, bucketId: string, slot: string): SlotItem | undefined {
    this.#table.advanceTo(this.time.now());
    return this.#table.replica(replica).get(`${bucketId}|${slot}`);
  }

  /** The newest item of a slot anywhere: its writer's replica. */
  truthOf(bucketId: string, slot: string): SlotItem | undefined {
    this.#table.advanceTo(this.time.now());
    return this.#table.replica(slot).get(`${bucketId}|${slot}`);
  }

  write(replica: string, bucketId: string, item: SlotItem): void {
    this.#table.write(replica, `${bucketId}|${item.slot}`, item);
    this.writesByBucket.set(bucketId, (this.writesByBucket.get(bucketId) ?? 0) + 1);
  }

  /**
   * Counts one write unit on the bucket's partition in every replica (each
   * applies every region's writes), and throttles it when the writer's
   * replica has taken its second's worth already.
   */
  chargeWrite(replica: string, bucketId: string): void {
    const second = Math.floor(this.time.now() / 1000);
    const own = this.#units(replica, bucketId, second);
    if (this.#throughput && own.units >= PARTITION_WRITE_UNITS_PER_SECOND) {
      this.throttledWrites += 1;
      throw new StoreError(
        'ThrottlingException: the partition is over its write rate',
        'throttled',
      );
    }
    for (const r of this.config.config.regions) {
      const entry = this.#units(r, bucketId, second);
      entry.units += 1;
      if (entry.units > this.maxPartitionWritesPerSecond)
        this.maxPartitionWritesPerSecond = entry.units;
    }
  }

  #units(replica: string, bucketId: string, second: number) {
    const key = `${replica}|${bucketId}`;
    let entry = this.#writeUnits.get(key);
    if (entry === undefined || entry.second !== second) {
      entry = { second, units: 0 };
      this.#writeUnits.set(key, entry);
    }
    return entry;
  }

  /** Tokens of other replicas' slots the container's last read of the bucket lacked. */
  #unseen(container: Container, bucketId: string): number {
    const read = container.lastRead.get(bucketId);
    let unseen = 0;
    for (const slot of this.config.config.regions) {
      if (slot === container.replica) continue;
      const truth = this.truthOf(bucketId, slot);
      if (truth === undefined) continue;
      const seen = read?.get(slot);
      unseen += truth.n - (seen !== undefined && seen.inc === truth.inc ? seen.n : 0);
    }
    return unseen;
  }

  /** Leased tokens of one bucket, computed at most once per virtual millisecond (hot buckets). */
  #leasedCache: { key: string; atMs: number; tokens: number } | undefined;

  #leased(policyId: string, key: string): number {
    const cacheKey = `${policyId}|${key}`;
    const nowMs = this.time.now();
    const cached = this.#leasedCache;
    if (cached !== undefined && cached.key === cacheKey && cached.atMs === nowMs)
      return cached.tokens;
    let held = 0;
    for (const list of this.#containers.values()) {
      for (const c of list) held += c.limiter.leasedTokens({ policyId, key });
    }
    this.#leasedCache = { key: cacheKey, atMs: nowMs, tokens: held };
    return held;
  }

  #containerFor(edgeRegion: string): { container: Container; cold: boolean } {
    const list = this.#containers.get(edgeRegion);
    if (list === undefined) throw new Error(`edge region ${edgeRegion} is not in this world`);
    let best: Container | undefined;
    for (const c of list)
      if (!c.busy && (best === undefined || c.lastUsedMs > best.lastUsedMs)) best = c;
    if (best !== undefined) return { container: best, cold: false };
    const created = new Container(this, edgeRegion, this.replicaOf(edgeRegion));
    this.containerCount += 1;
    this.coldStarts += 1;
    list.push(created);
    return { container: created, cold: true };
  }

  /**
   * Serves one request now; resolves with what it got when its invocation
   * ends. `others`: the other limits of the same request (a rule's `limits`),
   * decided with it as the edge does (all or none); the outcome's figures are
   * the first limit's, its answer and wait the whole request's.
   */
  async request(
    edgeRegion: string,
    policyId: string,
    key: string,
    costTokens: number,
    others: readonly { readonly policyId: string; readonly key: string }[] = [],
  ): Promise<EdgeOutcome> {
    const { container, cold } = this.#containerFor(edgeRegion);
    container.busy = true;
    const startMs = this.time.now();
    const bucketId = this.bucketIdOf(policyId, key);
    const leased = this.#leased(policyId, key);
    const result = await container.thaw(async () => {
      if (others.length === 0) return container.limiter.limit({ policyId, key, costTokens });
      const all = await container.limiter.limitAll([
        { policyId, key, costTokens },
        ...others.map((o) => ({ ...o, costTokens })),
      ]);
      const first = all.results[0];
      // Refused before the first limit was asked (a cached refusal of another): as refused.
      const answered = first?.policy === policyId ? first : all.results[all.decidedBy];
      if (answered === undefined) throw new Error('limitAll answered no limit');
      return { ...answered, allowed: all.allowed };
    });
    // What the view it decided from lacked (read by this decision or an earlier one).
    const boundTokens = this.#unseen(container, bucketId) + leased;
    const waitedMs = this.time.now() - startMs;
    const cpuMs =
      ((this.#cpu.decisionMicros +
        ((container.sends + container.receives) * this.#cpu.storeCallMicros) / 2) *
        this.#cpu.slowdown) /
      1000;
    // The CPU keeps the container busy after the decision; the next request waits for it.
    const endMs = this.time.now() + cpuMs;
    this.time.setTimer(() => container.freeze(endMs), Math.ceil(cpuMs));
    return {
      edgeRegion,
      key,
      policyId,
      atMs: startMs,
      allowed: result.allowed,
      tokens: costTokens,
      source: result.source,
      fallback: result.source === 'fallback',
      ...(result.fallbackCause === undefined ? {} : { fallbackCause: result.fallbackCause }),
      addedLatencyMs: waitedMs + cpuMs,
      waitedForStore: waitedMs > 0,
      boundTokens,
      coldStart: cold,
    };
  }

  /** Counts one read call of a bucket. */
  countRead(bucketId: string): void {
    this.readsByBucket.set(bucketId, (this.readsByBucket.get(bucketId) ?? 0) + 1);
  }

  /** Starts the measured part: write and read counts, the partition maximum and throttling from zero. */
  resetCounters(): void {
    this.writesByBucket.clear();
    this.readsByBucket.clear();
    this.maxPartitionWritesPerSecond = 0;
    this.throttledWrites = 0;
    this.coldStarts = 0;
  }

  /** Lets every background call of every container finish (their containers thawed). */
  async drain(): Promise<void> {
    for (const list of this.#containers.values()) {
      for (const c of list) {
        c.active = true;
        await c.thaw(() => Promise.resolve());
      }
    }
    await this.time.advance(10_000);
    this.#table.flush();
  }

  /** The bucket id of a policy's key, as the limiter computes it. */
  bucketIdOf(policyId: string, key: string): string {
    const policy = this.config.policies.get(policyId);
    if (policy === undefined) throw new Error(`unknown policy ${policyId}`);
    const max = this.config.runtime.maxKeyLength;
    return bucketIdOf(policy.id, policy.generation, normaliseKey(key, max), max);
  }

  /** Containers per edge region. */
  containersOf(edgeRegion: string): number {
    return this.#containers.get(edgeRegion)?.length ?? 0;
  }
}
