/**
 * The limiter service: turns a request (policy, key, cost) into a decision,
 * with as few store calls as correctness allows. One instance per container,
 * shared by every invocation; time comes from an injected clock.
 *
 * Per decision, in order:
 * 1. bad input (unknown policy, bad key, bad cost) throws
 *    {@link LimitRequestError} before any store call;
 * 2. allow list → allowed, deny list → refused, without the store;
 * 3. a lease held by this container serves the request from memory;
 * 4. the blocked-until cache refuses without the store while an upper bound
 *    of the level (last seen level + refill since) is below the cost;
 * 5. otherwise: view (other slots cached for `viewCacheMs`, the own slot
 *    refreshed by every write's `ALL_NEW`), decide, one conditional write; on
 *    a rejected condition, refresh the own slot and decide once more.
 *
 * All store calls of a decision share one time budget. When the store fails,
 * the policy's `onStoreError` decides, in {@link Limiter.#fallback} only:
 * `open`, `closed`, or `local` (a per-container bucket whose admitted tokens
 * are written to the own slot once the store answers again).
 */

import {
  bucketPolicyOf,
  InvalidConfigError,
  type LimiterConfig,
  type PolicyConfig,
  type StoreErrorMode,
} from '../config/schema';
import {
  type Admission,
  type BucketPolicy,
  type Decision,
  decide,
  EMPTY_VIEW,
  fullRefillMs,
  type Lease,
  type LeasePolicy,
  leaseSize,
  levelAt,
  openLease,
  type Refusal,
  type SlotItem,
  scale,
  scaledCapacity,
  serveFromLease,
  type View,
  validateCost,
  viewOf,
  withItem,
} from '../core';
import { type BucketStore, StoreConflictError, StoreError } from '../store/types';
import { bucketGeneration, bucketIdOf, DEFAULT_MAX_KEY_LENGTH, normaliseKey } from './bucket-id';
import { LimitRequestError } from './errors';
import { decisionAtLevel, levelUpperBound, localPolicyOf, recordingWrite } from './levels';
import {
  type DecisionOutcome,
  type DecisionSource,
  type LimiterCounters,
  type LimiterMetrics,
  type LimitRequest,
  type LimitResult,
  NOOP_METRICS,
  type StoreOperation,
} from './types';

/** Default time budget of one decision's store calls (ms). */
export const DEFAULT_STORE_BUDGET_MS = 150;
/** Default age up to which other slots are served from the container's cache (ms). */
export const DEFAULT_VIEW_CACHE_MS = 250;
/** Default time the store is left alone after a failed call (ms). */
export const DEFAULT_STORE_COOLDOWN_MS = 250;
/**
 * Default budget of a decision while this container has never had an answer
 * from a store (ms): the first call also opens the TCP and TLS connection, to a
 * replica that may be an ocean away from the edge location. Without it every
 * cold container would fall back on its first request and page on-call.
 */
export const DEFAULT_COLD_STORE_BUDGET_MS = 1000;
/** Default most buckets whose state one container keeps. */
export const DEFAULT_MAX_BUCKETS = 10_000;
/** `Retry-After` given by the `closed` failure mode (ms). */
export const CLOSED_RETRY_AFTER_MS = 1000;
/** Slot of strong-mode buckets (the MRSC table). */
export const STRONG_SLOT = 'global';

/** What a {@link Limiter} is built from. */
export interface LimiterOptions {
  /** The validated config. */
  readonly config: LimiterConfig;
  /** This container's region: the slot it writes in eventual mode. */
  readonly region: string;
  /** The global table's replica in this region. */
  readonly store: BucketStore;
  /** The MRSC table, required when a policy is `strong`. */
  readonly strongStore?: BucketStore;
  /** Milliseconds since the epoch. @default Date.now */
  readonly clock?: () => number;
  /** Where decisions, store calls and fallbacks are reported. @default no metrics */
  readonly metrics?: LimiterMetrics;
  /** Overrides `config.runtime.storeBudgetMs`. @default 150 */
  readonly storeBudgetMs?: number;
  /** Overrides `config.runtime.viewCacheMs`; 0 reads the view on every decision. @default 250 */
  readonly viewCacheMs?: number;
  /** After a failed store call, decide by the failure mode without calling the store for this long (ms). @default 250 */
  readonly storeCooldownMs?: number;
  /** Budget of decisions until a store has answered once (connection set-up); never below the budget. @default 1000 */
  readonly coldStoreBudgetMs?: number;
  /** Most buckets whose state (view, lease, blocked-until) this container keeps. @default 10000 */
  readonly maxBuckets?: number;
  /** Refuse from the blocked-until cache without a store call (off only to measure its effect). @default true */
  readonly blockedCache?: boolean;
}

/** A policy with everything the hot path needs, resolved once. */
interface PolicyRuntime {
  readonly id: string;
  readonly version: number;
  /** Version plus refill interval: the generation part of the bucket id. */
  readonly generation: string;
  readonly bucket: BucketPolicy;
  readonly store: BucketStore;
  readonly slot: string;
  readonly consistent: boolean;
  readonly onStoreError: StoreErrorMode;
  readonly local: BucketPolicy;
  readonly lease: LeasePolicy | undefined;
  readonly shadow: boolean;
  readonly allow: ReadonlySet<string>;
  readonly deny: ReadonlySet<string>;
  readonly windowSeconds: number;
}

/** What one container knows about one bucket. */
interface BucketState {
  /** Newest known item per slot (own slot included). */
  view: View;
  /** When the other slots were last read (clock ms); undefined = never. */
  viewReadAtMs: number | undefined;
  /** A view read in flight, shared by concurrent decisions. */
  viewInFlight: Promise<View> | undefined;
  /** The level seen by the last refusal and when: an upper bound source. */
  blocked: { readonly levelScaled: number; readonly atMs: number } | undefined;
  lease: Lease | undefined;
  /** Unused lease tokens to hand back with the next write. */
  pendingReturnTokens: number;
  /** The `local` failure mode's bucket. */
  localView: View;
  /** Tokens the `local` mode admitted, not yet written to the store. */
  pendingLocalTokens: number;
}

/** How a decision was reached, before it is shaped into a {@link LimitResult}. */
interface Outcome {
  readonly decision: Decision;
  readonly source: DecisionSource;
  readonly fallback?: StoreErrorMode;
}

/** Decides rate-limit requests for one container. */
export class Limiter {
  /** Counters of this container's work (benchmarks read them). */
  readonly counters: LimiterCounters = {
    decisions: 0,
    admitted: 0,
    refused: 0,
    reads: 0,
    writes: 0,
    storeErrors: 0,
    conditionalRetries: 0,
    fallbacks: 0,
    pendingLocalTokens: 0,
  };
  readonly #policies: ReadonlyMap<string, PolicyRuntime>;
  readonly #clock: () => number;
  readonly #metrics: LimiterMetrics;
  readonly #budgetMs: number;
  readonly #coldBudgetMs: number;
  /** Stores that have answered at least once: their connection is warm. */
  readonly #warmStores = new Set<BucketStore>();
  readonly #viewCacheMs: number;
  readonly #cooldownMs: number;
  readonly #maxBuckets: number;
  readonly #maxKeyLength: number;
  readonly #blockedCache: boolean;
  readonly #buckets = new Map<string, BucketState>();
  readonly #storeDownUntilMs = new Map<BucketStore, number>();

  constructor(options: LimiterOptions) {
    const { config } = options;
    if (
      config.policies.some((p) => p.consistency === 'strong') &&
      options.strongStore === undefined
    ) {
      throw new InvalidConfigError([
        {
          path: 'strong',
          message: 'a policy uses consistency "strong" but the limiter was given no strongStore',
        },
      ]);
    }
    this.#clock = options.clock ?? Date.now;
    this.#metrics = options.metrics ?? NOOP_METRICS;
    this.#budgetMs =
      options.storeBudgetMs ?? config.runtime?.storeBudgetMs ?? DEFAULT_STORE_BUDGET_MS;
    this.#coldBudgetMs = Math.max(
      this.#budgetMs,
      options.coldStoreBudgetMs ?? DEFAULT_COLD_STORE_BUDGET_MS,
    );
    this.#viewCacheMs = options.viewCacheMs ?? config.runtime?.viewCacheMs ?? DEFAULT_VIEW_CACHE_MS;
    this.#cooldownMs = options.storeCooldownMs ?? DEFAULT_STORE_COOLDOWN_MS;
    this.#maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
    this.#maxKeyLength = config.runtime?.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
    this.#blockedCache = options.blockedCache ?? true;
    this.#policies = new Map(config.policies.map((p) => [p.id, runtimeOf(p, options)]));
  }

  /** Ids of the configured policies. */
  get policyIds(): string[] {
    return [...this.#policies.keys()];
  }

  /**
   * Decides one request and consumes its cost when admitted.
   *
   * @throws {@link LimitRequestError} for an unknown policy, a bad key or a bad cost (no store call made).
   */
  async limit(request: LimitRequest): Promise<LimitResult> {
    const { rt, key, bucketId } = this.#resolve(request);
    const k = request.costTokens;
    let outcome: Outcome;
    if (rt.deny.has(key)) {
      outcome = { decision: decisionAtLevel(rt.bucket, 0, k, false), source: 'denylist' };
    } else if (rt.allow.has(key)) {
      outcome = {
        decision: decisionAtLevel(rt.bucket, scaledCapacity(rt.bucket), 0, true),
        source: 'allowlist',
      };
    } else {
      outcome = await this.#consume(rt, this.#state(bucketId), bucketId, k);
    }
    const result = this.#shape(rt, outcome);
    this.counters.decisions += 1;
    if (result.allowed) this.counters.admitted += 1;
    else this.counters.refused += 1;
    this.#metrics.decision({
      policy: rt.id,
      outcome: outcomeOf(outcome, result),
      remainingRatio: Math.min(1, result.remainingTokens / result.limitTokens),
    });
    return result;
  }

  /**
   * What a request would get now, consuming nothing (no write). Uses the same
   * caches and, when the store fails, the same failure mode (the `local`
   * bucket is inspected, not drawn from).
   *
   * @throws {@link LimitRequestError} like {@link Limiter.limit}.
   */
  async peek(request: LimitRequest): Promise<LimitResult> {
    const { rt, key, bucketId } = this.#resolve(request);
    const k = request.costTokens;
    if (rt.deny.has(key)) {
      return this.#shape(rt, {
        decision: decisionAtLevel(rt.bucket, 0, k, false),
        source: 'denylist',
      });
    }
    if (rt.allow.has(key)) {
      return this.#shape(rt, {
        decision: decisionAtLevel(rt.bucket, scaledCapacity(rt.bucket), 0, true),
        source: 'allowlist',
      });
    }
    const state = this.#state(bucketId);
    const nowMs = this.#clock();
    const heldScaled = (heldTokens(state, nowMs) + state.pendingReturnTokens) * scale(rt.bucket);
    const blocked = this.#blockedDecision(rt, state, k, nowMs);
    if (blocked !== undefined) return this.#shape(rt, { decision: blocked, source: 'blocked' });
    if (this.#storeResting(rt.store, nowMs))
      return this.#shape(rt, this.#fallback(rt, state, k, nowMs, false));
    const budget = new Budget(this.#budgetFor(rt.store));
    try {
      const view = await this.#view(rt, state, bucketId, nowMs, budget.signal);
      const levelScaled = levelAt(rt.bucket, view, nowMs) + heldScaled;
      return this.#shape(rt, {
        decision: peekDecision(rt.bucket, levelScaled, k),
        source: 'store',
      });
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      this.#storeFailed(rt.store, error);
      return this.#shape(rt, this.#fallback(rt, state, k, nowMs, false));
    } finally {
      budget.done();
    }
  }

  #resolve(request: LimitRequest): { rt: PolicyRuntime; key: string; bucketId: string } {
    const rt = this.#policies.get(request.policyId);
    if (rt === undefined)
      throw new LimitRequestError('policy', `unknown policy "${String(request.policyId)}"`);
    const costProblems = validateCost(rt.bucket, request.costTokens);
    if (costProblems.length > 0) throw new LimitRequestError('cost', costProblems.join('; '));
    const key = normaliseKey(request.key, this.#maxKeyLength);
    return { rt, key, bucketId: bucketIdOf(rt.id, rt.generation, key, this.#maxKeyLength) };
  }

  async #consume(
    rt: PolicyRuntime,
    state: BucketState,
    bucketId: string,
    k: number,
  ): Promise<Outcome> {
    const nowMs = this.#clock();
    if (state.lease !== undefined) {
      const served = serveFromLease(rt.bucket, state.lease, k, nowMs);
      if (served !== undefined) {
        state.lease = served.lease;
        return { decision: served.decision, source: 'lease' };
      }
      state.pendingReturnTokens += state.lease.tokensLeft;
      state.lease = undefined;
    }
    const blocked = this.#blockedDecision(rt, state, k, nowMs);
    if (blocked !== undefined) return { decision: blocked, source: 'blocked' };
    if (this.#storeResting(rt.store, nowMs)) return this.#fallback(rt, state, k, nowMs, true);

    const budget = new Budget(this.#budgetFor(rt.store));
    try {
      await this.#flushLocalTokens(rt, state, bucketId, nowMs, budget.signal);
      let view = await this.#view(rt, state, bucketId, nowMs, budget.signal);
      for (let attempt = 0; ; attempt += 1) {
        const returnTokens = state.pendingReturnTokens;
        const { decision, takenTokens } = this.#decide(rt, view, k, returnTokens, nowMs);
        if (!decision.allowed) {
          state.blocked = { levelScaled: decision.levelScaled, atMs: nowMs };
          return { decision, source: 'store' };
        }
        try {
          state.pendingReturnTokens -= returnTokens;
          const stored = await this.#call(rt.store, 'write', budget.signal, () =>
            rt.store.applyWrite(bucketId, decision.write, { abortSignal: budget.signal }),
          );
          state.view = withItem(state.view, stored);
          state.blocked = undefined;
          if (takenTokens > k && rt.lease !== undefined) {
            if (state.lease !== undefined) state.pendingReturnTokens += state.lease.tokensLeft;
            state.lease = openLease(rt.lease, decision, rt.bucket, takenTokens, k, nowMs);
          }
          return {
            decision: decisionAtLevel(rt.bucket, decision.levelScaled, k, true),
            source: 'store',
          };
        } catch (error) {
          state.pendingReturnTokens += returnTokens;
          if (!(error instanceof StoreConflictError)) throw error;
          if (attempt >= 1) {
            // Two rejections in a row: the slot is contended right now. Refusing
            // is the answer that can never over-admit; the caller may retry.
            return {
              decision: decisionAtLevel(rt.bucket, decision.levelScaled, k, false),
              source: 'store',
            };
          }
          this.counters.conditionalRetries += 1;
          this.#metrics.conditionalRetry({ policy: rt.id });
          const current =
            error.current ??
            (await this.#call(rt.store, 'readSlot', budget.signal, () =>
              rt.store.readSlot(bucketId, rt.slot, {
                consistent: true,
                abortSignal: budget.signal,
              }),
            ));
          if (current !== undefined) state.view = withItem(state.view, current);
          view = state.view;
        }
      }
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      this.#storeFailed(rt.store, error);
      return this.#fallback(rt, state, k, nowMs, true);
    } finally {
      budget.done();
    }
  }

  /** Decides `k`, taking a lease of more when the policy leases and the level allows. */
  #decide(
    rt: PolicyRuntime,
    view: View,
    k: number,
    returnTokens: number,
    nowMs: number,
  ): { decision: Admission | Refusal; takenTokens: number } {
    const base = { policy: rt.bucket, view, slot: rt.slot, nowMs, returnTokens };
    if (rt.lease !== undefined) {
      const m = leaseSize(rt.bucket, rt.lease, levelAt(rt.bucket, view, nowMs), k);
      if (m > k) {
        const batched = decide({ ...base, costTokens: m });
        if (batched.allowed) return { decision: batched, takenTokens: m };
      }
    }
    return { decision: decide({ ...base, costTokens: k }), takenTokens: k };
  }

  /** The view for a decision: cached other slots while fresh, else one read (shared by concurrent callers). */
  async #view(
    rt: PolicyRuntime,
    state: BucketState,
    bucketId: string,
    nowMs: number,
    signal: AbortSignal,
  ): Promise<View> {
    if (
      state.viewReadAtMs !== undefined &&
      nowMs - state.viewReadAtMs < this.#viewCacheMs &&
      nowMs >= state.viewReadAtMs
    ) {
      return state.view;
    }
    if (state.viewInFlight === undefined) {
      const read = this.#call(rt.store, 'readView', signal, () =>
        rt.store.readView(bucketId, { consistent: rt.consistent, abortSignal: signal }),
      ).then((items) => {
        state.view = mergeInto(state.view, items);
        state.viewReadAtMs = nowMs;
        return state.view;
      });
      state.viewInFlight = read;
      const clear = () => {
        if (state.viewInFlight === read) state.viewInFlight = undefined;
      };
      read.then(clear, clear);
    }
    return await raceSignal(state.viewInFlight, signal);
  }

  /** Writes the tokens the `local` failure mode admitted, once the store answers. */
  async #flushLocalTokens(
    rt: PolicyRuntime,
    state: BucketState,
    bucketId: string,
    nowMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    const tokens = state.pendingLocalTokens;
    if (tokens === 0) return;
    state.pendingLocalTokens = 0;
    this.counters.pendingLocalTokens -= tokens;
    try {
      const view = await this.#view(rt, state, bucketId, nowMs, signal);
      const write = recordingWrite(rt.bucket, view, rt.slot, tokens, nowMs);
      const stored = await this.#call(rt.store, 'write', signal, () =>
        rt.store.applyWrite(bucketId, write, { abortSignal: signal }),
      );
      state.view = withItem(state.view, stored);
    } catch (error) {
      state.pendingLocalTokens += tokens;
      this.counters.pendingLocalTokens += tokens;
      throw error;
    }
  }

  /** The one place where a store failure turns into a decision (DESIGN.md §6). */
  #fallback(
    rt: PolicyRuntime,
    state: BucketState,
    k: number,
    nowMs: number,
    consume: boolean,
  ): Outcome {
    // Peeks (consume = false) are answered the same way but not counted as fallbacks.
    if (consume) {
      this.counters.fallbacks += 1;
      this.#metrics.fallback({ policy: rt.id, mode: rt.onStoreError });
    }
    const known = levelAt(rt.bucket, state.view, nowMs);
    switch (rt.onStoreError) {
      case 'open':
        return {
          decision: decisionAtLevel(rt.bucket, known, k, true),
          source: 'fallback',
          fallback: 'open',
        };
      case 'closed':
        return {
          decision: {
            ...decisionAtLevel(rt.bucket, known, k, false),
            retryAfterMs: CLOSED_RETRY_AFTER_MS,
          },
          source: 'fallback',
          fallback: 'closed',
        };
      case 'local': {
        if (!consume) {
          const localLevel = levelAt(rt.local, state.localView, nowMs);
          return {
            decision: peekDecision(rt.local, localLevel, k),
            source: 'fallback',
            fallback: 'local',
          };
        }
        const decision = decide({
          policy: rt.local,
          view: state.localView,
          slot: 'local',
          costTokens: k,
          nowMs,
        });
        if (decision.allowed) {
          state.localView = withItem(state.localView, decision.write.expected);
          state.pendingLocalTokens += k;
          this.counters.pendingLocalTokens += k;
        }
        return { decision, source: 'fallback', fallback: 'local' };
      }
    }
  }

  #blockedDecision(
    rt: PolicyRuntime,
    state: BucketState,
    k: number,
    nowMs: number,
  ): Decision | undefined {
    if (!this.#blockedCache || state.blocked === undefined) return undefined;
    const returned = (state.pendingReturnTokens + heldTokens(state, nowMs)) * scale(rt.bucket);
    const bound =
      levelUpperBound(rt.bucket, state.blocked.levelScaled, state.blocked.atMs, nowMs) + returned;
    if (bound >= k * scale(rt.bucket)) return undefined;
    return decisionAtLevel(rt.bucket, bound, k, false);
  }

  async #call<T>(
    store: BucketStore,
    operation: StoreOperation,
    signal: AbortSignal,
    call: () => Promise<T>,
  ): Promise<T> {
    if (operation === 'write') this.counters.writes += 1;
    else this.counters.reads += 1;
    const startedMs = performance.now();
    try {
      const out = await raceSignal(call(), signal);
      this.#warmStores.add(store);
      this.#metrics.storeCall({ operation, latencyMs: performance.now() - startedMs });
      return out;
    } catch (error) {
      const failure =
        error instanceof StoreError
          ? error
          : new StoreError(`${operation} failed: ${String(error)}`, 'unavailable', {
              cause: error,
            });
      this.counters.storeErrors += 1;
      this.#metrics.storeCall({
        operation,
        latencyMs: performance.now() - startedMs,
        errorKind: failure.kind,
      });
      throw failure;
    }
  }

  #storeResting(store: BucketStore, nowMs: number): boolean {
    const until = this.#storeDownUntilMs.get(store);
    return until !== undefined && nowMs < until;
  }

  /** The budget of a decision on `store`: larger until the store has answered once. */
  #budgetFor(store: BucketStore): number {
    return this.#warmStores.has(store) ? this.#budgetMs : this.#coldBudgetMs;
  }

  #storeFailed(store: BucketStore, error: unknown): void {
    if (error instanceof StoreConflictError) return;
    this.#storeDownUntilMs.set(store, this.#clock() + this.#cooldownMs);
  }

  #state(bucketId: string): BucketState {
    const existing = this.#buckets.get(bucketId);
    if (existing !== undefined) {
      // Re-insert: Map order is then least recently used first.
      this.#buckets.delete(bucketId);
      this.#buckets.set(bucketId, existing);
      return existing;
    }
    const state: BucketState = {
      view: EMPTY_VIEW,
      viewReadAtMs: undefined,
      viewInFlight: undefined,
      blocked: undefined,
      lease: undefined,
      pendingReturnTokens: 0,
      localView: EMPTY_VIEW,
      pendingLocalTokens: 0,
    };
    this.#buckets.set(bucketId, state);
    this.#evict();
    return state;
  }

  #evict(): void {
    for (const [id, state] of this.#buckets) {
      if (this.#buckets.size <= this.#maxBuckets) return;
      // Never forget tokens the store has not seen yet.
      if (state.pendingLocalTokens > 0) continue;
      this.#buckets.delete(id);
    }
  }

  #shape(rt: PolicyRuntime, outcome: Outcome): LimitResult {
    const d = outcome.decision;
    const enforced =
      outcome.source === 'denylist' || outcome.source === 'allowlist'
        ? d.allowed
        : rt.shadow || d.allowed;
    return {
      allowed: enforced,
      policy: rt.id,
      limitTokens: rt.bucket.capacityTokens,
      remainingTokens: Math.min(rt.bucket.capacityTokens, d.remainingTokens),
      retryAfterMs: d.retryAfterMs,
      resetAfterMs: d.resetAfterMs,
      windowSeconds: rt.windowSeconds,
      source: outcome.source,
      ...(outcome.fallback === undefined ? {} : { fallback: outcome.fallback }),
      ...(rt.shadow && outcome.source !== 'denylist' && outcome.source !== 'allowlist'
        ? { shadow: { wouldAllow: d.allowed } }
        : {}),
    };
  }
}

/** A decision's time budget: one AbortSignal that fires after `budgetMs`. */
class Budget {
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(budgetMs: number) {
    this.#timer = setTimeout(
      () =>
        this.#controller.abort(new StoreError(`store budget of ${budgetMs} ms spent`, 'timeout')),
      budgetMs,
    );
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  done(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Settles with `promise`, or rejects with a timeout {@link StoreError} when
 * `signal` fires first: the budget holds even against a store that ignores
 * its abort signal.
 */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(timeoutOf(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(timeoutOf(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function timeoutOf(signal: AbortSignal): StoreError {
  return signal.reason instanceof StoreError
    ? signal.reason
    : new StoreError('store budget spent', 'timeout', { cause: signal.reason });
}

/** A peek: the level now, and whether `k` would be admitted, consuming nothing. */
function peekDecision(policy: BucketPolicy, levelScaled: number, k: number): Decision {
  return {
    ...decisionAtLevel(policy, levelScaled, k, false),
    allowed: levelScaled >= k * scale(policy),
  };
}

function mergeInto(view: View, items: readonly SlotItem[]): View {
  return viewOf([...view.values(), ...items]);
}

/** Tokens a live lease still holds for this container. */
function heldTokens(state: BucketState, nowMs: number): number {
  return state.lease !== undefined && nowMs < state.lease.expiresAtMs ? state.lease.tokensLeft : 0;
}

function outcomeOf(outcome: Outcome, result: LimitResult): DecisionOutcome {
  if (outcome.source === 'denylist') return 'denylisted';
  if (outcome.source === 'allowlist') return 'allowlisted';
  if (result.shadow !== undefined && !result.shadow.wouldAllow) return 'shadow-refused';
  return result.allowed ? 'allowed' : 'refused';
}

function runtimeOf(p: PolicyConfig, options: LimiterOptions): PolicyRuntime {
  const strong = p.consistency === 'strong';
  const bucket = bucketPolicyOf(p);
  return {
    id: p.id,
    version: p.version ?? 1,
    generation: bucketGeneration(p.version, p.refillIntervalMs),
    bucket,
    store: strong ? (options.strongStore as BucketStore) : options.store,
    slot: strong ? STRONG_SLOT : options.region,
    consistent: strong,
    onStoreError: p.onStoreError ?? 'open',
    local: localPolicyOf(bucket, p.localShare ?? 0.1),
    lease: p.lease,
    shadow: p.shadow ?? false,
    allow: new Set((p.allowKeys ?? []).map((k) => k.trim().normalize('NFC'))),
    deny: new Set((p.denyKeys ?? []).map((k) => k.trim().normalize('NFC'))),
    windowSeconds: Math.max(1, Math.ceil(fullRefillMs(bucket) / 1000)),
  };
}
