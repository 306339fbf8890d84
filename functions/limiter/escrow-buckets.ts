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
  scale,
} from '../core';
import { EscrowConflictError, StoreError } from '../store/types';
import { CLOSED_RETRY_AFTER_MS } from './failure-modes';
import { decisionAtLevel } from './levels';
import type { Outcome, PolicyStore } from './pipeline';
import { StoreDownError, StoreWaitError } from './store-guard';
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
   * another of its limits ({@link EscrowBuckets.#giveBack}). Resolves to the
   * tokens it gives back (dropped, and counted as such, when another write of
   * the item came first).
   */
  refund(policy: ResolvedPolicy, bucketId: string, outcome: Outcome): number {
    const written = this.#written.get(outcome);
    const state = this.#states.get(bucketId);
    if (written === undefined || state === undefined) return 0;
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
      try {
        await this.#o.target.guard.call(
          'write',
          (signal) => this.#write(policy, bucketId, write, signal),
          { background: true },
        );
        this.#learn(state, [write]);
        this.#o.counters.handedBackTokens += tokens;
      } catch (error) {
        this.#o.counters.droppedHandBackTokens += tokens;
        if (error instanceof EscrowConflictError && error.current !== undefined) {
          this.#learn(state, [error.current]);
        }
      }
    });
    this.#track(work);
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
      const decision = escrowTake({
        policy: policy.bucket,
        regions,
        view: state.view,
        region,
        costTokens,
        nowMs,
        demandMilli: demandMilli(escrowDemandAt(own ?? { dm: 0, at: nowMs }, nowMs, requested)),
      });
      if (decision.write === undefined) {
        // Refused from the region's own rights: nothing to write, no store call.
        state.unpublishedTokens += costTokens;
        return { decision: this.#shape(policy, decision, costTokens, false), source: 'blocked' };
      }
      const write = decision.write;
      try {
        await target.guard.call('write', (signal) => this.#write(policy, bucketId, write, signal));
        this.#learn(state, [write]);
        state.unpublishedTokens = Math.max(0, state.unpublishedTokens - (requested - costTokens));
        const outcome: Outcome = {
          decision: this.#shape(policy, decision, costTokens, true),
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
        return this.#failed(policy, state, costTokens, error);
      }
    }
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
        return;
      }
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
        askedAtMs: Number.NEGATIVE_INFINITY,
        chain: Promise.resolve(),
      };
      if (this.#states.size >= this.#o.maxBuckets) {
        // Least recently used first.
        const [oldest] = this.#states.keys();
        if (oldest !== undefined) this.#states.delete(oldest);
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
