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

import type { BucketPolicy, LeasePolicy, QuotaPeriod } from '../core';
import { calendarPeriodAt, fullRefillMs } from '../core';
import { nearestReplica } from '../edge/region-map';
import { bucketGeneration, DEFAULT_MAX_KEY_LENGTH } from '../limiter/bucket-id';
import { localPolicyOf } from '../limiter/levels';
import { assertEdgeConfig, type EdgeConfig } from './edge-config';
import { type KeyList, keyListOf } from './key-list';
import {
  type AlarmConfig,
  assertConfig,
  bucketPolicyOf,
  type ConsistencyMode,
  DEFAULT_ALARMS,
  type LimiterConfig,
  limitsOf,
  type PolicyConfig,
  type RuleConfig,
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
  /** Least time between two background reads and rebalances of one escrow bucket (ms). */
  readonly escrowRebalanceMs: number;
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
  escrowRebalanceMs: 1000,
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
  /** Allow-listed keys: exact (trimmed, NFC) and `ip:` ranges (functions/config/key-list.ts). */
  readonly allowKeys: KeyList;
  /** Deny-listed keys, likewise. */
  readonly denyKeys: KeyList;
  readonly watchKeys: readonly string[];
  /**
   * `w=` of `RateLimit-Policy`: seconds to refill from empty (at least 1); a
   * quota's period, in seconds.
   */
  readonly windowSeconds: number;
  /**
   * A calendar quota: its limit and period. Its buckets live one period each:
   * decisions use {@link quotaPeriodPolicy}, never this policy's `bucket`.
   */
  readonly quota?: ResolvedQuota;
  /** A quota's bucket for one period: when that period ends (ms since the epoch). */
  readonly periodEndsAtMs?: number;
  /** The policy as configured. */
  readonly config: PolicyConfig;
}

/** A quota with its defaults applied. */
export interface ResolvedQuota {
  readonly limit: number;
  readonly period: QuotaPeriod;
  readonly timeZone: string;
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
  /** What the regional API may do with each policy, by policy id ({@link ResolvedApiAccess}). */
  readonly apiAccess: ReadonlyMap<string, ResolvedApiAccess>;
}

/**
 * What the edge resolves from its part of the config ({@link EdgeConfig}):
 * everything of a {@link ResolvedConfig} but the alarms and the API's access,
 * which only the regional functions read. A {@link ResolvedConfig} is one, so
 * code the edge and the regional functions share (the limiter, the stores)
 * takes this type.
 */
export type ResolvedEdgeConfig = Omit<ResolvedConfig, 'config' | 'alarms' | 'apiAccess'> & {
  /** The validated edge config as compiled in. */
  readonly config: EdgeConfig;
};

/**
 * Why the regional API may or may not consume a policy:
 * - `configured`: `apiAccess.consume` says so;
 * - `per-caller-keys`: every rule using it keys it by something of the caller's;
 * - `shared-keys`: a rule keys it by constants only, so one bucket is every client's;
 * - `no-rule`: no rule uses it, so nothing shows its keys are per-caller.
 */
export type ApiConsumeBasis = 'configured' | 'per-caller-keys' | 'shared-keys' | 'no-rule';

/** A policy's {@link PolicyConfig.apiAccess}, defaults applied. */
export interface ResolvedApiAccess {
  /** Whether `POST /v1/limit` may take tokens from the policy's buckets. */
  readonly consume: boolean;
  readonly consumeBasis: ApiConsumeBasis;
  /** With `shared-keys`: the rule that keys the policy by constants only. */
  readonly sharedByRule?: string;
  /** The most tokens one consume may take. */
  readonly maxCostPerCall: number;
  /** Whether a consume may name an `ip:` key. */
  readonly ipKeys: boolean;
}

/** Share of capacity one API consume may take by default. */
export const DEFAULT_API_COST_SHARE = 0.1;

/** The default {@link ResolvedApiAccess.maxCostPerCall}: a tenth of capacity, rounded down, at least 1. */
export function defaultMaxCostPerCall(capacityTokens: number): number {
  return Math.max(1, Math.floor(capacityTokens * DEFAULT_API_COST_SHARE));
}

/**
 * A policy's API access with its defaults: consuming is allowed by default
 * only when every rule using the policy keys it per caller (a rule whose key
 * has a header, query, JWT or IP part), since then a caller can only drain
 * buckets of keys it names; a bucket keyed by constants is every client's.
 */
export function resolveApiAccess(
  policy: PolicyConfig,
  rules: readonly RuleConfig[],
): ResolvedApiAccess {
  const access = policy.apiAccess ?? {};
  // Every limit that charges the policy, with the rule it belongs to.
  const using = rules.flatMap((rule) =>
    limitsOf(rule)
      .filter((l) => l.policy === policy.id)
      .map((limit) => ({ id: rule.id, limit })),
  );
  const shared = using.find((u) => u.limit.key.every((part) => 'constant' in part));
  const basis: ApiConsumeBasis =
    access.consume !== undefined
      ? 'configured'
      : using.length === 0
        ? 'no-rule'
        : shared === undefined
          ? 'per-caller-keys'
          : 'shared-keys';
  return {
    consume: access.consume ?? basis === 'per-caller-keys',
    consumeBasis: basis,
    ...(shared === undefined ? {} : { sharedByRule: shared.id }),
    maxCostPerCall:
      access.maxCostPerCall ?? defaultMaxCostPerCall(bucketPolicyOf(policy).capacityTokens),
    ipKeys: access.ipKeys ?? false,
  };
}

/** Normalises a listed key the way request keys are normalised (trim, NFC). */
export function normaliseListedKey(key: string): string {
  return key.trim().normalize('NFC');
}

/** Whether paths compare without letter case when neither the rule nor `matching` says. */
export const DEFAULT_CASE_INSENSITIVE_PATHS = true;

/** Whether a rule compares paths without letter case: the rule's choice, else the config's, else the default. */
export function caseInsensitivePathsOf(
  config: Pick<LimiterConfig, 'matching'>,
  rule: Pick<RuleConfig, 'match'>,
): boolean {
  return (
    rule.match.caseInsensitive ?? config.matching?.caseInsensitive ?? DEFAULT_CASE_INSENSITIVE_PATHS
  );
}

/**
 * Lifetime of a default `eventual` lease (ms). Lambda freezes a container
 * between requests and wakes a second one while the first is busy: a busy
 * key's second container then sees a request every few seconds (about one in
 * fifty at 10 requests/s), and a lease that outlives those gaps serves it
 * from memory instead of sending it to the store. Over six seeds, the edge
 * simulator's busy key waited for the store on up to 3.5 % of admitted
 * requests with 5 s (its p99 a round trip plus the CPU of six calls), at most
 * 1.4 % with 15 s.
 * It costs what a frozen container holds meanwhile (at most a lease or two,
 * kept out of the bucket for that long), not over-admission: a lease's
 * tokens are debited when taken (docs/design.md, "Bounds").
 */
export const DEFAULT_LEASE_TTL_MS = 15_000;
/**
 * Lifetime of a default `escrow` lease (ms): shorter, because what an escrow
 * lease leaves unused is credited back only while the region's item is
 * unchanged since the lease was taken, and dropped otherwise; the longer it
 * lives, the likelier the drop (docs/escrow.md).
 */
export const DEFAULT_ESCROW_LEASE_TTL_MS = 5000;
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
    ttlMs: consistency === 'escrow' ? DEFAULT_ESCROW_LEASE_TTL_MS : DEFAULT_LEASE_TTL_MS,
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

/** Period policies of quotas, per policy object: a container decides a handful of periods at most. */
const periodPolicies = new WeakMap<ResolvedPolicy, Map<number, ResolvedPolicy>>();
/** Periods remembered per quota policy (the current one, and a few older for late writes). */
const MAX_REMEMBERED_PERIODS = 4;

/**
 * The policy a quota decides with at `nowMs`: the bucket of the calendar
 * period `nowMs` falls in (capacity the quota's limit, no refill, ending with
 * the period), whose generation names the period, so every period's buckets
 * are fresh items. The same object for the same period. A token bucket is
 * returned unchanged.
 */
export function quotaPeriodPolicy(policy: ResolvedPolicy, nowMs: number): ResolvedPolicy {
  const quota = policy.quota;
  if (quota === undefined) return policy;
  const period = calendarPeriodAt(nowMs, quota.period, quota.timeZone);
  let periods = periodPolicies.get(policy);
  if (periods === undefined) {
    periods = new Map();
    periodPolicies.set(policy, periods);
  }
  const known = periods.get(period.startMs);
  if (known !== undefined) return known;
  const bucket = bucketPolicyOf(policy.config, period.endMs);
  const resolved: ResolvedPolicy = {
    ...policy,
    generation: `${policy.version}.q${Math.floor(period.startMs / 1000)}`,
    bucket,
    local: localPolicyOf(bucket, policy.localShare),
    windowSeconds: Math.max(1, Math.round((period.endMs - period.startMs) / 1000)),
    periodEndsAtMs: period.endMs,
  };
  periods.set(period.startMs, resolved);
  if (periods.size > MAX_REMEMBERED_PERIODS) {
    periods.delete(Math.min(...periods.keys()));
  }
  return resolved;
}

/**
 * The period policy a quota's bucket id was decided with (pending writes of
 * an earlier period), from the generation the id carries; the policy itself
 * for a token bucket or an id of no known period.
 */
export function policyOfBucket(policy: ResolvedPolicy, bucketId: string): ResolvedPolicy {
  if (policy.quota === undefined) return policy;
  const generation = bucketId.split('#')[1] ?? '';
  const match = /\.q(\d+)$/.exec(generation);
  if (match === null) return policy;
  return quotaPeriodPolicy(policy, Number(match[1]) * 1000);
}

/** One policy with its defaults applied. */
export function resolvePolicy(p: PolicyConfig): ResolvedPolicy {
  const bucket = bucketPolicyOf(p);
  const localShare = p.localShare ?? DEFAULT_LOCAL_SHARE;
  const consistency = p.consistency ?? 'eventual';
  const lease = p.lease === false ? undefined : (p.lease ?? defaultLeaseFor(bucket, consistency));
  const quota: ResolvedQuota | undefined =
    p.quota === undefined
      ? undefined
      : { limit: p.quota.limit, period: p.quota.period, timeZone: p.quota.timeZone ?? 'UTC' };
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
    allowKeys: keyListOf(p.allowKeys ?? [], normaliseListedKey),
    denyKeys: keyListOf(p.denyKeys ?? [], normaliseListedKey),
    watchKeys: p.watchKeys ?? [],
    windowSeconds: quota === undefined ? Math.max(1, Math.ceil(fullRefillMs(bucket) / 1000)) : 1,
    ...(quota === undefined ? {} : { quota }),
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
  return {
    ...resolveEdgeParts(config),
    config,
    alarms: { ...DEFAULT_ALARMS, ...definedOnly(config.alarms ?? {}) },
    apiAccess: new Map(config.policies.map((p) => [p.id, resolveApiAccess(p, config.rules)])),
  };
}

/**
 * Validates the edge's part of a config (see edge-config.ts) and applies
 * every default, as {@link resolveConfig} does for the whole config.
 *
 * @throws InvalidConfigError listing every problem.
 */
export function resolveEdgeConfig(config: EdgeConfig): ResolvedEdgeConfig {
  assertEdgeConfig(config);
  return { ...resolveEdgeParts(config), config };
}

/** What {@link resolveConfig} and {@link resolveEdgeConfig} both resolve, from the edge's fields. */
function resolveEdgeParts(config: EdgeConfig): Omit<ResolvedEdgeConfig, 'config'> {
  const runtime: ResolvedRuntime = {
    ...DEFAULT_RUNTIME,
    ...definedOnly(config.runtime ?? {}),
  };
  const policies = new Map(config.policies.map((p) => [p.id, resolvePolicy(p)]));
  const strongRegions = config.strong?.regions;
  return {
    policies,
    runtime: {
      ...runtime,
      // The cold wait is never below the warm one.
      coldStoreBudgetMs: Math.max(runtime.coldStoreBudgetMs, runtime.storeBudgetMs),
      // The maximum age is never below the refresh interval.
      overridesMaxAgeMs: Math.max(runtime.overridesMaxAgeMs, runtime.overridesRefreshMs),
    },
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
