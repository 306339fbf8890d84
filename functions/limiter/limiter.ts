/**
 * The limiter service: turns a request (policy, key, cost) into a decision,
 * with as few store calls as correctness allows. One instance per container,
 * shared by every invocation. It composes parts that each do one job:
 *
 * - {@link Pipeline} (pipeline.ts): one request, shared by `limit` and `peek`;
 * - {@link BucketCache} (bucket-cache.ts): per-bucket state, bounded;
 * - {@link StoreGuard} (store-guard.ts): waits, down detection, store-call
 *   metrics, one per store;
 * - {@link FailureModes} (failure-modes.ts): the only place deciding `open`,
 *   `closed` or `local`, also for failures of the limiter itself;
 * - {@link PendingWrites} and {@link Flusher}: what the container owes the
 *   store (local-mode debt, tokens to hand back), written once it answers.
 *
 * Time (clock and timers) is injected: every part runs on virtual time in
 * tests.
 */

import {
  quotaPeriodPolicy,
  type ResolvedEdgeConfig,
  type ResolvedPolicy,
  type ResolvedRuntime,
  resolveConfig,
} from '../config/resolve';
import { InvalidConfigError, type LimiterConfig } from '../config/schema';
import { validateCost } from '../core';
import type { BucketStore } from '../store/types';
import { BucketCache, type BucketState } from './bucket-cache';
import { bucketIdOf, escrowGeneration, normaliseKey } from './bucket-id';
import { LimitRequestError } from './errors';
import { EscrowBuckets } from './escrow-buckets';
import { FailureModes } from './failure-modes';
import { Flusher } from './flusher';
import { leasedTokensValidAt, releaseLeases } from './leases';
import type { OverrideSource } from './overrides';
import { PendingWrites } from './pending-writes';
import { type Outcome, Pipeline, type PolicyStore } from './pipeline';
import { shapeResult } from './result';
import { StoreGuard } from './store-guard';
import { REAL_TIME, type Time, timeWithClock } from './timers';
import {
  type DecisionOutcome,
  type LimiterCounters,
  type LimiterMetrics,
  type LimitRequest,
  type LimitResult,
  type MultiLimitResult,
  NOOP_METRICS,
  type StoreOperation,
  zeroCounters,
} from './types';

export { CLOSED_RETRY_AFTER_MS } from './failure-modes';

/** Slot of strong-mode buckets (the MRSC table). */
export const STRONG_SLOT = 'global';

/** Hand-backs younger than this wait for a write of their own bucket to carry them (ms). */
const HAND_BACK_DELAY_MS = 1000;

/** What a {@link Limiter} is built from. */
export interface LimiterOptions {
  /** The config, resolved (a raw config is resolved here: validated, defaults applied). */
  readonly config: ResolvedEdgeConfig | LimiterConfig;
  /** The replica this container talks to: the slot it writes in eventual mode. */
  readonly region: string;
  /** The global table's replica in that region. */
  readonly store: BucketStore;
  /** The MRSC table, required when a policy is `strong`. */
  readonly strongStore?: BucketStore;
  /** Clock and timers. @default real time */
  readonly time?: Time;
  /** Shorthand: this clock with real timers (ignored when `time` is given). */
  readonly clock?: () => number;
  /** Where decisions, store calls and fallbacks are reported. @default no metrics */
  readonly metrics?: LimiterMetrics;
  /** Where unexpected failures are reported. @default console.error as JSON */
  readonly log?: (entry: Readonly<Record<string, unknown>>) => void;
  /** Overrides of the resolved hot-path tuning (tests, benchmarks). */
  readonly runtime?: Partial<ResolvedRuntime>;
  /** Shorthand for `runtime.storeBudgetMs`. */
  readonly storeBudgetMs?: number;
  /** Shorthand for `runtime.coldStoreBudgetMs`. */
  readonly coldStoreBudgetMs?: number;
  /** Shorthand for `runtime.viewCacheMs`; 0 reads the view on every decision. */
  readonly viewCacheMs?: number;
  /** Shorthand for `runtime.maxBuckets`. */
  readonly maxBuckets?: number;
  /** Shorthand for `runtime.escrowRebalanceMs`. */
  readonly escrowRebalanceMs?: number;
  /** Refuse from the blocked-until bound without a store call (off only to measure its effect). @default true */
  readonly blockedCache?: boolean;
  /** Run-time overrides (overrides.ts): the effective policy of each key. @default none */
  readonly overrides?: OverrideSource;
  /** Down detection of the store guards. */
  readonly guard?: {
    readonly errorsToOpen?: number;
    readonly openMs?: number;
    readonly maxOpenMs?: number;
  };
}

/** Decides rate-limit requests for one container. */
export class Limiter {
  /** Counters of this container's work (benchmarks and tests read them). */
  readonly counters: LimiterCounters = zeroCounters();
  readonly #config: ResolvedEdgeConfig;
  readonly #runtime: ResolvedRuntime;
  readonly #time: Time;
  readonly #metrics: LimiterMetrics;
  readonly #log: (entry: Readonly<Record<string, unknown>>) => void;
  readonly #pending: PendingWrites;
  readonly #failureModes: FailureModes;
  readonly #pipeline: Pipeline;
  readonly #cache: BucketCache;
  readonly #flusher: Flusher;
  readonly #eventual: PolicyStore;
  readonly #strong: PolicyStore | undefined;
  readonly #escrow: EscrowBuckets;
  readonly #overrides: OverrideSource | undefined;

  constructor(options: LimiterOptions) {
    const config = isResolved(options.config) ? options.config : resolveConfig(options.config);
    if (config.usesStrong && options.strongStore === undefined) {
      throw new InvalidConfigError([
        {
          path: 'strong',
          message: 'a policy uses consistency "strong" but the limiter was given no strongStore',
        },
      ]);
    }
    const usesEscrow = [...config.policies.values()].some((p) => p.consistency === 'escrow');
    if (
      usesEscrow &&
      (options.store.readEscrow === undefined || options.store.writeEscrow === undefined)
    ) {
      throw new InvalidConfigError([
        {
          path: 'policies',
          message: 'a policy uses consistency "escrow" but the store keeps no escrow items',
        },
      ]);
    }
    if (usesEscrow && !config.config.regions.includes(options.region)) {
      throw new InvalidConfigError([
        {
          path: 'regions',
          message: `escrow splits rights over the regions; this limiter's region ${options.region} is not one of them`,
        },
      ]);
    }
    this.#config = config;
    this.#overrides = options.overrides;
    this.#runtime = {
      ...config.runtime,
      ...options.runtime,
      ...defined({
        storeBudgetMs: options.storeBudgetMs,
        coldStoreBudgetMs: options.coldStoreBudgetMs,
        viewCacheMs: options.viewCacheMs,
        maxBuckets: options.maxBuckets,
        escrowRebalanceMs: options.escrowRebalanceMs,
      }),
    };
    this.#time =
      options.time ?? (options.clock === undefined ? REAL_TIME : timeWithClock(options.clock));
    this.#metrics = options.metrics ?? NOOP_METRICS;
    this.#log = options.log ?? ((entry) => console.error(JSON.stringify(entry)));
    this.#pending = new PendingWrites(this.#runtime.maxPendingBuckets);
    this.#failureModes = new FailureModes(this.#pending);
    const cache = new BucketCache({
      maxBuckets: this.#runtime.maxBuckets,
      onEvict: (state) => this.#evicted(state),
    });
    this.#cache = cache;
    this.#eventual = this.#policyStore(options.store, options.region, false, options);
    this.#strong =
      options.strongStore === undefined
        ? undefined
        : this.#policyStore(options.strongStore, STRONG_SLOT, true, options);
    const storeOf = (policy: ResolvedPolicy): PolicyStore =>
      policy.consistency === 'strong' && this.#strong !== undefined ? this.#strong : this.#eventual;
    const now = () => this.#time.now();
    this.#escrow = new EscrowBuckets({
      now,
      region: options.region,
      regions: config.config.regions,
      target: this.#eventual,
      counters: this.counters,
      metrics: this.#metrics,
      log: this.#log,
      maxBuckets: this.#runtime.maxBuckets,
      viewCacheMs: this.#runtime.viewCacheMs,
      rebalanceMs: this.#runtime.escrowRebalanceMs,
    });
    this.#pipeline = new Pipeline({
      now,
      cache,
      pending: this.#pending,
      failureModes: this.#failureModes,
      metrics: this.#metrics,
      counters: this.counters,
      viewCacheMs: this.#runtime.viewCacheMs,
      blockedCache: options.blockedCache ?? true,
      storeOf,
    });
    this.#flusher = new Flusher({
      now,
      pending: this.#pending,
      cache,
      metrics: this.#metrics,
      policies: config.policies,
      policyOfBucket: (bucketId) => this.#overrides?.policyOfBucket?.(bucketId),
      storeOf,
      perPass: this.#runtime.flushPerDecision,
      handBackDelayMs: HAND_BACK_DELAY_MS,
      log: this.#log,
      onSettle: () => {
        this.counters.pendingLocalTokens = this.#pending.debtTokens;
      },
      onDroppedHandBack: (handBack) => {
        for (const h of handBack) this.counters.droppedHandBackTokens += h.tokens;
      },
    });
  }

  /** Ids of the configured policies. */
  get policyIds(): string[] {
    return [...this.#config.policies.keys()];
  }

  /**
   * Decides one request and consumes its cost when admitted. Never rejects
   * but for bad input: store failures and failures of the limiter itself are
   * answered by the policy's failure mode.
   *
   * @throws {@link LimitRequestError} for an unknown policy, a bad key or a bad cost (no store call made).
   */
  async limit(request: LimitRequest): Promise<LimitResult> {
    const resolved = this.#resolve(request);
    const outcome = await this.#run(resolved, request.costTokens, true);
    const result = this.#decided(resolved.policy, outcome);
    this.#afterDecision();
    return result;
  }

  /**
   * Decides one request charged to several limits (a rule's `limits`): it is
   * admitted only if every limit admits it, and then every limit is charged;
   * when one refuses, what the others took is given back (into the lease it
   * came from, or written back with the bucket's next write: see
   * {@link Pipeline.refund}), so a refused request leaves no tokens taken.
   *
   * The limits are decided side by side (their store calls overlap: one
   * round trip, not one per limit). A limit known to refuse without a store
   * call (deny list, the blocked-until cache) refuses the request before any
   * other is asked; its answer then carries only the limits decided.
   *
   * @throws {@link LimitRequestError} like {@link Limiter.limit}, with the
   * index of the limit at fault in `limitIndex`; nothing is decided then.
   */
  async limitAll(requests: readonly LimitRequest[]): Promise<MultiLimitResult> {
    if (requests.length === 0) throw new LimitRequestError('policy', 'no limit to decide');
    const resolved = requests.map((request, i) => {
      try {
        return this.#resolve(request);
      } catch (error) {
        if (error instanceof LimitRequestError) error.limitIndex = i;
        throw error;
      }
    });
    if (resolved.length === 1) {
      const only = await this.limit(requests[0] as LimitRequest);
      return { allowed: only.allowed, results: [only], decidedBy: 0 };
    }
    // Refusals known without the store come first: nothing is taken from the others.
    for (let i = 0; i < resolved.length; i++) {
      const r = resolved[i] as Resolved;
      const known = this.#pipeline.knownRefusal(r.policy, r.key, r.bucketId, r.costTokens);
      if (known === undefined) continue;
      // A shadow policy's refusal refuses nothing: it is decided with the others.
      if (shapeResult(r.policy, known, this.#time.now()).allowed) continue;
      const refused = this.#decided(r.policy, known);
      this.#afterDecision();
      return { allowed: false, results: [refused], decidedBy: 0 };
    }
    const outcomes = await Promise.all(resolved.map((r) => this.#run(r, r.costTokens, true)));
    const results = outcomes.map((o, i) => this.#decided((resolved[i] as Resolved).policy, o));
    let decidedBy = -1;
    results.forEach((r, i) => {
      if (r.allowed) return;
      const longest = decidedBy < 0 ? undefined : results[decidedBy];
      if (longest === undefined || r.retryAfterMs > longest.retryAfterMs) decidedBy = i;
    });
    if (decidedBy >= 0) {
      outcomes.forEach((outcome, i) => {
        if (!outcome.decision.allowed) return;
        const r = resolved[i] as Resolved;
        this.counters.refundedTokens +=
          r.policy.consistency === 'escrow'
            ? this.#escrow.refund(r.policy, r.bucketId, outcome)
            : this.#pipeline.refund(r.policy, r.bucketId, outcome);
      });
    }
    // One pass of pending writes per request, whatever its number of limits.
    this.#afterDecision();
    return decidedBy < 0
      ? { allowed: true, results, decidedBy: 0 }
      : { allowed: false, results, decidedBy };
  }

  /** Counts and reports one limit's decision, and shapes it; the caller then starts the pending writes once. */
  #decided(policy: ResolvedPolicy, outcome: Outcome): LimitResult {
    const result = shapeResult(policy, outcome, this.#time.now());
    this.counters.decisions += 1;
    if (result.allowed) this.counters.admitted += 1;
    else this.counters.refused += 1;
    this.#metrics.decision({
      policy: policy.id,
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
    const resolved = this.#resolve(request);
    const outcome = await this.#run(resolved, request.costTokens, false);
    const result = shapeResult(resolved.policy, outcome, this.#time.now());
    this.#afterDecision();
    return result;
  }

  /** The id of the bucket a policy's key is counted in (the key normalised; simulator, tests). */
  bucketIdOf(policyId: string, key: string): string {
    return this.#resolve({ policyId, key, costTokens: 1 }).bucketId;
  }

  /**
   * Tokens this container holds in live leases: taken from the store and not
   * served yet, over every bucket it keeps or for one policy's key (the
   * simulator's bound counts them; reporting).
   */
  leasedTokens(bucket?: { readonly policyId: string; readonly key: string }): number {
    const nowMs = this.#time.now();
    if (bucket !== undefined) {
      const { bucketId } = this.#resolve({ ...bucket, costTokens: 1 });
      const state = this.#cache.peek(bucketId);
      return state === undefined ? 0 : leasedTokensValidAt(state, nowMs);
    }
    let tokens = 0;
    for (const state of this.#cache.states()) tokens += leasedTokensValidAt(state, nowMs);
    return tokens;
  }

  /** Resolves once background work (pending writes, late writes, background leases) has settled. */
  async settled(): Promise<void> {
    await this.#pipeline.settled();
    await this.#escrow.settled();
    await this.#flusher.settled();
  }

  async #run(
    { policy, key, bucketId }: Resolved,
    costTokens: number,
    consume: boolean,
  ): Promise<Outcome> {
    try {
      if (policy.consistency === 'escrow') {
        return await this.#escrow.run(policy, key, bucketId, costTokens, consume);
      }
      return await this.#pipeline.run(policy, key, bucketId, costTokens, consume);
    } catch (error) {
      // Not the store's failure (those are the pipeline's to answer): a bug. Logged, and
      // answered by the failure mode like a store failure, so a request never fails for it.
      this.#log({
        level: 'error',
        message: 'limiter failed',
        policy: policy.id,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      const fallback = this.#failureModes.unexpected(policy, costTokens);
      if (consume) {
        this.counters.fallbacks += 1;
        this.#metrics.fallback({ policy: policy.id, mode: fallback.mode });
      }
      return { decision: fallback.decision, source: 'fallback', fallback };
    }
  }

  #resolve(request: LimitRequest): Resolved {
    const configured = this.#config.policies.get(request.policyId);
    if (configured === undefined) {
      throw new LimitRequestError('policy', `unknown policy "${String(request.policyId)}"`);
    }
    // A quota decides with the bucket of the calendar period it is in now.
    const policy = quotaPeriodPolicy(configured, this.#time.now());
    const maxKeyLength = this.#runtime.maxKeyLength;
    const key = normaliseKey(request.key, maxKeyLength);
    // Then the overrides of the table (per key, per policy), when there are any.
    const effective = this.#overrides?.effective(policy, key) ?? policy;
    const costProblems = validateCost(effective.bucket, request.costTokens);
    if (costProblems.length > 0) throw new LimitRequestError('cost', costProblems.join('; '));
    const generation =
      effective.consistency === 'escrow'
        ? escrowGeneration(effective.generation, effective.bucket, this.#config.config.regions)
        : effective.generation;
    return {
      policy: effective,
      key,
      bucketId: bucketIdOf(effective.id, generation, key, maxKeyLength),
      costTokens: request.costTokens,
    };
  }

  #afterDecision(): void {
    this.counters.pendingLocalTokens = this.#pending.debtTokens;
    this.#flusher.flush();
  }

  /** A bucket's state leaves the cache: what it still holds for the store moves to the pending writes. */
  #evicted(state: BucketState): void {
    const nowMs = this.#time.now();
    state.handBack.push(...releaseLeases(state));
    for (const h of state.handBack)
      this.#pending.addHandBack(state.bucketId, state.policyId, h, nowMs);
  }

  #policyStore(
    store: BucketStore,
    slot: string,
    consistent: boolean,
    options: LimiterOptions,
  ): PolicyStore {
    const guard = new StoreGuard({
      time: this.#time,
      budgetMs: this.#runtime.storeBudgetMs,
      coldBudgetMs: this.#runtime.coldStoreBudgetMs,
      maxWaitMs: this.#runtime.maxStoreWaitMs,
      ...defined(options.guard ?? {}),
      onCall: (event) => this.#storeCall(event.operation, event.latencyMs, event.errorKind),
      onStateChange: (open, reason) => {
        if (open) this.counters.storeDownEvents += 1;
        this.#log({
          level: open ? 'warn' : 'info',
          message: open ? 'store considered down' : 'store answers again',
          slot,
          reason,
        });
      },
    });
    return { store, guard, slot, consistent };
  }

  #storeCall(operation: StoreOperation, latencyMs: number, errorKind?: string): void {
    if (operation === 'write') this.counters.writes += 1;
    else this.counters.reads += 1;
    if (errorKind !== undefined && errorKind !== 'conflict') this.counters.storeErrors += 1;
    this.#metrics.storeCall({
      operation,
      latencyMs,
      ...(errorKind === undefined ? {} : { errorKind: errorKind as 'timeout' }),
    });
  }
}

/** A request with its policy (a quota's: the period's), normalised key and bucket. */
interface Resolved {
  readonly policy: ResolvedPolicy;
  readonly key: string;
  readonly bucketId: string;
  readonly costTokens: number;
}

function isResolved(config: ResolvedEdgeConfig | LimiterConfig): config is ResolvedEdgeConfig {
  return (config as ResolvedEdgeConfig).policies instanceof Map;
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function outcomeOf(outcome: Outcome, result: LimitResult): DecisionOutcome {
  if (outcome.source === 'denylist') return 'denylisted';
  if (outcome.source === 'allowlist') return 'allowlisted';
  if (result.shadow !== undefined && !result.shadow.wouldAllow) return 'shadow-refused';
  return result.allowed ? 'allowed' : 'refused';
}
