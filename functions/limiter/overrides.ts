/**
 * Run-time overrides on the hot path (docs/design.md, "Overrides"): the
 * effective policy of a (policy, key) and the per-container cache that keeps
 * the overrides partition in memory.
 *
 * The effective policy is the resolved policy, then the policy-level patch,
 * then the key's override: the more specific wins. A patch that changes the
 * bucket's shape (capacity, refill) gives the bucket a generation of its own
 * (`<generation>.c<capacity>r<refill>`): stored levels are bounds computed
 * under one shape and are never read under another, every container that
 * applies the same override computes the same bucket id, and deleting the
 * override returns the key to its configured bucket. The cost: a changed
 * bucket starts full, so at the moment of change a key can be admitted up to
 * the new capacity on top of what it already took; and while the change
 * propagates (the bound below) containers still on the old shape admit from
 * the old bucket, so both capacities are available in that window.
 *
 * The cache: Lambda freezes a container between invocations, so no timer
 * refreshes it. A request that finds the overrides older than
 * `overridesRefreshMs` starts a read and goes on with what the cache holds; a
 * later request sees the answer. A request that finds them older than
 * `overridesMaxAgeMs` (a container woken after idling; the first request of
 * a container) waits for the read, at most `maxWaitMs`. So every decision
 * applies overrides read at most `overridesMaxAgeMs` before it, unless the
 * store does not answer (then the last good overrides stay in force, and a
 * failed read is retried after {@link RETRY_AFTER_FAILURE_MS}).
 */

import { keyListWith } from '../config/key-list';
import {
  changesBucket,
  largestRuleCost,
  normaliseOverrideKey,
  type OverrideSettings,
  overrideSortKey,
  patchedBucket,
  validateOverride,
} from '../config/overrides';
import { type ResolvedEdgeConfig, type ResolvedPolicy, resolvePolicy } from '../config/resolve';
import type { BucketPolicy } from '../core';
import type { CallSignal } from '../store/call-signal';
import type { OverridesRead, StoredOverride } from '../store/override-table';
import { localPolicyOf } from './levels';
import { REAL_TIME, type Time } from './timers';

/** What the limiter asks of overrides (see `LimiterOptions.overrides`). */
export interface OverrideSource {
  /** The effective policy of a normalised key, from memory (no store call); `policy` when nothing overrides it. */
  effective(policy: ResolvedPolicy, key: string): ResolvedPolicy;
  /** The effective policy a bucket id was handed out with (pending writes of patched buckets). */
  policyOfBucket?(bucketId: string): ResolvedPolicy | undefined;
}

/** A failed read is tried again after this long at the earliest (ms). */
export const RETRY_AFTER_FAILURE_MS = 5000;

/** Most bucket generations {@link OverrideCache.policyOfBucket} remembers. */
const MAX_REMEMBERED_GENERATIONS = 10_000;

const NO_KEYS: ReadonlySet<string> = new Set();

/**
 * The effective policy of `key` under a policy-level patch and a per-key
 * override (each optional). Pure. `minCapacity` (the largest cost the
 * policy's rules charge) bounds the patched capacity from below, so that two
 * layers valid on their own never make a rule's cost inadmissible together.
 */
export function effectivePolicy(
  base: ResolvedPolicy,
  key: string,
  layers: {
    readonly policy?: OverrideSettings | undefined;
    readonly key?: OverrideSettings | undefined;
  },
  minCapacity = 1,
): ResolvedPolicy {
  const patched =
    layers.policy === undefined ? base : patchedPolicy(base, [layers.policy], minCapacity);
  const keyOverride = layers.key;
  if (keyOverride === undefined) {
    if (layers.policy?.enabled === false) return { ...patched, allowKeys: new Set([key]) };
    return patched;
  }
  return keyPolicy(
    patched,
    base,
    key,
    keyOverride,
    [...(layers.policy === undefined ? [] : [layers.policy]), keyOverride],
    minCapacity,
  );
}

function keyPolicy(
  patched: ResolvedPolicy,
  base: ResolvedPolicy,
  key: string,
  keyOverride: OverrideSettings,
  layers: readonly OverrideSettings[],
  minCapacity: number,
): ResolvedPolicy {
  const mode = keyOverride.mode ?? 'limit';
  if (mode === 'deny') return { ...patched, denyKeys: new Set([key]), allowKeys: NO_KEYS };
  if (mode === 'allow') return { ...patched, allowKeys: new Set([key]), denyKeys: NO_KEYS };
  // Limited, whatever the lists say: the most specific override wins.
  const limited = changesBucket(keyOverride) || keyOverride.shadow !== undefined;
  const shaped = limited ? patchedPolicy(base, layers, minCapacity) : patched;
  return { ...shaped, allowKeys: NO_KEYS, denyKeys: NO_KEYS };
}

/** `base` with `layers` applied in order (bucket, shadow, added lists). */
function patchedPolicy(
  base: ResolvedPolicy,
  layers: readonly OverrideSettings[],
  minCapacity: number,
): ResolvedPolicy {
  let bucket: BucketPolicy = base.bucket;
  let shadow = base.shadow;
  let allow = base.allowKeys;
  let deny = base.denyKeys;
  for (const layer of layers) {
    bucket = patchedBucket(bucket, layer);
    shadow = layer.shadow ?? shadow;
    allow = keyListWith(allow, layer.allowKeys ?? [], normaliseOverrideKey);
    deny = keyListWith(deny, layer.denyKeys ?? [], normaliseOverrideKey);
  }
  bucket = { ...bucket, capacityTokens: Math.max(bucket.capacityTokens, minCapacity) };
  const sameBucket =
    bucket.capacityTokens === base.bucket.capacityTokens &&
    bucket.refillTokens === base.bucket.refillTokens;
  const resolved = sameBucket ? base : resizedPolicy(base, bucket);
  return {
    ...resolved,
    generation: sameBucket
      ? base.generation
      : `${base.generation}.c${bucket.capacityTokens}r${bucket.refillTokens}`,
    shadow,
    allowKeys: allow,
    denyKeys: deny,
    config: base.config,
  };
}

/**
 * `base` with another bucket shape. A token bucket is resolved afresh (its
 * lease and batch follow the new size); a quota keeps its period (`base` is
 * the period's policy) with the new limit.
 */
function resizedPolicy(base: ResolvedPolicy, bucket: BucketPolicy): ResolvedPolicy {
  if (base.quota === undefined) {
    return resolvePolicy({
      ...base.config,
      capacityTokens: bucket.capacityTokens,
      refillTokens: bucket.refillTokens,
    });
  }
  return {
    ...base,
    bucket,
    local: localPolicyOf(bucket, base.localShare),
    quota: { ...base.quota, limit: bucket.capacityTokens },
  };
}

/** What an {@link OverrideCache} is built from. */
export interface OverrideCacheOptions {
  readonly config: ResolvedEdgeConfig;
  /** One read of the overrides partition (the container's replica). */
  readonly read: (signal: CallSignal) => Promise<OverridesRead>;
  /** Clock and timers. @default real time */
  readonly time?: Time;
  /** @default config.runtime.overridesRefreshMs */
  readonly refreshMs?: number;
  /** @default config.runtime.overridesMaxAgeMs */
  readonly maxAgeMs?: number;
  /** Longest a request waits for a read when the overrides are too old (ms). @default config.runtime.coldStoreBudgetMs */
  readonly maxWaitMs?: number;
  /** Where reads that failed and overrides that were ignored are reported. @default console.error as JSON */
  readonly log?: (entry: Readonly<Record<string, unknown>>) => void;
}

interface Snapshot {
  /** Patched policies, by id. */
  readonly policies: ReadonlyMap<string, OverrideSettings>;
  /** Per-key overrides, by `<policy>#<key>`. */
  readonly keys: ReadonlyMap<string, OverrideSettings>;
}

const EMPTY: Snapshot = { policies: new Map(), keys: new Map() };

/** The overrides of one container, refreshed by the requests it serves. */
export class OverrideCache implements OverrideSource {
  readonly #config: ResolvedEdgeConfig;
  readonly #read: OverrideCacheOptions['read'];
  readonly #time: Time;
  readonly #refreshMs: number;
  readonly #maxAgeMs: number;
  readonly #maxWaitMs: number;
  readonly #log: (entry: Readonly<Record<string, unknown>>) => void;
  readonly #minCapacity = new Map<string, number>();
  readonly #generations = new Map<string, ResolvedPolicy>();
  #effective = new Map<string, ResolvedPolicy>();
  #snapshot: Snapshot = EMPTY;
  /** When the read now applied started (monotonic ms). */
  #readStartedAt: number | undefined;
  #failedAt: number | undefined;
  #inFlight: Promise<void> | undefined;
  #ignored = '';
  /** Reads answered (tests, status). */
  reads = 0;

  constructor(options: OverrideCacheOptions) {
    this.#config = options.config;
    this.#read = options.read;
    this.#time = options.time ?? REAL_TIME;
    this.#refreshMs = options.refreshMs ?? options.config.runtime.overridesRefreshMs;
    this.#maxAgeMs = Math.max(
      this.#refreshMs,
      options.maxAgeMs ?? options.config.runtime.overridesMaxAgeMs,
    );
    this.#maxWaitMs = options.maxWaitMs ?? options.config.runtime.coldStoreBudgetMs;
    this.#log = options.log ?? ((entry) => console.error(JSON.stringify(entry)));
    for (const id of options.config.policies.keys()) {
      this.#minCapacity.set(id, largestRuleCost(options.config.config.rules, id));
    }
  }

  /**
   * Call before deciding: starts a read when one is due and, when the
   * overrides are older than the maximum age (or were never read), waits for
   * it, at most `maxWaitMs`. Undefined when there is nothing to wait for.
   */
  ready(): Promise<void> | undefined {
    const now = this.#time.monotonicMs();
    this.#refreshIfDue(now);
    const inFlight = this.#inFlight;
    if (inFlight === undefined || !this.#tooOld(now)) return undefined;
    return new Promise<void>((resolve) => {
      const timer = this.#time.setTimer(resolve, this.#maxWaitMs);
      inFlight.then(() => {
        this.#time.clearTimer(timer);
        resolve();
      });
    });
  }

  effective(policy: ResolvedPolicy, key: string): ResolvedPolicy {
    this.#refreshIfDue(this.#time.monotonicMs());
    const { policies, keys } = this.#snapshot;
    if (policies.size === 0 && keys.size === 0) return policy;
    const sortKey = overrideSortKey({ policy: policy.id, key });
    const keyOverride = keys.get(sortKey);
    const policyPatch = policies.get(policy.id);
    if (keyOverride === undefined && policyPatch === undefined) return policy;
    const cacheKey = keyOverride === undefined ? policy.id : sortKey;
    if (keyOverride === undefined && policyPatch?.enabled === false) {
      return effectivePolicy(
        policy,
        key,
        { policy: policyPatch },
        this.#minCapacity.get(policy.id),
      );
    }
    let effective = this.#effective.get(cacheKey);
    if (effective === undefined) {
      effective = effectivePolicy(
        policy,
        key,
        { policy: policyPatch, key: keyOverride },
        this.#minCapacity.get(policy.id),
      );
      this.#effective.set(cacheKey, effective);
      this.#remember(effective);
    }
    return effective;
  }

  policyOfBucket(bucketId: string): ResolvedPolicy | undefined {
    const at = bucketId.lastIndexOf('#');
    return at < 0 ? undefined : this.#generations.get(bucketId.slice(0, at));
  }

  /** Resolves once no read is in flight (tests). */
  async settled(): Promise<void> {
    while (this.#inFlight !== undefined) await this.#inFlight;
  }

  /** The live overrides this container applies (status, tests). */
  get size(): number {
    return this.#snapshot.policies.size + this.#snapshot.keys.size;
  }

  #tooOld(now: number): boolean {
    return this.#readStartedAt === undefined || now - this.#readStartedAt > this.#maxAgeMs;
  }

  #refreshIfDue(now: number): void {
    if (this.#inFlight !== undefined) return;
    if (this.#readStartedAt !== undefined && now - this.#readStartedAt < this.#refreshMs) return;
    if (this.#failedAt !== undefined && now - this.#failedAt < RETRY_AFTER_FAILURE_MS) return;
    const startedAt = now;
    const abort = new AbortController();
    const timer = this.#time.setTimer(() => abort.abort(), this.#config.runtime.maxStoreWaitMs);
    const work = (async () => {
      try {
        const read = await this.#read(abort.signal);
        this.#apply(read);
        this.#readStartedAt = startedAt;
        this.#failedAt = undefined;
        this.reads += 1;
      } catch (error) {
        this.#failedAt = this.#time.monotonicMs();
        this.#log({
          level: 'warn',
          message: 'overrides read failed; the last ones read stay in force',
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      } finally {
        this.#time.clearTimer(timer);
        this.#inFlight = undefined;
      }
    })();
    this.#inFlight = work;
  }

  /** Replaces the snapshot with a read's live, valid overrides; reports the others once. */
  #apply(read: OverridesRead): void {
    const policies = new Map<string, OverrideSettings>();
    const keys = new Map<string, OverrideSettings>();
    const ignored: Record<string, unknown>[] = read.unreadable.map((u) => ({
      override: u.sortKey,
      problems: [u.reason],
    }));
    for (const o of read.overrides) {
      if (o.deleted) continue;
      const problems = validateOverride(this.#config, o, o.settings);
      if (problems.length > 0) {
        ignored.push({ override: overrideSortKey(o), problems });
        continue;
      }
      if (o.key === undefined) policies.set(o.policy, o.settings);
      else keys.set(overrideSortKey(targetOf(o)), o.settings);
    }
    this.#snapshot = { policies, keys };
    this.#effective = new Map();
    const signature = JSON.stringify(ignored);
    if (ignored.length > 0 && signature !== this.#ignored) {
      this.#log({ level: 'warn', message: 'overrides ignored', ignored });
    }
    this.#ignored = signature;
  }

  #remember(policy: ResolvedPolicy): void {
    const id = `${policy.id}#${policy.generation}`;
    if (this.#generations.has(id)) return;
    if (this.#generations.size >= MAX_REMEMBERED_GENERATIONS) {
      const oldest = this.#generations.keys().next().value;
      if (oldest !== undefined) this.#generations.delete(oldest);
    }
    this.#generations.set(id, policy);
  }
}

function targetOf(o: StoredOverride) {
  return o.key === undefined
    ? { policy: o.policy }
    : { policy: o.policy, key: normaliseOverrideKey(o.key) };
}
