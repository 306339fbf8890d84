/**
 * One request through the limiter, shared by `limit` (consume) and `peek`:
 *
 * 1. the allow and deny lists answer without the store;
 * 2. (consume) a lease held by this container serves the request from memory,
 *    and when the leases will not last one store round trip more at the
 *    current demand, the next one is taken in the background (leases.ts);
 * 3. the blocked-until bound refuses without the store while the level seen
 *    by the last refusal, refilled since, is still below the cost;
 * 4. the store decides in one round trip: with a fresh view (other slots
 *    cached for `viewCacheMs`, the own slot refreshed by every write), one
 *    conditional write carrying any tokens to hand back (on a rejected
 *    condition the own slot is refreshed and the request decided once
 *    more); without one, a take beside the read of the view (core take.ts),
 *    decided when both have answered;
 * 5. when the store cannot decide (its guard is open, the call failed, the
 *    wait ran out, the bucket is throttled), the failure modes do.
 *
 * A write whose decision stopped waiting carries on; when it lands, its
 * tokens are reconciled with what the failure mode answered (kept if the
 * request was admitted, handed back if it was refused), and when it fails,
 * what the `local` mode admitted becomes debt. Nothing is taken twice and
 * nothing admitted goes uncounted, except by `open`, which counts nothing
 * by definition. A write whose outcome is unknown never hands back again
 * what it carried (it may have landed): those tokens are dropped.
 */

import type { ResolvedPolicy } from '../config/resolve';
import {
  type Admission,
  type Decision,
  decide,
  type HandBack,
  type Lease,
  levelAt,
  levelBeforeTake,
  levelWithHandBack,
  openLease,
  type Refusal,
  recordingWrite,
  type SlotItem,
  scale,
  scaledCapacity,
  takeHandBack,
  takeWrite,
  type View,
  viewOf,
  withItem,
} from '../core';
import { type BucketStore, StoreConflictError, StoreError, type TakeResult } from '../store/types';
import type { BucketCache, BucketState } from './bucket-cache';
import type { FailureModes, FallbackOutcome } from './failure-modes';
import {
  addLease,
  batchOf,
  heldTokens,
  LEASE_MIN_LEVEL,
  observeDemand,
  refreshDue,
  refreshLeadMs,
  returnToLease,
  serveFromLeases,
  wantedTokens,
} from './leases';
import { decisionAtLevel, levelUpperBound } from './levels';
import type { PendingWrites } from './pending-writes';
import { StoreDownError, type StoreGuard, StoreWaitError, writeMayHaveLanded } from './store-guard';
import type { DecisionSource, FallbackCause, LimiterCounters, LimiterMetrics } from './types';

/** How a decision was reached, before it is shaped into a LimitResult. */
export interface Outcome {
  readonly decision: Decision;
  readonly source: DecisionSource;
  readonly fallback?: FallbackOutcome;
  /**
   * An admission that took the cost from the store's tokens: what gives it
   * back if the request is refused after all (another of its limits refused:
   * {@link Pipeline.refund}).
   */
  readonly charged?: Charged;
}

/** What an admission took, as the hand-back that returns it. */
export interface Charged {
  readonly handBack: HandBack;
  /** The lease of this container it was served from, as it was (the tokens may go back into it). */
  readonly lease?: Lease;
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

/** Share of the capacity a bucket's last known level must exceed the request by for a take. */
const TAKE_MARGIN = 0.25;
/** Most conditional writes per decision (the first and one retry). */
const MAX_WRITE_ATTEMPTS = 2;
/** First backoff of a bucket after a throttled call (ms), doubling to {@link MAX_THROTTLE_BACKOFF_MS}. */
const THROTTLE_BACKOFF_MS = 50;
const MAX_THROTTLE_BACKOFF_MS = 1000;

/** What a store decision took: tokens kept (the request's and a lease's) or none. */
interface Taken {
  readonly levelScaled: number;
  /** Tokens kept: 0 for a refusal, else the cost plus what the lease holds. */
  readonly kept: number;
  /** The own slot after the write. */
  readonly stored?: SlotItem;
}

/** The least age at which a read's answer is too old to take a lease from or to join (ms). */
const STALE_READ_MIN_MS = 1000;

/**
 * How long a background lease takes at worst (ms): a read of the view (it is
 * rarely fresh a lease later) and the conditional write, each a round trip.
 */
function refreshTripMs(target: PolicyStore): number {
  return 2 * target.guard.roundTripMs();
}

/**
 * The answer for a key on the policy's deny list (refused, source
 * `denylist`) or allow list (admitted, nothing taken, source `allowlist`),
 * or undefined: whatever the bucket's consistency, lists decide first.
 */
export function listedOutcome(
  policy: ResolvedPolicy,
  key: string,
  costTokens: number,
): Outcome | undefined {
  if (policy.denyKeys.has(key)) {
    return { decision: decisionAtLevel(policy.bucket, 0, costTokens, false), source: 'denylist' };
  }
  if (policy.allowKeys.has(key)) {
    const full = policy.bucket.capacityTokens * scale(policy.bucket);
    return { decision: decisionAtLevel(policy.bucket, full, 0, true), source: 'allowlist' };
  }
  return undefined;
}

/** Runs one request. */
export class Pipeline {
  readonly #refreshes = new Set<Promise<void>>();

  constructor(private readonly parts: PipelineParts) {}

  /** Decides (`consume`) or peeks one request of a resolved policy and key. */
  async run(
    policy: ResolvedPolicy,
    key: string,
    bucketId: string,
    costTokens: number,
    consume: boolean,
  ): Promise<Outcome> {
    const listed = listedOutcome(policy, key, costTokens);
    if (listed !== undefined) return listed;
    const { cache, now } = this.parts;
    const state = cache.get(bucketId, policy.id);
    const nowMs = now();
    if (!consume) {
      const blocked = this.#blocked(policy, state, costTokens, nowMs);
      if (blocked !== undefined) return { decision: blocked, source: 'blocked' };
      return this.#fromStore(policy, state, costTokens, false, nowMs);
    }
    observeDemand(state, costTokens, nowMs);
    // Concurrent requests of one bucket (a local runtime; a Lambda container decides one
    // request at a time, but a background lease may be on its way) wait for the store
    // decision under way and try its lease before deciding themselves: a burst takes
    // leases one after the other instead of racing for the same tokens.
    for (;;) {
      const at = now();
      const fromLease = serveFromLeases(policy, state, costTokens, at);
      if (fromLease !== undefined) {
        this.#maybeRefresh(policy, state, costTokens, at);
        const { takenUpToN, inc } = fromLease.lease;
        return {
          decision: fromLease.decision,
          source: 'lease',
          charged: { handBack: { tokens: costTokens, takenUpToN, inc }, lease: fromLease.lease },
        };
      }
      if (state.deciding === undefined) break;
      await state.deciding;
    }
    const at = now();
    const blocked = this.#blocked(policy, state, costTokens, at);
    if (blocked !== undefined) return { decision: blocked, source: 'blocked' };
    const deciding = this.#fromStore(policy, state, costTokens, true, at);
    this.#markDeciding(state, deciding);
    const outcome = await deciding;
    // A busy bucket takes its next lease ahead, whatever decided this request.
    if (outcome.decision.allowed) this.#maybeRefresh(policy, state, costTokens, now());
    return outcome;
  }

  /**
   * The refusal of a request known without a store call (the deny list, the
   * blocked-until cache), or undefined. Nothing is taken or recorded: a
   * request of several limits asks it of each before deciding any.
   */
  knownRefusal(
    policy: ResolvedPolicy,
    key: string,
    bucketId: string,
    costTokens: number,
  ): Outcome | undefined {
    if (policy.denyKeys.has(key)) {
      return { decision: decisionAtLevel(policy.bucket, 0, costTokens, false), source: 'denylist' };
    }
    if (policy.allowKeys.has(key)) return undefined;
    const state = this.parts.cache.peek(bucketId);
    if (state === undefined) return undefined;
    const blocked = this.#blocked(policy, state, costTokens, this.parts.now());
    return blocked === undefined ? undefined : { decision: blocked, source: 'blocked' };
  }

  /**
   * Gives back what an admission took, when the request it admitted was
   * refused by another of its limits: into the lease it was served from when
   * that lease still serves, else as a hand-back the next write of the
   * bucket (or the pending writes, within a second or so) carries; the
   * `local` failure mode's debt is forgiven. Resolves to the tokens given
   * back (0 when the admission took none: allow list, `open` fallback).
   */
  refund(policy: ResolvedPolicy, bucketId: string, outcome: Outcome): number {
    const { cache, pending, now } = this.parts;
    const nowMs = now();
    if (outcome.charged !== undefined) {
      const { handBack, lease } = outcome.charged;
      const state = cache.peek(bucketId);
      if (
        lease !== undefined &&
        state !== undefined &&
        returnToLease(state, lease, handBack.tokens, nowMs)
      ) {
        return handBack.tokens;
      }
      if (!pending.addHandBack(bucketId, policy.id, handBack, nowMs)) {
        this.parts.counters.droppedHandBackTokens += handBack.tokens;
        return 0;
      }
      return handBack.tokens;
    }
    const debt = outcome.fallback?.debtTokens ?? 0;
    return debt > 0 ? pending.forgiveDebt(bucketId, debt) : 0;
  }

  /** Marks a store decision (or background lease) of the bucket as under way until it settles. */
  #markDeciding(state: BucketState, work: Promise<unknown>): void {
    const done = work.then(
      () => undefined,
      () => undefined,
    );
    state.deciding = done;
    done.then(() => {
      if (state.deciding === done) state.deciding = undefined;
    });
  }

  /** Resolves once every background lease started so far has settled (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.#refreshes.size > 0) await Promise.allSettled([...this.#refreshes]);
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
      heldTokens(state, nowMs) * s;
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
      if (consume && this.#takeLikelyKept(policy, target, state, costTokens, nowMs)) {
        return await this.#takeAndRead(policy, target, state, costTokens, nowMs);
      }
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
    const level = levelAt(policy.bucket, view, nowMs) + heldTokens(state, nowMs) * s;
    return {
      decision: {
        ...decisionAtLevel(policy.bucket, level, costTokens, false),
        allowed: level >= costTokens * s,
      },
      source: 'store',
    };
  }

  /** Whether buckets of this policy may be decided by a take (eventual mode, a store that offers it). */
  #takes(policy: ResolvedPolicy, target: PolicyStore): boolean {
    return policy.consistency === 'eventual' && target.store.applyTake !== undefined;
  }

  /**
   * Whether to decide by a take: the view is not fresh, and what the
   * container last knew of the bucket says a take would very likely be kept
   * (a bucket it has never seen, or one well above the request). A take the
   * level then refuses holds its tokens until a later write hands them back,
   * which lowers the level everyone sees meanwhile; near empty, the two round
   * trips of read-then-write cost less than that.
   */
  #takeLikelyKept(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    costTokens: number,
    nowMs: number,
  ): boolean {
    // A guard that lets one probe through would refuse the second call of the pair.
    if (!this.#takes(policy, target) || target.guard.open || this.#viewFresh(state, nowMs)) {
      return false;
    }
    if (state.view.size === 0) return true;
    const s = scale(policy.bucket);
    const margin = Math.max(costTokens, Math.ceil(policy.bucket.capacityTokens * TAKE_MARGIN));
    // Takes add `tk` after the slot's checkpoint, whose timing the level only bounds by the
    // latest take (it errs low, never high): a conditional write first checkpoints them. A
    // bucket at least half full when last read may take once more (one round trip instead
    // of two) while they stay under the margin; a contended one writes first.
    const tk = state.view.get(target.slot)?.tk ?? 0;
    if (tk > 0 && (tk >= margin || !this.#leasesAsRead(policy, state, nowMs))) return false;
    return levelAt(policy.bucket, state.view, nowMs) >= (costTokens + margin) * s;
  }

  /**
   * How old a read may be when its answer is used by a lease or joined by a decision (ms):
   * the view cache's age plus two round trips, at least {@link STALE_READ_MIN_MS}. A
   * container frozen between a read and its answer (Lambda freezes it when a request
   * ends) sees older answers; they are not used for what they would decide.
   */
  #staleReadMs(target: PolicyStore): number {
    return Math.max(STALE_READ_MIN_MS, this.parts.viewCacheMs + 2 * target.guard.roundTripMs());
  }

  #viewFresh(state: BucketState, nowMs: number): boolean {
    const readAt = state.viewReadAtMs;
    return readAt !== undefined && nowMs >= readAt && nowMs - readAt < this.parts.viewCacheMs;
  }

  #leadMs(target: PolicyStore, state: BucketState, costTokens: number, nowMs: number): number {
    return refreshLeadMs(state, costTokens, refreshTripMs(target), nowMs);
  }

  /** The tokens to ask for at `levelScaled`: the request, a lease, at least the policy's batch. */
  #want(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    costTokens: number,
    levelScaled: number,
    nowMs: number,
  ): number {
    return wantedTokens(policy, state, costTokens, levelScaled, refreshTripMs(target), nowMs);
  }

  /**
   * The tokens a decision keeps at `levelScaled` when it took (or may take)
   * up to `asked`: none below the policy's batch, else what the level allows
   * of what was asked, in whole requests.
   */
  #keep(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    costTokens: number,
    asked: number,
    levelScaled: number,
    nowMs: number,
  ): number {
    const s = scale(policy.bucket);
    const floor = batchOf(policy, costTokens);
    if (levelScaled < Math.max(costTokens, floor) * s) return 0;
    const wanted = this.#want(policy, target, state, costTokens, levelScaled, nowMs);
    const affordable = Math.floor(levelScaled / s / costTokens) * costTokens;
    return Math.max(Math.min(costTokens, asked), Math.min(asked, wanted, affordable));
  }

  async #consume(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    initialView: View,
    costTokens: number,
    nowMs: number,
  ): Promise<Outcome> {
    const { counters, metrics } = this.parts;
    let view = initialView;
    for (let attempt = 0; ; attempt += 1) {
      // The level the write will see: the hand-backs it carries are credited.
      const handBack = [...state.handBack, ...this.parts.pending.peekHandBack(state.bucketId)];
      const level = levelWithHandBack(policy.bucket, view, target.slot, handBack, nowMs);
      const asked = this.#want(policy, target, state, costTokens, level, nowMs);
      const kept = this.#keep(policy, target, state, costTokens, asked, level, nowMs);
      if (kept === 0) return this.#refused(policy, state, level, costTokens, nowMs);
      let written: Written;
      try {
        written = await this.#conditionalWrite(policy, target, state, view, kept, nowMs, false);
      } catch (error) {
        if (error instanceof OutlivedWait) {
          return this.#lateWrite(policy, state, costTokens, nowMs, error.write);
        }
        if (!(error instanceof StoreConflictError)) throw error;
        view = state.view;
        if (attempt + 1 >= MAX_WRITE_ATTEMPTS) {
          // The slot is contended right now: refusing can never over-admit. The
          // refusal is shaped from the newest level known, not the attempted one.
          return {
            decision: decisionAtLevel(
              policy.bucket,
              levelAt(policy.bucket, view, nowMs),
              costTokens,
              false,
            ),
            source: 'store',
          };
        }
        counters.conditionalRetries += 1;
        metrics.conditionalRetry({ policy: policy.id });
        continue;
      }
      if (!written.decision.allowed) {
        return this.#refused(policy, state, written.decision.levelScaled, costTokens, nowMs);
      }
      return this.#admitted(policy, state, costTokens, nowMs, {
        levelScaled: written.decision.levelScaled,
        kept,
        stored: written.stored,
      });
    }
  }

  /**
   * One conditional write of `tokens`, carrying the state's hand-backs (and
   * those the pending writes hold for the bucket). Resolves to the decision
   * and the stored item; a refusal by the core writes nothing. The
   * hand-backs are restored when the write surely did not land, dropped
   * when it may have.
   *
   * @throws {@link OutlivedWait} when the wait ran out (the write goes on: `write.late`)
   */
  async #conditionalWrite(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    view: View,
    tokens: number,
    nowMs: number,
    background: boolean,
  ): Promise<Written> {
    const handBack: HandBack[] = [
      ...state.handBack,
      ...this.parts.pending.takeHandBack(state.bucketId),
    ];
    state.handBack = [];
    const decision = decide({
      policy: policy.bucket,
      view,
      slot: target.slot,
      costTokens: tokens,
      nowMs,
      handBack,
    });
    if (!decision.allowed) {
      state.handBack.push(...handBack);
      return { decision };
    }
    const call = target.guard.call(
      'write',
      (signal) => target.store.applyWrite(state.bucketId, decision.write, { abortSignal: signal }),
      { background },
    );
    try {
      const stored = await call;
      this.#wrote(state, stored, handBack);
      return { decision, stored };
    } catch (error) {
      if (error instanceof StoreWaitError) {
        const late = (error.late as Promise<SlotItem>).then(
          (stored) => {
            this.#wrote(state, stored, handBack);
            return stored;
          },
          (failure: unknown) => {
            this.#unwritten(state, handBack, failure);
            throw failure;
          },
        );
        late.catch(() => undefined);
        throw new OutlivedWait({ decision, late, tokens }, error);
      }
      this.#unwritten(state, handBack, error);
      if (error instanceof StoreConflictError) {
        const current = await this.#refreshOwnSlot(target, state, error, background);
        if (current !== undefined) state.view = withItem(state.view, current);
      }
      throw error;
    }
  }

  /** A write landed: the own slot is known, its hand-backs were credited. */
  #wrote(state: BucketState, stored: SlotItem, handBack: readonly HandBack[]): void {
    state.view = withItem(state.view, stored);
    state.throttles = 0;
    for (const h of handBack) this.parts.counters.handedBackTokens += h.tokens;
  }

  /** A write did not land, or may not have: its hand-backs are owed again, or dropped. */
  #unwritten(state: BucketState, handBack: readonly HandBack[], error: unknown): void {
    if (writeMayHaveLanded(error)) {
      for (const h of handBack) this.parts.counters.droppedHandBackTokens += h.tokens;
    } else {
      state.handBack.push(...handBack);
    }
  }

  #refused(
    policy: ResolvedPolicy,
    state: BucketState,
    levelScaled: number,
    costTokens: number,
    nowMs: number,
  ): Outcome {
    state.blocked = { levelScaled, atMs: nowMs };
    return {
      decision: decisionAtLevel(policy.bucket, levelScaled, costTokens, false),
      source: 'store',
    };
  }

  /** The request is admitted with `taken.kept` tokens: what exceeds its cost becomes a lease. */
  #admitted(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
    taken: Taken,
  ): Outcome {
    state.blocked = undefined;
    if (taken.kept > costTokens && policy.lease !== undefined && taken.stored !== undefined) {
      addLease(
        state,
        openLease(
          policy.lease,
          { levelScaled: taken.levelScaled },
          policy.bucket,
          taken.kept,
          costTokens,
          nowMs,
          taken.stored,
        ),
      );
    } else if (taken.kept > costTokens && taken.stored !== undefined) {
      const back = takeHandBack(taken.stored, taken.kept - costTokens);
      if (back !== undefined) state.handBack.push(back);
    }
    return {
      decision: decisionAtLevel(policy.bucket, taken.levelScaled, costTokens, true),
      source: 'store',
      ...(taken.stored === undefined
        ? {}
        : {
            charged: {
              handBack: { tokens: costTokens, takenUpToN: taken.stored.n, inc: taken.stored.inc },
            },
          }),
    };
  }

  /**
   * A bucket without a fresh view: a take of the request (or the hot-bucket batch), sent
   * beside the read of the view, decided when both have answered (core
   * take.ts). One round trip. A slot whose stored expiry is later than the
   * take's refuses it: the read then feeds a conditional decision.
   */
  async #takeAndRead(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    costTokens: number,
    nowMs: number,
  ): Promise<Outcome> {
    const asked = this.#takeAsk(policy, target, state, costTokens, nowMs);
    const write = takeWrite(policy.bucket, target.slot, asked, nowMs);
    const take = target.guard.call('write', (signal) =>
      target.store.applyTake!(state.bucketId, write, { abortSignal: signal }),
    );
    const read = this.#view(target, state, nowMs);
    const [took, viewed] = await Promise.allSettled([take, read]);
    if (took.status === 'rejected') {
      const error = took.reason as unknown;
      if (error instanceof StoreConflictError && viewed.status === 'fulfilled') {
        // Nothing was taken: decide the conditional way on the view just read.
        if (error.current !== undefined) state.view = withItem(state.view, error.current);
        return this.#consume(policy, target, state, state.view, costTokens, nowMs);
      }
      if (error instanceof StoreWaitError) {
        return this.#lateTake(policy, state, costTokens, asked, nowMs, error);
      }
      throw error;
    }
    const { before, after } = took.value;
    state.view = withItem(state.view, after);
    if (viewed.status === 'rejected') {
      // Tokens were taken without a view to judge them: the failure mode answers, and
      // what it does not admit goes back.
      const outcome = this.#storeFailedAfterTake(policy, state, costTokens, nowMs, viewed.reason);
      const kept = outcome.decision.allowed ? costTokens : 0;
      // Owed to the store until written: the pending writes flush it even if this bucket is
      // not asked for again.
      const back = takeHandBack(after, asked - kept);
      if (back !== undefined)
        this.parts.pending.addHandBack(state.bucketId, policy.id, back, nowMs);
      return outcome;
    }
    const level = levelBeforeTake(policy.bucket, viewed.value, target.slot, before, nowMs);
    const kept = this.#keep(policy, target, state, costTokens, asked, level, nowMs);
    this.#handBackTaken(state, after, asked - kept);
    // Tokens taken and not kept lower the level every other container sees until handed
    // back: hand them back at once, in the background, with the view just read.
    if (kept < asked) this.#handBackNow(policy, target, state, nowMs);
    if (kept === 0) return this.#refused(policy, state, level, costTokens, nowMs);
    return this.#admitted(policy, state, costTokens, nowMs, {
      levelScaled: level,
      kept,
      stored: after,
    });
  }

  /**
   * What a take adds: the request (or the hot-bucket batch), and a lease for
   * the demand when the bucket was at least half full as last read, so that
   * a busy key's container that was idle for a while waits for one round
   * trip, not one per request. A take's tokens are added before the level is
   * known: what the level then refuses goes back in one more write (whose
   * checkpoint then counts the kept lease as taken, as a refresh ahead does),
   * so a bucket that may be contended is asked for the request only.
   */
  #takeAsk(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    costTokens: number,
    nowMs: number,
  ): number {
    const batch = batchOf(policy, costTokens);
    if (policy.lease === undefined || !this.#leasesAsRead(policy, state, nowMs)) return batch;
    const asRead = levelAt(policy.bucket, state.view, state.viewReadAtMs!);
    return Math.max(batch, this.#want(policy, target, state, costTokens, asRead, nowMs));
  }

  /**
   * Whether the bucket was at least half full (where leases are taken) when
   * its view was last read, without the refill since: others may have taken
   * that refill meanwhile, so a stale view's refilled level is no evidence.
   */
  #leasesAsRead(policy: ResolvedPolicy, state: BucketState, nowMs: number): boolean {
    const readAt = state.viewReadAtMs;
    if (readAt === undefined || readAt > nowMs) return false;
    const asRead = levelAt(policy.bucket, state.view, readAt);
    return asRead >= scaledCapacity(policy.bucket) * LEASE_MIN_LEVEL;
  }

  /** One background write that hands back what the state holds for the bucket (no tokens taken). */
  #handBackNow(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    nowMs: number,
  ): void {
    const handBack = state.handBack;
    if (handBack.length === 0) return;
    state.handBack = [];
    const write = recordingWrite({
      policy: policy.bucket,
      view: state.view,
      slot: target.slot,
      tokens: 0,
      handBack,
      nowMs,
    });
    const work = target.guard
      .call(
        'write',
        (signal) => target.store.applyWrite(state.bucketId, write, { abortSignal: signal }),
        { background: true },
      )
      .then(
        (stored) => this.#wrote(state, stored, handBack),
        (error: unknown) => this.#unwritten(state, handBack, error),
      )
      .finally(() => this.#refreshes.delete(work));
    this.#refreshes.add(work);
  }

  #handBackTaken(state: BucketState, after: SlotItem, tokens: number): void {
    const back = takeHandBack(after, tokens);
    if (back !== undefined) state.handBack.push(back);
  }

  #storeFailedAfterTake(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
    reason: unknown,
  ): Outcome {
    const cause: FallbackCause = reason instanceof StoreWaitError ? 'store-slow' : 'store-error';
    // The take carries the request's tokens: no debt to record.
    return this.#fallback(policy, state, costTokens, nowMs, cause, true, false);
  }

  /** A take that outlived its wait: the failure mode answers; the take is reconciled when it lands. */
  #lateTake(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    asked: number,
    nowMs: number,
    wait: StoreWaitError,
  ): Outcome {
    const { pending, now } = this.parts;
    const outcome = this.#fallback(policy, state, costTokens, nowMs, 'store-slow', true, false);
    const admitted = outcome.decision.allowed;
    (wait.late as Promise<TakeResult>).then(
      ({ after }) => {
        this.parts.counters.lateWrites += 1;
        state.view = withItem(state.view, after);
        const unused = admitted ? asked - costTokens : asked;
        if (unused > 0) {
          pending.addHandBack(
            state.bucketId,
            policy.id,
            { tokens: unused, takenUpToN: after.n, inc: after.inc },
            now(),
          );
        }
      },
      () => {
        if (outcome.fallback?.mode === 'local' && admitted) {
          pending.addDebt(state.bucketId, policy.id, costTokens, now());
        }
      },
    );
    return outcome;
  }

  /**
   * The decision stopped waiting for its write. The failure mode answers now
   * (without recording debt: the write carries the tokens); when the write
   * settles, its tokens are reconciled with that answer.
   */
  #lateWrite(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
    write: LateWrite,
  ): Outcome {
    const { pending, counters, now } = this.parts;
    const outcome = this.#fallback(policy, state, costTokens, nowMs, 'store-slow', true, false);
    const admitted = outcome.decision.allowed;
    write.late.then(
      (stored) => {
        counters.lateWrites += 1;
        // Tokens the write took beyond what the answer used are not owed: hand them back.
        const unused = admitted ? write.tokens - costTokens : write.tokens;
        if (unused > 0) {
          pending.addHandBack(
            state.bucketId,
            policy.id,
            { tokens: unused, takenUpToN: stored.n, inc: stored.inc },
            now(),
          );
        }
      },
      () => {
        // Not landed (or not known to have): what `local` admitted is now debt (counted twice at
        // worst); the write's hand-backs were restored or dropped by the write itself.
        if (outcome.fallback?.mode === 'local' && admitted) {
          pending.addDebt(state.bucketId, policy.id, costTokens, now());
        }
      },
    );
    return outcome;
  }

  /** Starts the bucket's next lease in the background when its leases will not last. */
  #maybeRefresh(
    policy: ResolvedPolicy,
    state: BucketState,
    costTokens: number,
    nowMs: number,
  ): void {
    const target = this.parts.storeOf(policy);
    if (!target.guard.available() || nowMs < state.throttledUntilMs) return;
    const leadMs = this.#leadMs(target, state, costTokens, nowMs);
    if (!refreshDue(policy, state, costTokens, leadMs, nowMs)) return;
    // Not worth a call when the demand asks for no more than one request (a rare key).
    const guess = levelAt(policy.bucket, state.view, nowMs);
    if (this.#want(policy, target, state, costTokens, guess, nowMs) <= costTokens) return;
    state.refreshing = true;
    const lease = this.#refresh(policy, target, state, costTokens, nowMs);
    if (state.deciding === undefined) this.#markDeciding(state, lease);
    const work = lease
      .then((leased) => {
        // A read gone stale in a freeze says nothing of the bucket: the next request may
        // refresh at once. A bucket with nothing to lease waits one lead.
        if (leased === 'none') state.refreshAfterMs = this.parts.now() + leadMs;
      })
      .catch((error: unknown) => {
        state.refreshAfterMs = this.parts.now() + leadMs;
        if (error instanceof StoreError && error.kind === 'throttled') this.#throttled(state);
      })
      .finally(() => {
        state.refreshing = false;
        this.#refreshes.delete(work);
      });
    this.#refreshes.add(work);
  }

  /**
   * Takes a lease in the background (no request waits for it; Lambda may
   * freeze the container before it is answered, and then the next request
   * sees it). Resolves to `leased`, `stale` (the read's answer was seen too
   * late to lease from: the container was frozen meanwhile) or `none` (the
   * bucket had nothing to lease).
   */
  async #refresh(
    policy: ResolvedPolicy,
    target: PolicyStore,
    state: BucketState,
    costTokens: number,
    nowMs: number,
  ): Promise<'leased' | 'stale' | 'none'> {
    const lease = policy.lease!;
    // No request waits for it: read (when the view is stale) and a conditional write, which
    // checkpoints; a take would save a round trip nobody waits for.
    const view = this.#viewFresh(state, nowMs)
      ? state.view
      : await this.#view(target, state, nowMs, true);
    // Lambda froze the container between the read and now (the answer waited for a later
    // invocation): the view is as old as that freeze, and a lease taken from it would admit
    // on a stale level. Leave it: the next request decides for itself.
    const viewAgeMs = this.parts.now() - (state.viewReadAtMs ?? Number.NEGATIVE_INFINITY);
    if (viewAgeMs > this.#staleReadMs(target)) return 'stale';
    const level = levelAt(policy.bucket, view, nowMs);
    const tokens = this.#keep(
      policy,
      target,
      state,
      costTokens,
      this.#want(policy, target, state, costTokens, level, nowMs),
      level,
      nowMs,
    );
    // Nothing to batch (a contended bucket): the next request decides for itself.
    if (tokens <= costTokens) return 'none';
    const written = await this.#conditionalWrite(policy, target, state, view, tokens, nowMs, true);
    if (written.stored === undefined || !written.decision.allowed) return 'none';
    addLease(
      state,
      openLease(lease, written.decision, policy.bucket, tokens, 0, nowMs, written.stored),
    );
    return 'leased';
  }

  async #refreshOwnSlot(
    target: PolicyStore,
    state: BucketState,
    conflict: StoreConflictError,
    background: boolean,
  ): Promise<SlotItem | undefined> {
    if (conflict.current !== undefined) return conflict.current;
    return target.guard.call(
      'readSlot',
      (signal) =>
        target.store.readSlot(state.bucketId, target.slot, {
          consistent: true,
          abortSignal: signal,
        }),
      { background },
    );
  }

  /** The view for a decision: cached other slots while fresh, else one read shared by concurrent callers. */
  async #view(
    target: PolicyStore,
    state: BucketState,
    nowMs: number,
    background = false,
  ): Promise<View> {
    if (this.#viewFresh(state, nowMs)) return state.view;
    // A read sent long ago is not joined: Lambda froze the container while it was out, and
    // its answer is as old as the freeze.
    if (
      state.viewInFlight === undefined ||
      nowMs - state.viewInFlightAtMs > this.#staleReadMs(target)
    ) {
      const read = target.guard
        .call(
          'readView',
          (signal) =>
            target.store.readView(state.bucketId, {
              consistent: target.consistent,
              abortSignal: signal,
            }),
          { background },
        )
        .then((items) => {
          state.view = viewOf([...state.view.values(), ...items]);
          state.viewReadAtMs = Math.max(state.viewReadAtMs ?? nowMs, nowMs);
          return state.view;
        });
      state.viewInFlight = read;
      state.viewInFlightAtMs = nowMs;
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
              state.viewReadAtMs = Math.max(state.viewReadAtMs ?? nowMs, nowMs);
            },
            () => undefined,
          );
        }
      });
    }
    return state.viewInFlight;
  }

  #throttled(state: BucketState): void {
    state.throttles += 1;
    const backoffMs = Math.min(
      MAX_THROTTLE_BACKOFF_MS,
      THROTTLE_BACKOFF_MS * 2 ** (state.throttles - 1),
    );
    state.throttledUntilMs = this.parts.now() + backoffMs;
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
      this.#throttled(state);
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

/** A conditional write's result: the core's decision and, when it was written, the stored slot. */
interface Written {
  readonly decision: Admission | Refusal;
  readonly stored?: SlotItem;
}

/** A conditional write that outlived its decision's wait. */
interface LateWrite {
  readonly decision: Admission;
  /** Settles with the write (its hand-backs already credited, or restored/dropped). */
  readonly late: Promise<SlotItem>;
  /** Tokens the write takes. */
  readonly tokens: number;
}

/** A decision's conditional write outlived its wait (internal: the pipeline answers by the failure mode). */
class OutlivedWait extends StoreError {
  override readonly name = 'OutlivedWait';
  constructor(
    readonly write: LateWrite,
    wait: StoreWaitError,
  ) {
    super(wait.message, 'timeout', { cause: wait });
  }
}
