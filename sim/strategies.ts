/**
 * The strategies compared on every trace: ours (the core from
 * functions/core, run unchanged) and four peers.
 *
 * - `exact`: one store, one bucket, no lag: the ideal every other is measured
 *   against;
 * - `checkpoint-merge` (ours, the core alone): a slot per region written with
 *   the core's conditional write, replicated with lag, merged on read;
 * - `limiter` (ours as shipped): the real Limiter per region, caches, leases
 *   and failure modes included (limiter-strategy.ts);
 * - `independent`: each region runs its own full bucket (C, R); with N regions
 *   it admits up to N times too much;
 * - `static-split`: each region runs a bucket of C/N and R/N; never over-admits,
 *   wastes whatever an idle region does not use;
 * - `pn-counter`: the tempting CRDT (docs/design.md, "Why not one shared counter"): per-region consumed
 *   counters, `available = min(C, C + R·t − Σ consumed)`; replicated with the
 *   same lag as ours. The cap applies only on read, so idle time banks tokens.
 * - `escrow`: the core's escrow CRDT: C and R split into rights per region,
 *   admitted from own rights only, moved towards demand (escrow-strategy.ts).
 */

import {
  applySlotWrite,
  type BucketPolicy,
  compareItems,
  decide,
  type SlotItem,
  type View,
} from '../functions/core';
import { TokenBucket } from './bucket-math';
import { EscrowStrategy } from './escrow-strategy';
import { LimiterStrategy } from './limiter-strategy';
import { ReplicatedStore } from './network';
import type { ScenarioSpec, SimRequest, StrategyName } from './types';

/** What a strategy says about one request. */
export interface Outcome {
  readonly allowed: boolean;
  /** Ours only: tokens other regions had admitted that the deciding region had not seen. */
  readonly unseenTokens?: number;
  /** Ours only: the retry time a refusal gave (ms). */
  readonly retryAfterMs?: number;
}

/** A strategy under simulation: it sees requests in time order. */
export interface SimStrategy {
  readonly name: StrategyName;
  decide(request: SimRequest): Outcome | Promise<Outcome>;
  /** Ends the run: delivers what is still in flight; returns the time of the last delivery. */
  finish(): number;
}

/** The final replicas of a replicated strategy, after every message arrived. */
export interface ReplicaSnapshot {
  readonly views: ReadonlyMap<string, View>;
  readonly atMs: number;
}

/** Ours: the core's decide and conditional write, one slot per region. */
export class CheckpointMergeStrategy implements SimStrategy {
  readonly name = 'checkpoint-merge' as const;
  readonly store: ReplicatedStore<SlotItem>;

  constructor(
    private readonly spec: ScenarioSpec,
    seed: number,
  ) {
    this.store = new ReplicatedStore<SlotItem>(
      { ...networkOf(spec), seed, label: `${spec.name}:slots` },
      (candidate, current) => compareItems(candidate, current) > 0,
    );
  }

  decide(request: SimRequest): Outcome {
    const { region, costTokens, atMs } = request;
    this.store.advanceTo(atMs);
    const view: View = this.store.replica(region);
    let unseenTokens = 0;
    for (const other of this.spec.regions) {
      if (other === region) continue;
      const truth = this.store.replica(other).get(other);
      if (truth === undefined) continue;
      const seen = view.get(other);
      unseenTokens += truth.n - (seen !== undefined && seen.inc === truth.inc ? seen.n : 0);
    }
    const decision = decide({
      policy: this.spec.policy,
      view,
      slot: region,
      costTokens,
      // The region's own clock, which may be skewed.
      nowMs: atMs + (this.spec.clockSkewMs?.[region] ?? 0),
    });
    if (!decision.allowed) {
      return { allowed: false, unseenTokens, retryAfterMs: decision.retryAfterMs };
    }
    // One container per region: the condition always holds; checked anyway, as DynamoDB would.
    const next = applySlotWrite(view.get(region), decision.write);
    if (next === undefined) return { allowed: false, unseenTokens, retryAfterMs: 0 };
    this.store.write(region, region, next);
    return { allowed: true, unseenTokens };
  }

  finish(): number {
    return this.store.flush();
  }

  /** Every region's replica, as views. */
  snapshot(): ReplicaSnapshot {
    const views = new Map<string, View>();
    for (const region of this.spec.regions) views.set(region, new Map(this.store.replica(region)));
    return { views, atMs: this.store.flush() };
  }
}

/** The ideal: one bucket in one store, decided instantly for every region. */
class ExactStrategy implements SimStrategy {
  readonly name = 'exact' as const;
  private readonly bucket: TokenBucket;

  constructor(private readonly policy: BucketPolicy) {
    this.bucket = new TokenBucket(
      policy.capacityTokens * policy.refillIntervalMs,
      policy.refillTokens,
    );
  }

  decide(request: SimRequest): Outcome {
    return {
      allowed: this.bucket.tryTake(request.atMs, request.costTokens * this.policy.refillIntervalMs),
    };
  }

  finish(): number {
    return 0;
  }
}

/** A bucket per region, each with its own capacity and refill. */
class PerRegionStrategy implements SimStrategy {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly unitsPerToken: number;

  constructor(
    readonly name: 'independent' | 'static-split',
    spec: ScenarioSpec,
  ) {
    const { capacityTokens, refillTokens, refillIntervalMs } = spec.policy;
    const split = name === 'static-split' ? spec.regions.length : 1;
    // Unit = 1 / (refillIntervalMs × split) token: C/split and R/split stay integers.
    this.unitsPerToken = refillIntervalMs * split;
    for (const region of spec.regions) {
      this.buckets.set(region, new TokenBucket(capacityTokens * refillIntervalMs, refillTokens));
    }
  }

  decide(request: SimRequest): Outcome {
    const bucket = this.buckets.get(request.region)!;
    return { allowed: bucket.tryTake(request.atMs, request.costTokens * this.unitsPerToken) };
  }

  finish(): number {
    return 0;
  }
}

interface CounterItem {
  readonly n: number;
  readonly v: number;
}

/** The naive bucket of docs/design.md ("Why not one shared counter"): `available = min(C, adds − consumes)`, adds from elapsed time. */
class PnCounterStrategy implements SimStrategy {
  readonly name = 'pn-counter' as const;
  private readonly store: ReplicatedStore<CounterItem>;

  constructor(
    private readonly spec: ScenarioSpec,
    seed: number,
  ) {
    this.store = new ReplicatedStore<CounterItem>(
      { ...networkOf(spec), seed, label: `${spec.name}:counters` },
      (candidate, current) => candidate.v > current.v,
    );
  }

  decide(request: SimRequest): Outcome {
    const { capacityTokens, refillTokens, refillIntervalMs: s } = this.spec.policy;
    this.store.advanceTo(request.atMs);
    const replica = this.store.replica(request.region);
    let consumed = 0;
    for (const item of replica.values()) consumed += item.n;
    // The bucket was created full at t = 0.
    const adds = capacityTokens * s + refillTokens * request.atMs;
    const available = Math.min(capacityTokens * s, adds - consumed * s);
    if (available < request.costTokens * s) return { allowed: false };
    const own = replica.get(request.region);
    this.store.write(request.region, request.region, {
      n: (own?.n ?? 0) + request.costTokens,
      v: (own?.v ?? 0) + 1,
    });
    return { allowed: true };
  }

  finish(): number {
    return this.store.flush();
  }
}

function networkOf(spec: ScenarioSpec) {
  return {
    regions: spec.regions,
    lag: spec.lag,
    ...(spec.links === undefined ? {} : { links: spec.links }),
    ...(spec.partitions === undefined ? {} : { partitions: spec.partitions }),
  };
}

/** Creates a fresh strategy for one run. */
export function createStrategy(name: StrategyName, spec: ScenarioSpec, seed: number): SimStrategy {
  switch (name) {
    case 'exact':
      return new ExactStrategy(spec.policy);
    case 'checkpoint-merge':
      return new CheckpointMergeStrategy(spec, seed);
    case 'limiter':
      return new LimiterStrategy(spec, seed);
    case 'independent':
    case 'static-split':
      return new PerRegionStrategy(name, spec);
    case 'pn-counter':
      return new PnCounterStrategy(spec, seed);
    case 'escrow':
      return new EscrowStrategy(spec, seed);
  }
}
