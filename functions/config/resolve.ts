/**
 * The config with every default applied, once: what every runtime (edge,
 * regional API, reconciler, local runtime, bench) receives instead of the raw
 * {@link LimiterConfig}. Defaults live here and nowhere else, and so do the
 * rules every runtime must agree on, such as which replica a function in a
 * region talks to.
 *
 * Resolving validates first ({@link assertConfig}): a resolved config is
 * always a valid one.
 */

import type { BucketPolicy, LeasePolicy } from '../core';
import { fullRefillMs } from '../core';
import { nearestReplica } from '../edge/region-map';
import { bucketGeneration, DEFAULT_MAX_KEY_LENGTH } from '../limiter/bucket-id';
import { localPolicyOf } from '../limiter/levels';
import {
  type AlarmConfig,
  assertConfig,
  bucketPolicyOf,
  type ConsistencyMode,
  DEFAULT_ALARMS,
  type LimiterConfig,
  type PolicyConfig,
  type StoreErrorMode,
} from './schema';

/** Default failure mode of a policy. */
export const DEFAULT_STORE_ERROR_MODE: StoreErrorMode = 'open';
/** Default share of capacity and refill the `local` failure mode lets one container use. */
export const DEFAULT_LOCAL_SHARE = 0.1;

/** Hot-path tuning, defaults applied (see {@link LimiterConfig.runtime}). */
export interface ResolvedRuntime {
  /**
   * The least time a decision waits for a store that has stopped answering
   * before the failure mode decides (ms). The store guard waits longer when
   * the measured round trip asks for it, never past {@link maxStoreWaitMs}.
   */
  readonly storeBudgetMs: number;
  /** Longest a decision ever waits for the store (ms): below the 5 s viewer-request limit. */
  readonly maxStoreWaitMs: number;
  /** Wait of a store's first call from a container (connection set-up) (ms). */
  readonly coldStoreBudgetMs: number;
  /** How long the view of other slots may be served from a container's cache (ms). */
  readonly viewCacheMs: number;
  /** Longest accepted key, in characters. */
  readonly maxKeyLength: number;
  /** Most buckets whose state one container keeps. */
  readonly maxBuckets: number;
  /** Most buckets whose local-mode debt or hand-backs one container keeps until written. */
  readonly maxPendingBuckets: number;
  /** Most pending writes (debt, hand-backs) a container starts per decision. */
  readonly flushPerDecision: number;
  /** How often a container reads the run-time overrides (ms). */
  readonly overridesRefreshMs: number;
  /** The oldest overrides a decision applies; older ones are read first (ms). */
  readonly overridesMaxAgeMs: number;
}

/** Default hot-path tuning. */
export const DEFAULT_RUNTIME: ResolvedRuntime = {
  storeBudgetMs: 150,
  maxStoreWaitMs: 3000,
  coldStoreBudgetMs: 1000,
  viewCacheMs: 250,
  maxKeyLength: DEFAULT_MAX_KEY_LENGTH,
  maxBuckets: 10_000,
  maxPendingBuckets: 100_000,
  flushPerDecision: 2,
  overridesRefreshMs: 20_000,
  overridesMaxAgeMs: 45_000,
};

/** One policy with everything the hot path needs. */
export interface ResolvedPolicy {
  readonly id: string;
  readonly version: number;
  /** Version plus refill interval: the generation part of the bucket id. */
  readonly generation: string;
  readonly bucket: BucketPolicy;
  readonly consistency: ConsistencyMode;
  readonly onStoreError: StoreErrorMode;
  readonly localShare: number;
  /** The `local` failure mode's per-container bucket. */
  readonly local: BucketPolicy;
  /** How the policy leases (undefined: exact accounting, one write per admission). */
  readonly lease: LeasePolicy | undefined;
  /**
   * The least tokens one write takes (a hot bucket's batch): one item takes
   * about 1,000 writes per second, so a bucket refilling faster than
   * {@link MAX_WRITES_PER_BUCKET_PER_SECOND} tokens per second takes at least
   * that rate's share per write. 1 for any other bucket, and without leases.
   */
  readonly minTakeTokens: number;
  readonly shadow: boolean;
  /** Normalised (trimmed, NFC) allow-listed keys. */
  readonly allowKeys: ReadonlySet<string>;
  /** Normalised deny-listed keys. */
  readonly denyKeys: ReadonlySet<string>;
  readonly watchKeys: readonly string[];
  /** `w=` of `RateLimit-Policy`: seconds to refill from empty (at least 1). */
  readonly windowSeconds: number;
  /** The policy as configured. */
  readonly config: PolicyConfig;
}

/** A validated config with every default applied. */
export interface ResolvedConfig {
  /** The validated config as written. */
  readonly config: LimiterConfig;
  readonly policies: ReadonlyMap<string, ResolvedPolicy>;
  readonly runtime: ResolvedRuntime;
  readonly alarms: Required<AlarmConfig>;
  /**
   * The global-table replica a function running in `region` talks to, and so
   * the slot it writes: the region itself when it has a replica, else the
   * nearest one (undefined region: the primary).
   */
  replicaFor(region: string | undefined): string;
  /** The strong (MRSC) table's replica for `region`, by the same rule; undefined without one. */
  strongReplicaFor(region: string | undefined): string | undefined;
  /** Whether some policy needs the strong table. */
  readonly usesStrong: boolean;
}

/** Normalises a listed key the way request keys are normalised (trim, NFC). */
export function normaliseListedKey(key: string): string {
  return key.trim().normalize('NFC');
}

/** Lifetime of a default lease (ms). */
export const DEFAULT_LEASE_TTL_MS = 2000;
/** The least capacity for which leases are on by default (tokens): a tenth of it is 10 tokens, a batch worth holding. */
export const MIN_DEFAULT_LEASE_CAPACITY = 100;

/**
 * Writes per second one bucket is kept under, summed over every region:
 * replicated writes land on every replica, and one partition key takes about
 * 1,000 write units per second, so a quarter of that leaves room for bursts,
 * other buckets on the partition and retries.
 */
export const MAX_WRITES_PER_BUCKET_PER_SECOND = 250;

/** The lease a policy gets when it configures none (undefined: off). */
export function defaultLeaseFor(
  bucket: BucketPolicy,
  consistency: ConsistencyMode,
): LeasePolicy | undefined {
  if (consistency === 'strong' || bucket.capacityTokens < MIN_DEFAULT_LEASE_CAPACITY) {
    return undefined;
  }
  return {
    maxTokens: Math.floor(bucket.capacityTokens / 10),
    ttlMs: DEFAULT_LEASE_TTL_MS,
    maxShareOfLevel: 0.1,
  };
}

/** The least tokens one write of a leasing policy takes (see {@link ResolvedPolicy.minTakeTokens}). */
export function minTakeTokensOf(bucket: BucketPolicy, lease: LeasePolicy | undefined): number {
  if (lease === undefined) return 1;
  const tokensPerSecond = (bucket.refillTokens * 1000) / bucket.refillIntervalMs;
  const floor = Math.ceil(tokensPerSecond / MAX_WRITES_PER_BUCKET_PER_SECOND);
  return Math.max(1, Math.min(floor, lease.maxTokens));
}

/** One policy with its defaults applied. */
export function resolvePolicy(p: PolicyConfig): ResolvedPolicy {
  const bucket = bucketPolicyOf(p);
  const localShare = p.localShare ?? DEFAULT_LOCAL_SHARE;
  const consistency = p.consistency ?? 'eventual';
  const lease = p.lease === false ? undefined : (p.lease ?? defaultLeaseFor(bucket, consistency));
  return {
    id: p.id,
    version: p.version ?? 1,
    generation: bucketGeneration(p.version, p.refillIntervalMs),
    bucket,
    consistency,
    onStoreError: p.onStoreError ?? DEFAULT_STORE_ERROR_MODE,
    localShare,
    local: localPolicyOf(bucket, localShare),
    lease,
    minTakeTokens: minTakeTokensOf(bucket, lease),
    shadow: p.shadow ?? false,
    allowKeys: new Set((p.allowKeys ?? []).map(normaliseListedKey)),
    denyKeys: new Set((p.denyKeys ?? []).map(normaliseListedKey)),
    watchKeys: p.watchKeys ?? [],
    windowSeconds: Math.max(1, Math.ceil(fullRefillMs(bucket) / 1000)),
    config: p,
  };
}

/**
 * Validates the config and applies every default.
 *
 * @throws InvalidConfigError listing every problem.
 */
export function resolveConfig(config: LimiterConfig): ResolvedConfig {
  assertConfig(config);
  const runtime: ResolvedRuntime = {
    ...DEFAULT_RUNTIME,
    ...definedOnly(config.runtime ?? {}),
  };
  const policies = new Map(config.policies.map((p) => [p.id, resolvePolicy(p)]));
  const strongRegions = config.strong?.regions;
  return {
    config,
    policies,
    runtime: {
      ...runtime,
      // The cold wait is never below the warm one.
      coldStoreBudgetMs: Math.max(runtime.coldStoreBudgetMs, runtime.storeBudgetMs),
      // The maximum age is never below the refresh interval.
      overridesMaxAgeMs: Math.max(runtime.overridesMaxAgeMs, runtime.overridesRefreshMs),
    },
    alarms: { ...DEFAULT_ALARMS, ...definedOnly(config.alarms ?? {}) },
    replicaFor: (region) => nearestReplica(region, config.regions),
    strongReplicaFor: (region) =>
      strongRegions === undefined || strongRegions.length === 0
        ? undefined
        : nearestReplica(region, strongRegions),
    usesStrong: config.policies.some((p) => p.consistency === 'strong'),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
