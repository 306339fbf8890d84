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
 *   spent (given back with the next write when the failure mode refused).
 *
 * Every write is the whole item, conditioned on its version, so nothing a
 * container believes can take the stored rights past the invariant: a stale
 * belief only costs a rejected write or an early refusal (under-admission),
 * never an admission beyond the region's rights.
 */

import type { ResolvedPolicy } from '../config/resolve';
import {
  type Decision,
  demandMilli,
  type EscrowItem,
  escrowDemandAt,
  escrowMsUntil,
  escrowRebalanceWrite,
  escrowRightsAt,
  escrowTake,
  escrowViewOf,
  fullRefillMs,
  scale,
} from '../core';
import { EscrowConflictError, StoreError } from '../store/types';
import { CLOSED_RETRY_AFTER_MS } from './failure-modes';
import { decisionAtLevel } from './levels';
import type { Outcome, PolicyStore } from './pipeline';
import { StoreDownError, StoreWaitError, writeMayHaveLanded } from './store-guard';
import type { FallbackCause, LimiterCounters, LimiterMetrics } from './types';

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
  /** Tokens this container took and gives back with its next write of the own item. */
  creditTokens: number;
  /** Last ask for rights written (-Infinity: never). */
  askedAtMs: number;
  /** Writes of the own item by this container, one at a time. */
  chain: Promise<unknown>;
}

/** Decides the requests of `escrow` policies for one container. */
export class EscrowBuckets {
  readonly #o: EscrowBucketsOptions;
  readonly #rebalanceMs: number;
  readonly #states = new Map<string, EscrowState>();
  readonly #background = new Set<Promise<unknown>>();
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
    if (policy.denyKeys.has(key)) {
      return { decision: decisionAtLevel(policy.bucket, 0, costTokens, false), source: 'denylist' };
    }
    if (policy.allowKeys.has(key)) {
      const full = policy.bucket.capacityTokens * scale(policy.bucket);
      return { decision: decisionAtLevel(policy.bucket, full, 0, true), source: 'allowlist' };
    }
    const state = this.#state(bucketId);
    if (!consume) return this.#peek(policy, bucketId, state, costTokens);
    const decided = this.#serial(state, () => this.#decide(policy, bucketId, state, costTokens));
    try {
      return await decided;
    } finally {
      this.#maybeTick(policy, bucketId, state);
    }
  }

  /**
   * Gives back what an admission took, when the request was refused by
   * another of its limits: with the next write of the region's item (a
   * decision's or the background's). Resolves to the tokens to be given back.
   */
  refund(bucketId: string, outcome: Outcome): number {
    if (outcome.source !== 'store' || !outcome.decision.allowed) return 0;
    const state = this.#states.get(bucketId);
    if (state === undefined) return 0;
    state.creditTokens += outcome.decision.costTokens;
    return outcome.decision.costTokens;
  }

  /** The rights this container believes its region holds in a bucket (tests, reporting). */
  rightsOf(policy: ResolvedPolicy, bucketId: string): { level: number; cap: number; rate: number } {
    const state = this.#states.get(bucketId);
    const rights = escrowRightsAt(
      policy.bucket,
      this.#o.regions,
      state?.view ?? new Map(),
      this.#o.region,
      this.#o.now(),
    );
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
    for (let attempt = 1; ; attempt += 1) {
      const nowMs = this.#o.now();
      const own = state.view.get(region);
      const requested = costTokens + state.unpublishedTokens;
      const credit = state.creditTokens;
      const decision = escrowTake({
        policy: policy.bucket,
        regions,
        view: state.view,
        region,
        costTokens,
        nowMs,
        demandMilli: demandMilli(escrowDemandAt(own ?? { dm: 0, at: nowMs }, nowMs, requested)),
        creditTokens: credit,
      });
      if (decision.write === undefined) {
        // Refused from the region's own rights: nothing to write, no store call.
        state.unpublishedTokens += costTokens;
        return { decision: this.#shape(policy, decision, costTokens, false), source: 'blocked' };
      }
      const write = decision.write;
      state.creditTokens -= credit;
      try {
        await target.guard.call('write', (signal) => this.#write(policy, bucketId, write, signal));
        this.#learn(state, [write]);
        state.unpublishedTokens = Math.max(0, state.unpublishedTokens - (requested - costTokens));
        return { decision: this.#shape(policy, decision, costTokens, true), source: 'store' };
      } catch (error) {
        if (!(error instanceof StoreError)) {
          state.creditTokens += credit;
          throw error;
        }
        if (error instanceof EscrowConflictError) {
          state.creditTokens += credit;
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
          this.#lateWrite(state, write, error.late, credit, costTokens, outcome);
          return outcome;
        }
        if (!writeMayHaveLanded(error)) state.creditTokens += credit;
        else this.#o.counters.droppedHandBackTokens += credit;
        return this.#failed(policy, state, costTokens, error);
      }
    }
  }

  /** A write that outlived its decision: its outcome decides what it took and gave back. */
  #lateWrite(
    state: EscrowState,
    write: EscrowItem,
    settled: Promise<unknown>,
    credit: number,
    costTokens: number,
    outcome: Outcome,
  ): void {
    const late = settled.then(
      () => {
        this.#o.counters.lateWrites += 1;
        this.#learn(state, [write]);
        // Taken for a request the failure mode refused: given back with the next write.
        if (!outcome.decision.allowed) state.creditTokens += costTokens;
      },
      (error: unknown) => {
        if (!writeMayHaveLanded(error)) state.creditTokens += credit;
        else this.#o.counters.droppedHandBackTokens += credit;
      },
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
    const rights = escrowRightsAt(
      policy.bucket,
      this.#o.regions,
      state.view,
      this.#o.region,
      this.#o.now(),
    );
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
    signal: AbortSignal,
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
    const credit = state.creditTokens;
    const planned = escrowRebalanceWrite({
      policy: policy.bucket,
      regions: this.#o.regions,
      view: state.view,
      region: this.#o.region,
      nowMs: this.#o.now(),
      unpublishedTokens: unpublished,
      creditTokens: credit,
    });
    if (planned === undefined) return;
    const { write } = planned;
    state.creditTokens -= credit;
    try {
      await this.#o.target.guard.call(
        'write',
        (signal) => this.#write(policy, bucketId, write, signal),
        { background: true },
      );
      this.#learn(state, [write]);
      state.unpublishedTokens = Math.max(0, state.unpublishedTokens - unpublished);
    } catch (error) {
      if (error instanceof EscrowConflictError) {
        if (error.current !== undefined) this.#learn(state, [error.current]);
        state.creditTokens += credit;
        return;
      }
      if (!writeMayHaveLanded(error)) state.creditTokens += credit;
      else this.#o.counters.droppedHandBackTokens += credit;
      throw error;
    }
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
    const rights = escrowRightsAt(
      policy.bucket,
      this.#o.regions,
      state.view,
      this.#o.region,
      this.#o.now(),
    );
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
        creditTokens: 0,
        askedAtMs: Number.NEGATIVE_INFINITY,
        chain: Promise.resolve(),
      };
      if (this.#states.size >= this.#o.maxBuckets) {
        // Least recently used first: what it held to give back is dropped (under-admission).
        const [oldest, dropped] = this.#states.entries().next().value as [string, EscrowState];
        this.#o.counters.droppedHandBackTokens += dropped.creditTokens;
        this.#states.delete(oldest);
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
