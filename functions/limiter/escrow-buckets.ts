/**
 * Escrow buckets: the limiter's side of `consistency: 'escrow'`
 * (docs/escrow.md). The pure core (core/escrow.ts) says what a region may
 * admit from the rights it holds; this part keeps, per bucket, the newest
 * escrow items the container knows, and talks to the store:
 *
 * - **a decision** is the core's `escrowTake` on the known items, then ONE
 *   conditional write of the region's own item (`v` must be the one read).
 *   No read of the other regions' items is waited for: transfers not seen
 *   yet are counted by a later write. A refusal needs no store call at all;
 * - **a lease** (a leasing policy, a busy bucket): the write takes, beyond
 *   the request, what the container's demand asks for over about a second
 *   (within the policy's lease rules, out of the region's level),
 *   and the next requests are served from memory; a background write tops it
 *   up before it runs out. Leased tokens left when the lease expires are
 *   given back when nothing wrote the item since (else dropped:
 *   under-admission, never over-admission, since they left the rights when
 *   they were taken);
 * - **another writer of the region** (a second container) makes the write's
 *   condition fail: the item it wrote (from the answer, or one consistent
 *   read of the bucket's items) is taken and the decision is taken again;
 * - **in the background**, at most every `rebalanceMs` per bucket a decision
 *   touches, the container reads every region's item (one Query, never
 *   waited for), counts what others gave, publishes the region's demand
 *   (refusals included) and gives its surplus to regions short of theirs
 *   (`planEscrowRebalance`), in one write of its own item;
 * - **a failure** of the store is answered by the policy's `open` or
 *   `closed` failure mode (`local` is refused for escrow by validation: a
 *   container admitting alone would spend rights no region holds). A write
 *   whose decision stopped waiting goes on; if it lands, what it took is
 *   spent (given back when the failure mode refused and nothing wrote the
 *   item since: {@link EscrowBuckets.refund} says why only then).
 *
 * Every write is the whole item, conditioned on its version, so nothing a
 * container believes can take the stored rights past the invariant: a stale
 * belief only costs a rejected write or an early refusal (under-admission),
 * never an admission beyond the region's rights.
 */

import type { ResolvedPolicy } from '../config/resolve';
import {
  type Decision,
  type DemandEstimate,
  demandAt,
  demandMilli,
  type EscrowItem,
  escrowDemandAt,
  escrowMsUntil,
  escrowRebalanceWrite,
  escrowRightsAt,
  escrowTake,
  escrowViewOf,
  escrowWrite,
  fullRefillMs,
  leaseSize,
  observeDemand,
  scale,
} from '../core';
import type { CallSignal } from '../store/call-signal';
import { EscrowConflictError, StoreError } from '../store/types';
import { CLOSED_RETRY_AFTER_MS } from './failure-modes';
import { decisionAtLevel } from './levels';
import { listedOutcome, type Outcome, type PolicyStore } from './pipeline';
import { StoreDownError, StoreWaitError } from './store-guard';
import type { FallbackCause, LimiterCounters, LimiterMetrics } from './types';

/** First backoff of an item after a throttled write (ms), doubling up to {@link MAX_THROTTLE_BACKOFF_MS}. */
const THROTTLE_BACKOFF_MS = 50;
const MAX_THROTTLE_BACKOFF_MS = 1000;

/** Most conditional writes per decision (the first and two retries after another writer). */
const MAX_WRITE_ATTEMPTS = 3;

/** Default of {@link EscrowBucketsOptions.rebalanceMs}. */
export const DEFAULT_ESCROW_REBALANCE_MS = 1000;

/** Least time between two asks of one bucket by one container (ms). */
export const ESCROW_ASK_INTERVAL_MS = 30_000;
/** Least time between two asks of any bucket by one container (ms): a bound on the asks' partition. */
const ESCROW_ASK_SPACING_MS = 1000;
/** An ask expires this long after it was made (s): the givers' reconcilers run every minute. */
const ESCROW_ASK_TTL_S = 600;

/** A quota's escrow items outlive their period by this much (s), like its slots. */
const QUOTA_TTL_GRACE_S = 3600;

/** What {@link EscrowBuckets} works with. */
export interface EscrowBucketsOptions {
  readonly now: () => number;
  /** The replica this container writes through: its region's item is the only one it writes. */
  readonly region: string;
  /** The regions the rights are split over (the deployment's replica regions). */
  readonly regions: readonly string[];
  /** The global table's replica in `region`, with its guard. */
  readonly target: PolicyStore;
  readonly counters: LimiterCounters;
  readonly metrics: LimiterMetrics;
  readonly log: (entry: Readonly<Record<string, unknown>>) => void;
  /** Most buckets kept (least recently used ones are forgotten first). */
  readonly maxBuckets: number;
  /**
   * Least time between two background reads (and rebalances) of one bucket
   * (ms). Rights follow demand within about two of these plus twice the
   * replication lag. @default 1000
   */
  readonly rebalanceMs?: number;
  /** A peek reads the items again when they are older than this (ms). */
  readonly viewCacheMs: number;
}

/** What the container knows of one escrow bucket. */
interface EscrowState {
  /** Newest known item per region (the own one included once read or written). */
  readonly view: Map<string, EscrowItem>;
  /** Time of the last read of the bucket's items (-Infinity: never read). */
  readAtMs: number;
  /** Last background read started (-Infinity: never). */
  tickAtMs: number;
  /** Tokens requested and refused since the own item last published demand. */
  unpublishedTokens: number;
  /** Last ask for rights written (-Infinity: never). */
  askedAtMs: number;
  /** Writes of the own item by this container, one at a time. */
  chain: Promise<unknown>;
  /** Tokens taken beyond requests, served from memory (leasing policies). */
  lease: EscrowLease | undefined;
  /** The container's recent demand for the bucket (tokens per second), for sizing leases. */
  demand: DemandEstimate;
  /** A background top-up of the lease is under way. */
  refreshing: boolean;
  /** Until when the item is left alone after throttling (ms). */
  throttledUntilMs: number;
  /** Throttled writes in a row (the backoff doubles with each). */
  throttles: number;
}

/** Tokens a container took from its region's rights and serves from memory. */
interface EscrowLease {
  /** Not yet served. */
  tokens: number;
  /** The first moment it no longer serves (ms). */
  expiresAtMs: number;
  /** The item the take wrote: while it is the newest, leftovers can be given back. */
  item: EscrowItem;
}

/** A lease holds about this much of the container's demand (ms), at most half its lifetime. */
const LEASE_HORIZON_MS = 1000;

/** Half-life of a container's demand estimate for lease sizing (ms): the last second or so counts. */
const LEASE_DEMAND_HALF_LIFE_MS = 500;

/** Decides the requests of `escrow` policies for one container. */
export class EscrowBuckets {
  readonly #o: EscrowBucketsOptions;
  readonly #rebalanceMs: number;
  readonly #states = new Map<string, EscrowState>();
  readonly #background = new Set<Promise<unknown>>();
  /** The item each admission wrote, for giving its tokens back ({@link EscrowBuckets.refund}). */
  readonly #written = new WeakMap<Outcome, EscrowItem>();
  #askedAtMs = Number.NEGATIVE_INFINITY;

  constructor(options: EscrowBucketsOptions) {
    this.#o = options;
    this.#rebalanceMs = options.rebalanceMs ?? DEFAULT_ESCROW_REBALANCE_MS;
  }

  /** Decides (`consume`) or peeks one request of an escrow policy. */
  async run(
    policy: ResolvedPolicy,
    key: string,
    bucketId: string,
    costTokens: number,
    consume: boolean,
  ): Promise<Outcome> {
    const listed = listedOutcome(policy, key, costTokens);
    if (listed !== undefined) return listed;
    const state = this.#state(bucketId);
    if (!consume) return this.#peek(policy, bucketId, state, costTokens);
    const nowMs = this.#o.now();
    state.demand = observeDemand(state.demand, nowMs, costTokens, LEASE_DEMAND_HALF_LIFE_MS);
    const leased = this.#fromLease(policy, bucketId, state, costTokens, nowMs);
    if (leased !== undefined) {
      this.#maybeTick(policy, bucketId, state);
      return leased;
    }
    const decided = this.#serial(state, () => this.#decide(policy, bucketId, state, costTokens));
    try {
      return await decided;
    } finally {
      this.#maybeTick(policy, bucketId, state);
    }
  }

  /**
   * Gives back what an admission took, when the request was refused by
   * another of its limits ({@link EscrowBuckets.#giveBack}). Resolves to the
   * tokens it gives back (dropped, and counted as such, when another write of
   * the item came first).
   */
  refund(policy: ResolvedPolicy, bucketId: string, outcome: Outcome): number {
    const state = this.#states.get(bucketId);
    if (state === undefined || !outcome.decision.allowed) return 0;
    if (outcome.source === 'lease') {
      // Served from memory: back into the lease while it serves.
      const lease = state.lease;
      if (lease === undefined || this.#o.now() >= lease.expiresAtMs) return 0;
      lease.tokens += outcome.decision.costTokens;
      return outcome.decision.costTokens;
    }
    const written = this.#written.get(outcome);
    if (written === undefined) return 0;
    this.#written.delete(outcome);
    this.#giveBack(policy, bucketId, state, written, outcome.decision.costTokens);
    return outcome.decision.costTokens;
  }

  /**
   * Writes `tokens` back to the region's level (capped at its capacity
   * right), in one conditional write on the item `after` that took them, and
   * only on it: with no write between, the level's path since the take was
   * refill alone, so the level with the tokens back is exactly what it would
   * be had they never been taken. Once another write came between (another
   * request of the region admitted meanwhile), giving them back could credit
   * refill the region would not have had, so they are dropped instead
   * (under-admission, counted in `droppedHandBackTokens`).
   */
  #giveBack(
    policy: ResolvedPolicy,
    bucketId: string,
    state: EscrowState,
    after: EscrowItem,
    tokens: number,
  ): void {
    const work = this.#serial(state, async () => {
      const own = state.view.get(this.#o.region);
      if (own === undefined || own.v !== after.v) {
        this.#o.counters.droppedHandBackTokens += tokens;
        return;
      }
      const write = escrowWrite({
        policy: policy.bucket,
        regions: this.#o.regions,
        view: state.view,
        region: this.#o.region,
        nowMs: this.#o.now(),
        creditTokens: tokens,
      });
      const written = await this.#writeInBackground(policy, bucketId, state, write).catch(
        () => false,
      );
      if (written) this.#o.counters.handedBackTokens += tokens;
      else this.#o.counters.droppedHandBackTokens += tokens;
    });
    this.#track(work);
  }

  /** The rights this container believes its region holds in a bucket (tests, reporting). */
  rightsOf(policy: ResolvedPolicy, bucketId: string): { level: number; cap: number; rate: number } {
    const state = this.#states.get(bucketId);
    const rights = this.#rights(policy, state, this.#o.now());
    const s = scale(policy.bucket);
    return { level: rights.levelScaled / s, cap: rights.capScaled / s, rate: rights.rateParts };
  }

  /** Resolves once background reads and rebalancing writes have settled. */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  async #decide(
    policy: ResolvedPolicy,
    bucketId: string,
    state: EscrowState,
    costTokens: number,
  ): Promise<Outcome> {
    const { target, region, regions } = this.#o;
    if (!target.guard.available()) return this.#fallback(policy, state, costTokens, 'store-down');
    // A throttled item is left alone for a while: the failure mode decides without a call.
    if (this.#o.now() < state.throttledUntilMs) {
      return this.#fallback(policy, state, costTokens, 'throttled');
    }
    let withLease = true;
    for (let attempt = 1; ; attempt += 1) {
      const nowMs = this.#o.now();
      // A lease taken meanwhile (by the decision before this one) serves first.
      const leased = this.#fromLease(policy, bucketId, state, costTokens, nowMs);
      if (leased !== undefined) return leased;
      const own = state.view.get(region);
      const requested = costTokens + state.unpublishedTokens;
      const credit = this.#creditableLeftover(state, nowMs);
      const extra = withLease ? this.#leaseExtra(policy, state, costTokens, credit, nowMs) : 0;
      const decision = escrowTake({
        policy: policy.bucket,
        regions,
        view: state.view,
        region,
        costTokens: costTokens + extra,
        nowMs,
        demandMilli: demandMilli(escrowDemandAt(own ?? { dm: 0, at: nowMs }, nowMs, requested)),
        creditTokens: credit,
      });
      if (decision.write === undefined && extra > 0) {
        // The lease does not fit in what the region holds: the request alone may.
        withLease = false;
        attempt -= 1;
        continue;
      }
      if (decision.write === undefined) {
        // Refused from the region's own rights: nothing to write, no store call.
        state.unpublishedTokens += costTokens;
        return { decision: this.#shape(policy, decision, costTokens, false), source: 'blocked' };
      }
      const write = decision.write;
      try {
        await target.guard.call('write', (signal) => this.#write(policy, bucketId, write, signal));
        this.#learn(state, [write]);
        state.throttles = 0;
        state.unpublishedTokens = Math.max(0, state.unpublishedTokens - (requested - costTokens));
        this.#leaseTaken(policy, state, write, extra, credit, nowMs);
        const outcome: Outcome = {
          decision: this.#shape(
            policy,
            { ...decision, remainingTokens: decision.remainingTokens + extra },
            costTokens,
            true,
          ),
          source: 'store',
        };
        this.#written.set(outcome, write);
        return outcome;
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        if (error instanceof EscrowConflictError) {
          this.#o.counters.conditionalRetries += 1;
          this.#o.metrics.conditionalRetry({ policy: policy.id });
          if (attempt >= MAX_WRITE_ATTEMPTS) {
            return this.#fallback(policy, state, costTokens, 'store-error');
          }
          try {
            if (error.current !== undefined) this.#learn(state, [error.current]);
            else await this.#read(bucketId, state, true, false);
          } catch (readError) {
            if (!(readError instanceof StoreError)) throw readError;
            return this.#failed(policy, state, costTokens, readError);
          }
          continue;
        }
        if (error instanceof StoreWaitError) {
          const outcome = this.#fallback(policy, state, costTokens, 'store-slow');
          this.#lateWrite(policy, bucketId, state, write, error.late, costTokens, outcome);
          return outcome;
        }
        if (error.kind === 'throttled') {
          state.throttles += 1;
          const backoffMs = THROTTLE_BACKOFF_MS * 2 ** (state.throttles - 1);
          state.throttledUntilMs = this.#o.now() + Math.min(MAX_THROTTLE_BACKOFF_MS, backoffMs);
        }
        return this.#failed(policy, state, costTokens, error);
      }
    }
  }

  /**
   * Serves a request from the container's lease, or undefined (no lease,
   * expired, or short). Starts a background top-up when what is left will
   * not last a round trip and two requests at the current demand.
   */
  #fromLease(
    policy: ResolvedPolicy,
    bucketId: string,
    state: EscrowState,
    costTokens: number,
    nowMs: number,
  ): Outcome | undefined {
    const lease = state.lease;
    if (lease === undefined || nowMs >= lease.expiresAtMs || lease.tokens < costTokens) {
      return undefined;
    }
    lease.tokens -= costTokens;
    const s = scale(policy.bucket);
    const rights = this.#rights(policy, state, nowMs);
    const levelScaled = rights.levelScaled + (lease.tokens + costTokens) * s;
    const decision = this.#shape(
      policy,
      {
        levelScaled,
        remainingTokens: Math.floor(levelScaled / s) - costTokens,
        retryAfterMs: 0,
      },
      costTokens,
      true,
    );
    this.#maybeTopUp(policy, bucketId, state, costTokens, nowMs);
    return { decision, source: 'lease' };
  }

  /** Tokens a decision's write takes for the lease beyond the request (0: no lease). */
  #leaseExtra(
    policy: ResolvedPolicy,
    state: EscrowState,
    costTokens: number,
    creditTokens: number,
    nowMs: number,
  ): number {
    const lease = policy.lease;
    if (lease === undefined) return 0;
    const perMs = demandAt(state.demand, nowMs, LEASE_DEMAND_HALF_LIFE_MS).perSecond / 1000;
    // The demand besides this request, over about a second (at most half the lease's lifetime).
    const besides = Math.max(0, perMs - (costTokens * Math.LN2) / LEASE_DEMAND_HALF_LIFE_MS);
    const wanted = Math.floor(besides * Math.min(LEASE_HORIZON_MS, lease.ttlMs / 2));
    if (wanted <= 0) return 0;
    const rights = this.#rights(policy, state, nowMs, creditTokens);
    const sized = leaseSize(
      policy.bucket,
      lease,
      rights.levelScaled,
      costTokens,
      costTokens + wanted,
    );
    return Math.max(0, sized - costTokens);
  }

  /**
   * Leftover tokens of an expired lease that can go back with the next write:
   * all of them while the item its take wrote is still the newest (nothing
   * wrote since: see {@link escrowRightsAt}); otherwise they are dropped.
   */
  #creditableLeftover(state: EscrowState, nowMs: number): number {
    const lease = state.lease;
    if (lease === undefined || nowMs < lease.expiresAtMs || lease.tokens === 0) return 0;
    if (state.view.get(this.#o.region)?.v === lease.item.v) return lease.tokens;
    this.#o.counters.droppedHandBackTokens += lease.tokens;
    lease.tokens = 0;
    return 0;
  }

  /** After a write that took `extra` tokens (and gave `credit` back): the lease it holds now. */
  #leaseTaken(
    policy: ResolvedPolicy,
    state: EscrowState,
    write: EscrowItem,
    extra: number,
    credit: number,
    nowMs: number,
  ): void {
    const lease = state.lease;
    if (credit > 0 && lease !== undefined) {
      lease.tokens -= credit;
      this.#o.counters.handedBackTokens += credit;
    }
    if (policy.lease === undefined || extra === 0) {
      // Nothing new leased; an unexpired lease keeps serving.
      if (lease !== undefined && nowMs >= lease.expiresAtMs) state.lease = undefined;
      return;
    }
    const live = lease !== undefined && nowMs < lease.expiresAtMs ? lease.tokens : 0;
    if (lease !== undefined && live === 0 && lease.tokens > 0) {
      this.#o.counters.droppedHandBackTokens += lease.tokens;
    }
    state.lease = { tokens: live + extra, expiresAtMs: nowMs + policy.lease.ttlMs, item: write };
  }

  /**
   * Tops the lease up in the background (one write of the item, taking what
   * the demand asks for) when what it holds will not last a store round trip
   * and two requests: the answer is seen by a later request, since the
   * container may be frozen in between.
   */
  #maybeTopUp(
    policy: ResolvedPolicy,
    bucketId: string,
    state: EscrowState,
    costTokens: number,
    nowMs: number,
  ): void {
    const lease = state.lease;
    if (policy.lease === undefined || lease === undefined || state.refreshing) return;
    const perMs = demandAt(state.demand, nowMs, LEASE_DEMAND_HALF_LIFE_MS).perSecond / 1000;
    if (perMs <= 0) return;
    const gapMs = Math.min(1000, costTokens / perMs);
    const leadMs = this.#o.target.guard.roundTripMs() + 2 * gapMs;
    const lastsMs = lease.tokens / perMs;
    if (lastsMs > leadMs && lease.expiresAtMs - nowMs > leadMs) return;
    if (!this.#o.target.guard.available()) return;
    state.refreshing = true;
    const work = this.#serial(state, async () => {
      const at = this.#o.now();
      const extra = this.#leaseExtra(policy, state, costTokens, 0, at) + costTokens;
      const decision = escrowTake({
        policy: policy.bucket,
        regions: this.#o.regions,
        view: state.view,
        region: this.#o.region,
        costTokens: extra,
        nowMs: at,
      });
      if (decision.write === undefined) return;
      const write = decision.write;
      if (!(await this.#writeInBackground(policy, bucketId, state, write).catch(() => false))) {
        return;
      }
      const current = state.lease;
      const live =
        current !== undefined && this.#o.now() < current.expiresAtMs ? current.tokens : 0;
      if (current !== undefined && live === 0) {
        this.#o.counters.droppedHandBackTokens += current.tokens;
      }
      state.lease = {
        tokens: live + extra,
        expiresAtMs: at + (policy.lease?.ttlMs ?? 0),
        item: write,
      };
    });
    this.#track(
      work.finally(() => {
        state.refreshing = false;
      }),
    );
  }

  /** A write that outlived its decision: its outcome decides what it took and gave back. */
  #lateWrite(
    policy: ResolvedPolicy,
    bucketId: string,
    state: EscrowState,
    write: EscrowItem,
    settled: Promise<unknown>,
    costTokens: number,
    outcome: Outcome,
  ): void {
    const late = settled.then(
      () => {
        this.#o.counters.lateWrites += 1;
        this.#learn(state, [write]);
        // Taken for a request the failure mode refused: given back, if nothing wrote since.
        if (!outcome.decision.allowed) this.#giveBack(policy, bucketId, state, write, costTokens);
      },
      () => undefined,
    );
    this.#track(late);
  }

  async #peek(
    policy: ResolvedPolicy,
    bucketId: string,
    state: EscrowState,
    costTokens: number,
  ): Promise<Outcome> {
    if (this.#o.now() - state.readAtMs > this.#o.viewCacheMs) {
      if (!this.#o.target.guard.available()) {
        return this.#fallback(policy, state, costTokens, 'store-down', false);
      }
      try {
        await this.#read(bucketId, state, false, false);
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        return this.#failed(policy, state, costTokens, error, false);
      }
    }
    const rights = this.#rights(policy, state, this.#o.now());
    const allowed = rights.levelScaled >= costTokens * scale(policy.bucket);
    const decision = {
      allowed,
      levelScaled: rights.levelScaled,
      remainingTokens: Math.floor(rights.levelScaled / scale(policy.bucket)),
      retryAfterMs: escrowMsUntil(policy.bucket, rights, costTokens * scale(policy.bucket)),
    };
    return { decision: this.#shape(policy, decision, costTokens, allowed), source: 'store' };
  }

  /**
   * The core's escrow decision as a {@link Decision}: what this region holds
   * (its rights, not the whole bucket). A wait its own rights never end (no
   * refill right left) is bounded by the whole bucket's refill from empty:
   * rights move back within that under any demand worth the name.
   */
  #shape(
    policy: ResolvedPolicy,
    d: {
      readonly levelScaled: number;
      readonly remainingTokens: number;
      readonly retryAfterMs: number;
    },
    costTokens: number,
    allowed: boolean,
  ): Decision {
    const bound = fullRefillMs(policy.bucket);
    const s = scale(policy.bucket);
    const after = allowed ? d.levelScaled - costTokens * s : d.levelScaled;
    const refill = Math.max(0, policy.bucket.capacityTokens * s - after);
    return {
      allowed,
      costTokens,
      limitTokens: policy.bucket.capacityTokens,
      remainingTokens: d.remainingTokens,
      retryAfterMs: Math.min(d.retryAfterMs, bound),
      resetAfterMs: Math.min(
        bound,
        policy.bucket.refillTokens === 0 ? bound : Math.ceil(refill / policy.bucket.refillTokens),
      ),
      levelScaled: d.levelScaled,
    };
  }

  /** Reads every item of the bucket (consistent: the own item as last written) into the state. */
  async #read(
    bucketId: string,
    state: EscrowState,
    consistent: boolean,
    background: boolean,
  ): Promise<void> {
    const { store } = this.#o.target;
    const readEscrow = store.readEscrow?.bind(store);
    if (readEscrow === undefined)
      throw new StoreError('the store keeps no escrow items', 'invalid');
    const startedAt = this.#o.now();
    const items = await this.#o.target.guard.call(
      'readView',
      (signal) => readEscrow(bucketId, { consistent, abortSignal: signal }),
      { background },
    );
    this.#learn(state, items);
    state.readAtMs = Math.max(state.readAtMs, startedAt);
  }

  #write(
    policy: ResolvedPolicy,
    bucketId: string,
    item: EscrowItem,
    signal: CallSignal,
  ): Promise<void> {
    const { store } = this.#o.target;
    if (store.writeEscrow === undefined) {
      return Promise.reject(new StoreError('the store keeps no escrow items', 'invalid'));
    }
    const ttl =
      policy.periodEndsAtMs === undefined
        ? undefined
        : Math.ceil(policy.periodEndsAtMs / 1000) + QUOTA_TTL_GRACE_S;
    return store.writeEscrow(bucketId, item, {
      abortSignal: signal,
      ...(ttl === undefined ? {} : { ttlEpochSeconds: ttl }),
    });
  }

  /** Keeps the newest item per region of what the state knows and what was read or written. */
  #learn(state: EscrowState, items: Iterable<EscrowItem>): void {
    const merged = escrowViewOf([...state.view.values(), ...items]);
    for (const [region, item] of merged) {
      if (this.#o.regions.includes(region)) state.view.set(region, item);
    }
  }

  /**
   * Starts the bucket's background read and rebalance when it is due: reads
   * every item (consistent, so the own item's version is the stored one),
   * then writes the own item when it has something to say: gifts to regions
   * short of their share, refused demand to publish, or tokens to give back.
   */
  #maybeTick(policy: ResolvedPolicy, bucketId: string, state: EscrowState): void {
    const nowMs = this.#o.now();
    // A bucket's first decision starts no read: a key seen once (most keys) costs one write.
    if (state.tickAtMs === Number.NEGATIVE_INFINITY) state.tickAtMs = nowMs;
    if (nowMs - state.tickAtMs < this.#rebalanceMs || !this.#o.target.guard.available()) return;
    state.tickAtMs = nowMs;
    this.#maybeAsk(policy, bucketId, state, nowMs);
    const tick = this.#read(bucketId, state, true, true).then(() =>
      this.#serial(state, () => this.#rebalance(policy, bucketId, state)),
    );
    this.#track(
      tick.catch((error: unknown) => {
        if (error instanceof StoreError) return;
        this.#o.log({
          level: 'error',
          message: 'escrow rebalance failed',
          policy: policy.id,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      }),
    );
  }

  /**
   * A region that refused requests of a bucket since its last write asks the
   * others for rights (at most every {@link ESCROW_ASK_INTERVAL_MS} per bucket
   * and one ask a second per container): a region holding rights whose
   * containers see none of the bucket's traffic never rebalances by itself,
   * so its reconciler reads the asks and gives (docs/escrow.md, "Idle regions").
   */
  #maybeAsk(policy: ResolvedPolicy, bucketId: string, state: EscrowState, nowMs: number): void {
    const { store } = this.#o.target;
    const writeAsk = store.writeEscrowAsk?.bind(store);
    if (writeAsk === undefined || state.unpublishedTokens === 0) return;
    if (nowMs - state.askedAtMs < ESCROW_ASK_INTERVAL_MS) return;
    if (nowMs - this.#askedAtMs < ESCROW_ASK_SPACING_MS) return;
    state.askedAtMs = nowMs;
    this.#askedAtMs = nowMs;
    const { capacityTokens, refillTokens, refillIntervalMs } = policy.bucket;
    const ask = {
      bucketId,
      region: this.#o.region,
      capacityTokens,
      refillTokens,
      refillIntervalMs,
      ...(policy.periodEndsAtMs === undefined ? {} : { endsAtMs: policy.periodEndsAtMs }),
      atMs: nowMs,
    };
    this.#track(
      this.#o.target.guard
        .call(
          'write',
          (signal) =>
            writeAsk(ask, {
              abortSignal: signal,
              ttlEpochSeconds: Math.ceil(nowMs / 1000) + ESCROW_ASK_TTL_S,
            }),
          { background: true },
        )
        .catch(() => {
          // Advisory: the next tick asks again.
          state.askedAtMs = Number.NEGATIVE_INFINITY;
        }),
    );
  }

  async #rebalance(policy: ResolvedPolicy, bucketId: string, state: EscrowState): Promise<void> {
    const unpublished = state.unpublishedTokens;
    const planned = escrowRebalanceWrite({
      policy: policy.bucket,
      regions: this.#o.regions,
      view: state.view,
      region: this.#o.region,
      nowMs: this.#o.now(),
      unpublishedTokens: unpublished,
    });
    if (planned === undefined) return;
    const { write } = planned;
    if (await this.#writeInBackground(policy, bucketId, state, write)) {
      state.unpublishedTokens = Math.max(0, state.unpublishedTokens - unpublished);
    }
  }

  /**
   * One write of the region's item no request waits for: true when stored
   * (and learnt), false when another writer of the region came first (its
   * item learnt when the answer carried it). Other failures reject.
   */
  async #writeInBackground(
    policy: ResolvedPolicy,
    bucketId: string,
    state: EscrowState,
    write: EscrowItem,
  ): Promise<boolean> {
    try {
      await this.#o.target.guard.call(
        'write',
        (signal) => this.#write(policy, bucketId, write, signal),
        { background: true },
      );
      this.#learn(state, [write]);
      return true;
    } catch (error) {
      if (!(error instanceof EscrowConflictError)) throw error;
      if (error.current !== undefined) this.#learn(state, [error.current]);
      return false;
    }
  }

  /** The region's rights as the container knows them. */
  #rights(policy: ResolvedPolicy, state: EscrowState | undefined, nowMs: number, credit = 0) {
    return escrowRightsAt(
      policy.bucket,
      this.#o.regions,
      state?.view ?? new Map(),
      this.#o.region,
      nowMs,
      credit,
    );
  }

  #failed(
    policy: ResolvedPolicy,
    state: EscrowState,
    costTokens: number,
    error: StoreError,
    consume = true,
  ): Outcome {
    let cause: FallbackCause = 'store-error';
    if (error instanceof StoreDownError) cause = 'store-down';
    else if (error instanceof StoreWaitError) cause = 'store-slow';
    else if (error.kind === 'throttled') cause = 'throttled';
    return this.#fallback(policy, state, costTokens, cause, consume);
  }

  /** The policy's failure mode (`open` or `closed`), from the region's last known rights. */
  #fallback(
    policy: ResolvedPolicy,
    state: EscrowState,
    costTokens: number,
    cause: FallbackCause,
    consume = true,
  ): Outcome {
    const rights = this.#rights(policy, state, this.#o.now());
    const mode = policy.onStoreError === 'closed' ? 'closed' : 'open';
    const known = decisionAtLevel(policy.bucket, rights.levelScaled, costTokens, mode === 'open');
    const decision =
      mode === 'open' ? known : { ...known, retryAfterMs: CLOSED_RETRY_AFTER_MS, allowed: false };
    if (consume) {
      this.#o.counters.fallbacks += 1;
      this.#o.metrics.fallback({ policy: policy.id, mode });
    }
    return { decision, source: 'fallback', fallback: { decision, mode, cause, debtTokens: 0 } };
  }

  #state(bucketId: string): EscrowState {
    let state = this.#states.get(bucketId);
    if (state === undefined) {
      state = {
        view: new Map(),
        readAtMs: Number.NEGATIVE_INFINITY,
        tickAtMs: Number.NEGATIVE_INFINITY,
        unpublishedTokens: 0,
        askedAtMs: Number.NEGATIVE_INFINITY,
        chain: Promise.resolve(),
        lease: undefined,
        demand: { perSecond: 0, atMs: 0 },
        refreshing: false,
        throttledUntilMs: Number.NEGATIVE_INFINITY,
        throttles: 0,
      };
      if (this.#states.size >= this.#o.maxBuckets) {
        // Least recently used first; what its lease still held is dropped (under-admission).
        const [oldest] = this.#states.keys();
        if (oldest !== undefined) {
          this.#o.counters.droppedHandBackTokens += this.#states.get(oldest)?.lease?.tokens ?? 0;
          this.#states.delete(oldest);
        }
      }
    } else {
      this.#states.delete(bucketId);
    }
    this.#states.set(bucketId, state);
    return state;
  }

  /** Runs `task` after the bucket's previous own-item work of this container. */
  #serial<T>(state: EscrowState, task: () => Promise<T>): Promise<T> {
    const run = state.chain.then(task, task);
    state.chain = run.catch(() => undefined);
    return run;
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.finally(() => this.#background.delete(tracked));
    tracked.catch(() => undefined);
    this.#background.add(tracked);
  }
}
