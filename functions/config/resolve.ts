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
  readonly lease: LeasePolicy | undefined;
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

/** One policy with its defaults applied. */
export function resolvePolicy(p: PolicyConfig): ResolvedPolicy {
  const bucket = bucketPolicyOf(p);
  const localShare = p.localShare ?? DEFAULT_LOCAL_SHARE;
  return {
    id: p.id,
    version: p.version ?? 1,
    generation: bucketGeneration(p.version, p.refillIntervalMs),
    bucket,
    consistency: p.consistency ?? 'eventual',
    onStoreError: p.onStoreError ?? DEFAULT_STORE_ERROR_MODE,
    localShare,
    local: localPolicyOf(bucket, localShare),
    lease: p.lease,
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
