/**
 * One request through the limiter, shared by `limit` (consume) and `peek`:
 *
 * 1. the allow and deny lists answer without the store;
 * 2. (consume) a lease held by this container serves the request from memory;
 * 3. the blocked-until bound refuses without the store while the level seen
 *    by the last refusal, refilled since, is still below the cost;
 * 4. the store decides: the view (other slots cached for `viewCacheMs`, the
 *    own slot refreshed by every write's `ALL_NEW`), the core's decision,
 *    one conditional write carrying any tokens to hand back; on a rejected
 *    condition the own slot is refreshed and the request decided once more;
 * 5. when the store cannot decide (its guard is open, the call failed, the
 *    wait ran out, the bucket is throttled), the failure modes do.
 *
 * A write whose decision stopped waiting carries on; when it lands, its
 * tokens are reconciled with what the failure mode answered (kept if the
 * request was admitted, handed back if it was refused), and when it fails,
 * what the `local` mode admitted becomes debt. Nothing is taken twice and
 * nothing admitted goes uncounted, except by `open`, which counts nothing
 * by definition.
 */

import type { ResolvedPolicy } from '../config/resolve';
import {
  type Admission,
  type Decision,
  decide,
  type HandBack,
  leaseSize,
  levelAt,
  openLease,
  type Refusal,
  type SlotItem,
  scale,
  serveFromLease,
  type View,
  viewOf,
  withItem,
} from '../core';
import { type BucketStore, StoreConflictError, StoreError } from '../store/types';
import type { BucketCache, BucketState } from './bucket-cache';
import type { FailureModes, FallbackOutcome } from './failure-modes';
import { decisionAtLevel, levelUpperBound } from './levels';
import type { PendingWrites } from './pending-writes';
import { StoreDownError, type StoreGuard, StoreWaitError, writeMayHaveLanded } from './store-guard';
import type { DecisionSource, FallbackCause, LimiterCounters, LimiterMetrics } from './types';

/** How a decision was reached, before it is shaped into a LimitResult. */
export interface Outcome {
  readonly decision: Decision;
  readonly source: DecisionSource;
  readonly fallback?: FallbackOutcome;
}

/** One policy's store, its guard and the slot it writes. */
export interface PolicyStore {
  readonly store: BucketStore;
  readonly guard: StoreGuard;
  readonly slot: string;
  /** Strongly consistent reads (strong policies). */
  readonly consistent: boolean;
}

/** What the pipeline works with. */
export interface PipelineParts {
  readonly now: () => number;
  readonly cache: BucketCache;
  readonly pending: PendingWrites;
  readonly failureModes: FailureModes;
  readonly metrics: LimiterMetrics;
  readonly counters: LimiterCounters;
  readonly viewCacheMs: number;
  /** Refuse from the blocked-until bound without a store call. */
  readonly blockedCache: boolean;
  readonly storeOf: (policy: ResolvedPolicy) => PolicyStore;
}

/** Most conditional writes per decision (the first and one retry). */
const MAX_WRITE_ATTEMPTS = 2;
/** First backoff of a bucket after a throttled call (ms), doubling to {@link MAX_THROTTLE_BACKOFF_MS}. */
const THROTTLE_BACKOFF_MS = 50;
const MAX_THROTTLE_BACKOFF_MS = 1000;

/** Runs one request. */
export class Pipeline {
  constructor(private readonly parts: PipelineParts) {}

  /** Decides (`consume`) or peeks one request of a resolved policy and key. */
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
    const { cache, now } = this.parts;
    const state = cache.get(bucketId, policy.id);
    const nowMs = now();
    if (consume) {
      const fromLease = this.#serveFromLease(policy, state, costTokens, nowMs);
      if (fromLease !== undefined) return fromLease;
    }
    const blocked = this.#blocked(policy, state, costTokens, nowMs);
    if (blocked !== undefined) return { decision: blocked, source: 'blocked' };
    return this.#fromStore(policy, state, costTokens, consume, nowMs);
  }

  #serveFromLease(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
  ): Outcome | undefined {
    const lease = state.lease;
    if (lease === undefined) return undefined;
    const served = serveFromLease(policy.bucket, lease, costTokens, nowMs);
    if (served !== undefined) {
      state.lease = served.lease;
      return { decision: served.decision, source: 'lease' };
    }
    // Expired or too small: its unused tokens go back with the next write.
    if (lease.tokensLeft > 0) {
      state.handBack.push({
        tokens: lease.tokensLeft,
        takenUpToN: lease.takenUpToN,
        inc: lease.inc,
      });
    }
    state.lease = undefined;
    return undefined;
  }

  /** Tokens this container holds for the bucket: a live lease and tokens it will hand back. */
  #heldTokens(state: BucketState, nowMs: number): number {
    let held = 0;
    if (state.lease !== undefined && nowMs < state.lease.expiresAtMs)
      held += state.lease.tokensLeft;
    for (const h of state.handBack) held += h.tokens;
    return held;
  }

  #blocked(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
  ): Decision | undefined {
    if (!this.parts.blockedCache || state.blocked === undefined) return undefined;
    const s = scale(policy.bucket);
    const bound =
      levelUpperBound(policy.bucket, state.blocked.levelScaled, state.blocked.atMs, nowMs) +
      this.#heldTokens(state, nowMs) * s;
    if (bound >= costTokens * s) return undefined;
    return decisionAtLevel(policy.bucket, bound, costTokens, false);
  }

  async #fromStore(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    consume: boolean,
    nowMs: number,
  ): Promise<Outcome> {
    const target = this.parts.storeOf(policy);
    if (!target.guard.available()) {
      return this.#fallback(policy, state, costTokens, nowMs, 'store-down', consume);
    }
    if (nowMs < state.throttledUntilMs) {
      return this.#fallback(policy, state, costTokens, nowMs, 'throttled', consume);
    }
    try {
      const view = await this.#view(target, state, nowMs);
      if (!consume) return this.#peek(policy, state, view, costTokens, nowMs);
      return await this.#consume(policy, target, state, view, costTokens, nowMs);
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      return this.#storeFailed(policy, state, costTokens, nowMs, error, consume);
    }
  }

  #peek(
    policy: ResolvedPolicy,
    state: BucketState,
    view: View,
    costTokens: number,
    nowMs: number,
  ): Outcome {
    const s = scale(policy.bucket);
    const level = levelAt(policy.bucket, view, nowMs) + this.#heldTokens(state, nowMs) * s;
    return {
      decision: {
        ...decisionAtLevel(policy.bucket, level, costTokens, false),
        allowed: level >= costTokens * s,
      },
      source: 'store',
    };
  }

  async #consume(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    initialView: View,
    costTokens: number,
    nowMs: number,
  ): Promise<Outcome> {
    const { pending, counters, metrics } = this.parts;
    let view = initialView;
    // Tokens to hand back ride on this write: the state's, and any the pending writes hold for it.
    let handBack: HandBack[] = [...state.handBack, ...pending.takeHandBack(state.bucketId)];
    state.handBack = [];
    const restore = () => {
      state.handBack.push(...handBack);
      handBack = [];
    };
    for (let attempt = 0; ; attempt += 1) {
      const { decision, takenTokens } = this.#decide(
        policy,
        target,
        view,
        costTokens,
        handBack,
        nowMs,
      );
      if (!decision.allowed) {
        restore();
        state.blocked = { levelScaled: decision.levelScaled, atMs: nowMs };
        return { decision, source: 'store' };
      }
      let stored: SlotItem;
      try {
        stored = await target.guard.call('write', (signal) =>
          target.store.applyWrite(state.bucketId, decision.write, { abortSignal: signal }),
        );
      } catch (error) {
        if (error instanceof StoreWaitError) {
          return this.#lateWrite(policy, state, decision, takenTokens, handBack, nowMs, error);
        }
        if (writeMayHaveLanded(error)) this.#dropHandBack(handBack);
        else restore();
        if (!(error instanceof StoreConflictError)) throw error;
        const current = await this.#refreshOwnSlot(target, state, error);
        view = current === undefined ? state.view : withItem(state.view, current);
        state.view = view;
        if (attempt + 1 >= MAX_WRITE_ATTEMPTS) {
          // The slot is contended right now: refusing can never over-admit. The
          // refusal is shaped from the newest level known, not the attempted one.
          const level = levelAt(policy.bucket, view, nowMs);
          return {
            decision: decisionAtLevel(policy.bucket, level, costTokens, false),
            source: 'store',
          };
        }
        counters.conditionalRetries += 1;
        metrics.conditionalRetry({ policy: policy.id });
        handBack = [...state.handBack];
        state.handBack = [];
        continue;
      }
      state.view = withItem(state.view, stored);
      state.blocked = undefined;
      state.throttles = 0;
      this.#countHandBack(handBack);
      if (takenTokens > costTokens && policy.lease !== undefined) {
        if (state.lease !== undefined && state.lease.tokensLeft > 0) {
          state.handBack.push({
            tokens: state.lease.tokensLeft,
            takenUpToN: state.lease.takenUpToN,
            inc: state.lease.inc,
          });
        }
        state.lease = openLease(
          policy.lease,
          decision,
          policy.bucket,
          takenTokens,
          costTokens,
          nowMs,
          stored,
        );
      }
      return {
        decision: decisionAtLevel(policy.bucket, decision.levelScaled, costTokens, true),
        source: 'store',
      };
    }
  }

  /** Decides `k`, taking a lease of more when the policy leases and the level allows. */
  #decide(
    policy: ResolvedPolicy,
    target: PolicyStore,
    view: View,
    costTokens: number,
    handBack: readonly HandBack[],
    nowMs: number,
  ): { decision: Admission | Refusal; takenTokens: number } {
    const base = { policy: policy.bucket, view, slot: target.slot, nowMs, handBack };
    if (policy.lease !== undefined) {
      const m = leaseSize(
        policy.bucket,
        policy.lease,
        levelAt(policy.bucket, view, nowMs),
        costTokens,
      );
      if (m > costTokens) {
        const batched = decide({ ...base, costTokens: m });
        if (batched.allowed) return { decision: batched, takenTokens: m };
      }
    }
    return { decision: decide({ ...base, costTokens }), takenTokens: costTokens };
  }

  /**
   * The decision stopped waiting for its write. The failure mode answers now
   * (without recording debt: the write carries the tokens); when the write
   * settles, its tokens are reconciled with that answer.
   */
  #lateWrite(
    policy: ResolvedPolicy,
    state: BucketState,
    decision: Admission,
    takenTokens: number,
    handBack: readonly HandBack[],
    nowMs: number,
    wait: StoreWaitError,
  ): Outcome {
    const { pending, counters, now } = this.parts;
    const outcome = this.#fallback(
      policy,
      state,
      decision.costTokens,
      nowMs,
      'store-slow',
      true,
      false,
    );
    const admitted = outcome.decision.allowed;
    (wait.late as Promise<SlotItem>).then(
      (stored) => {
        counters.lateWrites += 1;
        this.#countHandBack(handBack);
        state.view = withItem(state.view, stored);
        // Tokens the write took beyond what the answer used are not owed: hand them back.
        const unused = admitted ? takenTokens - decision.costTokens : takenTokens;
        if (unused > 0) {
          pending.addHandBack(
            state.bucketId,
            policy.id,
            { tokens: unused, takenUpToN: stored.n, inc: stored.inc },
            now(),
          );
        }
      },
      (error: unknown) => {
        // Not landed (or not known to have): what `local` admitted is now debt (counted twice at
        // worst); the hand-backs are still owed only when the write surely did not land.
        if (writeMayHaveLanded(error)) this.#dropHandBack(handBack);
        else pending.restoreHandBack(state.bucketId, policy.id, handBack, now());
        if (outcome.fallback?.mode === 'local' && admitted) {
          pending.addDebt(state.bucketId, policy.id, decision.costTokens, now());
        }
      },
    );
    return outcome;
  }

  #dropHandBack(handBack: readonly HandBack[]): void {
    for (const h of handBack) this.parts.counters.droppedHandBackTokens += h.tokens;
  }

  #countHandBack(handBack: readonly HandBack[]): void {
    for (const h of handBack) this.parts.counters.handedBackTokens += h.tokens;
  }

  async #refreshOwnSlot(
    target: PolicyStore,
    state: BucketState,
    conflict: StoreConflictError,
  ): Promise<SlotItem | undefined> {
    if (conflict.current !== undefined) return conflict.current;
    return target.guard.call('readSlot', (signal) =>
      target.store.readSlot(state.bucketId, target.slot, { consistent: true, abortSignal: signal }),
    );
  }

  /** The view for a decision: cached other slots while fresh, else one read shared by concurrent callers. */
  async #view(target: PolicyStore, state: BucketState, nowMs: number): Promise<View> {
    const readAt = state.viewReadAtMs;
    if (readAt !== undefined && nowMs >= readAt && nowMs - readAt < this.parts.viewCacheMs) {
      return state.view;
    }
    if (state.viewInFlight === undefined) {
      const read = target.guard
        .call('readView', (signal) =>
          target.store.readView(state.bucketId, {
            consistent: target.consistent,
            abortSignal: signal,
          }),
        )
        .then((items) => {
          state.view = viewOf([...state.view.values(), ...items]);
          state.viewReadAtMs = nowMs;
          return state.view;
        });
      state.viewInFlight = read;
      const clear = () => {
        if (state.viewInFlight === read) state.viewInFlight = undefined;
      };
      read.then(clear, clear);
      // A read that outlives its decision still refreshes the cache when it lands.
      read.catch((error: unknown) => {
        if (error instanceof StoreWaitError) {
          error.late.then(
            (items) => {
              state.view = viewOf([...state.view.values(), ...(items as SlotItem[])]);
              state.viewReadAtMs = nowMs;
            },
            () => undefined,
          );
        }
      });
    }
    return state.viewInFlight;
  }

  #storeFailed(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
    error: StoreError,
    consume: boolean,
  ): Outcome {
    let cause: FallbackCause = 'store-error';
    if (error instanceof StoreDownError) cause = 'store-down';
    else if (error instanceof StoreWaitError) cause = 'store-slow';
    else if (error.kind === 'throttled') {
      cause = 'throttled';
      state.throttles += 1;
      const backoffMs = Math.min(
        MAX_THROTTLE_BACKOFF_MS,
        THROTTLE_BACKOFF_MS * 2 ** (state.throttles - 1),
      );
      state.throttledUntilMs = this.parts.now() + backoffMs;
    }
    return this.#fallback(policy, state, costTokens, nowMs, cause, consume);
  }

  #fallback(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
    cause: FallbackCause,
    consume: boolean,
    recordDebt = true,
  ): Outcome {
    const fallback = this.parts.failureModes.decide(
      policy,
      state,
      costTokens,
      nowMs,
      cause,
      consume,
      recordDebt,
    );
    // Peeks are answered the same way but not counted as fallbacks.
    if (consume) {
      this.parts.counters.fallbacks += 1;
      this.parts.metrics.fallback({ policy: policy.id, mode: fallback.mode });
    }
    return { decision: fallback.decision, source: 'fallback', fallback };
  }
}
