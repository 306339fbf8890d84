/**
 * Replicas and the links between them, in virtual time.
 *
 * Each region holds one replica (a map of items by key). A write lands in the
 * writer's replica at once and reaches every other replica after that link's
 * lag, like a global table: whole items, the newer one wins (the caller's
 * `isNewer`), whatever order messages arrive in. A partition holds messages
 * that would cross it and releases them when it heals (plus their lag), as
 * replication catches up after a real outage.
 *
 * Determinism: deliveries are ordered by (time, send order), and lags come
 * from a seeded stream.
 */

import { MinHeap } from './heap';
import { createRng, type Rng } from './prng';
import type { LagModel, Partition } from './types';

interface Delivery<T> {
  readonly atMs: number;
  readonly seq: number;
  readonly to: string;
  readonly key: string;
  readonly item: T;
}

function before<T>(a: Delivery<T>, b: Delivery<T>): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/** Draws one message's lag from a lag model. */
export function sampleLagMs(model: LagModel, rng: Rng): number {
  if (model.kind === 'fixed') return model.ms;
  const low = Math.max(0, Math.round(model.meanMs * (1 - model.jitter)));
  const high = Math.max(low, Math.round(model.meanMs * (1 + model.jitter)));
  return rng.int(low, high);
}

/** Largest lag a model can produce (ms). */
export function maxLagMs(model: LagModel): number {
  return model.kind === 'fixed'
    ? model.ms
    : Math.max(0, Math.round(model.meanMs * (1 + model.jitter)));
}

/** Settings of a {@link ReplicatedStore}. */
export interface NetworkOptions {
  readonly regions: readonly string[];
  readonly lag: LagModel;
  readonly links?: Readonly<Record<string, LagModel>>;
  readonly partitions?: readonly Partition[];
  readonly seed: number;
  /** Stream label, so two stores on one scenario draw independent lags. */
  readonly label: string;
}

/** One replica per region of a table of items, with replication in virtual time. */
export class ReplicatedStore<T> {
  private readonly replicas = new Map<string, Map<string, T>>();
  private readonly queue = new MinHeap<Delivery<T>>(before);
  private readonly rng: Rng;
  private seq = 0;
  private nowMs = 0;
  /** Messages delivered so far, and their summed lag, for reporting. */
  deliveredMessages = 0;

  constructor(
    private readonly options: NetworkOptions,
    private readonly isNewer: (candidate: T, current: T) => boolean,
  ) {
    for (const region of options.regions) this.replicas.set(region, new Map());
    this.rng = createRng(options.seed, `lag:${options.label}`);
  }

  /** The replica of a region (read it, do not keep it across writes). */
  replica(region: string): ReadonlyMap<string, T> {
    const r = this.replicas.get(region);
    if (r === undefined) throw new Error(`unknown region ${region}`);
    return r;
  }

  /** Delivers every message due at or before `nowMs`. Time never goes backwards. */
  advanceTo(nowMs: number): void {
    if (nowMs < this.nowMs) throw new Error(`time went backwards: ${nowMs} < ${this.nowMs}`);
    this.nowMs = nowMs;
    for (
      let next = this.queue.peek();
      next !== undefined && next.atMs <= nowMs;
      next = this.queue.peek()
    ) {
      this.queue.pop();
      this.apply(next.to, next.key, next.item);
      this.deliveredMessages++;
    }
  }

  /** Delivers everything still in flight (the end of a run), advancing time to the last delivery. */
  flush(): number {
    let last = this.nowMs;
    for (let next = this.queue.pop(); next !== undefined; next = this.queue.pop()) {
      this.apply(next.to, next.key, next.item);
      this.deliveredMessages++;
      last = Math.max(last, next.atMs);
    }
    this.nowMs = last;
    return last;
  }

  /** Messages still in flight. */
  get inFlight(): number {
    return this.queue.size;
  }

  /** Writes an item in `region`'s replica now and sends it to every other replica. */
  write(region: string, key: string, item: T): void {
    this.apply(region, key, item);
    for (const to of this.options.regions) {
      if (to === region) continue;
      const model = this.options.links?.[`${region}>${to}`] ?? this.options.lag;
      const lagMs = sampleLagMs(model, this.rng);
      const sendMs = this.releaseMs(region, to, this.nowMs);
      const atMs = sendMs + lagMs;
      if (atMs <= this.nowMs) {
        this.apply(to, key, item);
        this.deliveredMessages++;
      } else {
        this.queue.push({ atMs, seq: this.seq++, to, key, item });
      }
    }
  }

  /** When a message sent at `nowMs` from `from` to `to` leaves: at once, or when the cut heals. */
  private releaseMs(from: string, to: string, nowMs: number): number {
    let release = nowMs;
    for (const p of this.options.partitions ?? []) {
      const crosses = p.isolated.includes(from) !== p.isolated.includes(to);
      if (crosses && release >= p.startMs && release < p.endMs) release = p.endMs;
    }
    return release;
  }

  private apply(region: string, key: string, item: T): void {
    const replica = this.replicas.get(region)!;
    const current = replica.get(key);
    if (current === undefined || this.isNewer(item, current)) replica.set(key, item);
  }
}
