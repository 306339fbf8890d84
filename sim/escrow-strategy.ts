/**
 * `escrow`: the core's escrow CRDT (functions/core/escrow.ts) per region, on
 * the simulator's replicated store.
 *
 * Each region keeps its one item in the store (written only by that region,
 * replicated with the scenario's lag and partitions), admits from its own
 * rights only, and every {@link REBALANCE_EVERY_MS} of virtual time counts the
 * transfers it has seen, publishes its demand and gives its surplus, all
 * decided from what its replica holds. Nothing here can over-admit whatever
 * the plan says: the core's write keeps the invariant.
 */

import {
  compareEscrowItems,
  type DemandEstimate,
  demandAt,
  demandMilli,
  type EscrowItem,
  type EscrowRebalanceOptions,
  escrowTake,
  escrowWrite,
  observeDemand,
  othersDemandDecayed,
  planEscrowRebalance,
} from '../functions/core';
import { ReplicatedStore } from './network';
import type { Outcome, SimStrategy } from './strategies';
import type { ScenarioSpec, SimRequest } from './types';

/** How often each region rebalances (virtual ms). */
export const REBALANCE_EVERY_MS = 200;

/** Settings of {@link EscrowStrategy} (the defaults are what the catalogue runs). */
export interface EscrowStrategyOptions {
  /** @default {@link REBALANCE_EVERY_MS} */
  readonly rebalanceEveryMs?: number;
  /** Half-life of each region's demand estimate (ms). @default the core's */
  readonly demandHalfLifeMs?: number;
  readonly rebalance?: EscrowRebalanceOptions;
}

/** A region publishes a changed demand when it moved by more than this share. */
const REPUBLISH_SHARE = 0.05;

/** Escrow per region, rebalanced from replicated items. */
export class EscrowStrategy implements SimStrategy {
  readonly name = 'escrow' as const;
  readonly store: ReplicatedStore<EscrowItem>;
  private readonly demand = new Map<string, DemandEstimate>();
  private readonly everyMs: number;
  private nextRebalanceMs: number;
  /** Writes that only moved rights or published demand (no admission). */
  rebalanceWrites = 0;

  constructor(
    private readonly spec: ScenarioSpec,
    seed: number,
    private readonly options: EscrowStrategyOptions = {},
  ) {
    this.everyMs = options.rebalanceEveryMs ?? REBALANCE_EVERY_MS;
    this.nextRebalanceMs = this.everyMs;
    this.store = new ReplicatedStore<EscrowItem>(
      {
        regions: spec.regions,
        lag: spec.lag,
        ...(spec.links === undefined ? {} : { links: spec.links }),
        ...(spec.partitions === undefined ? {} : { partitions: spec.partitions }),
        seed,
        label: `${spec.name}:escrow`,
      },
      (candidate, current) => compareEscrowItems(candidate, current) > 0,
    );
    for (const region of spec.regions) this.demand.set(region, { perSecond: 0, atMs: 0 });
  }

  decide(request: SimRequest): Outcome {
    const { region, costTokens, atMs } = request;
    this.rebalanceUntil(atMs);
    this.store.advanceTo(atMs);
    const nowMs = this.clockOf(region, atMs);
    const estimate = observeDemand(
      this.demand.get(region)!,
      nowMs,
      costTokens,
      this.options.demandHalfLifeMs,
    );
    this.demand.set(region, estimate);
    const decision = escrowTake({
      policy: this.spec.policy,
      regions: this.spec.regions,
      view: this.store.replica(region),
      region,
      costTokens,
      nowMs,
      demandMilli: demandMilli(estimate),
    });
    if (decision.write !== undefined) this.store.write(region, region, decision.write);
    return Number.isFinite(decision.retryAfterMs) && !decision.allowed
      ? { allowed: false, retryAfterMs: decision.retryAfterMs }
      : { allowed: decision.allowed };
  }

  finish(): number {
    return this.store.flush();
  }

  private clockOf(region: string, atMs: number): number {
    return atMs + (this.spec.clockSkewMs?.[region] ?? 0);
  }

  /** Runs every rebalance tick due at or before `atMs`, in time order. */
  private rebalanceUntil(atMs: number): void {
    while (this.nextRebalanceMs <= atMs) {
      const tickMs = this.nextRebalanceMs;
      this.store.advanceTo(tickMs);
      for (const region of this.spec.regions) this.rebalance(region, this.clockOf(region, tickMs));
      this.nextRebalanceMs += this.everyMs;
    }
  }

  private rebalance(region: string, nowMs: number): void {
    const { policy, regions } = this.spec;
    const view = this.store.replica(region);
    const estimate = demandAt(this.demand.get(region)!, nowMs, this.options.demandHalfLifeMs);
    this.demand.set(region, estimate);
    const demand = demandMilli(estimate);
    // Others' demand decayed by their item's age, as the limiter plans (core escrowRebalanceWrite).
    const gifts = planEscrowRebalance({
      policy,
      regions,
      view: othersDemandDecayed(view, region, nowMs),
      region,
      nowMs,
      ownDemandMilli: demand,
      ...(this.options.rebalance === undefined ? {} : { options: this.options.rebalance }),
    });
    const own = view.get(region);
    const published = own?.dm ?? 0;
    const demandMoved = Math.abs(demand - published) > Math.max(1, REPUBLISH_SHARE * published);
    const next = escrowWrite({ policy, regions, view, region, nowMs, gifts, demandMilli: demand });
    const counted = JSON.stringify(next.recv) !== JSON.stringify(own?.recv ?? {});
    if (gifts.length > 0 || demandMoved || counted) {
      this.store.write(region, region, next);
      this.rebalanceWrites++;
    }
  }
}
