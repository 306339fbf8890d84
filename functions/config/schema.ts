/**
 * The project's one typed config: regions, table, origin, policies, rules,
 * alarms and notifications. `infra/` builds stacks from it, the edge bundle
 * has the part the edge reads compiled in (edge-config.ts; Lambda@Edge has no
 * environment variables), the regional functions receive it whole as JSON,
 * and the local runtime loads it from a file.
 *
 * {@link validateConfig} runs before anything is built and reports every
 * problem at once, each with the path of the field it concerns.
 */

import {
  type BucketPolicy,
  isKnownTimeZone,
  type LeasePolicy,
  QUOTA_PERIODS,
  type QuotaPeriod,
  validateBucketPolicy,
  validateCost,
  validateLeasePolicy,
} from '../core';
import { normalisePath } from '../edge/normalise-path';
import { listedKeyProblem } from './key-list';
import { validateDeployment } from './validate-deployment';

/** What a policy does when the store times out, throttles or fails (docs/design.md, Failure semantics). */
export type StoreErrorMode = 'open' | 'closed' | 'local';

/**
 * `eventual`: a slot per region on the global table, merged on read;
 * `escrow`: the bucket's capacity and refill split into rights held by each
 * region (docs/escrow.md), never over-admitting across regions; `strong`: one
 * slot on the MRSC table.
 */
export type ConsistencyMode = 'eventual' | 'escrow' | 'strong';

/** The consistency modes, as configured. */
export const CONSISTENCY_MODES: readonly ConsistencyMode[] = ['eventual', 'escrow', 'strong'];

/**
 * How clients get the `RateLimit` and `RateLimit-Policy` headers of requests
 * the limiter let through (refusals always carry them: the viewer-request
 * function answers those itself):
 * - `none` (the default): no second function; the origin still receives the
 *   decision as `x-ratelimit-*` request headers and may answer with them
 *   itself;
 * - `viewer-response`: a second Lambda@Edge function, on viewer responses,
 *   copies them from the decision; it is a second Lambda@Edge request per
 *   request: about $0.60 per million admitted requests plus its duration
 *   (docs/cost.md). Left off by default: its request fee alone keeps the
 *   default config above its cost target.
 *
 * A string rather than a flag so that another way (an origin middleware
 * copying the request headers) can be added without a breaking change.
 */
export type ClientHeadersMode = 'viewer-response' | 'none';

/** Every {@link ClientHeadersMode}. */
export const CLIENT_HEADERS_MODES: readonly ClientHeadersMode[] = ['viewer-response', 'none'];

/**
 * Which of Lambda's own log records (system logs) the Lambda@Edge functions
 * send to CloudWatch Logs. The functions log in Lambda's JSON format, which
 * log-level filtering needs (AWS Lambda Developer Guide, "Log-level
 * filtering"; Lambda@Edge supports both, CloudFront Developer Guide, "Edge
 * function logs"):
 * - `WARN`: warnings only (such as dropped logs): no START/END/REPORT records,
 *   about $0.31 per million admitted requests less (docs/cost.md);
 * - `INFO`: also the start and report record of every invocation (duration,
 *   memory, init duration), Lambda's own default;
 * - `DEBUG`: everything Lambda logs.
 *
 * The application log level stays INFO whatever this says: the EMF metric
 * lines carry no `level` and count as INFO.
 */
export type EdgeSystemLogLevel = 'WARN' | 'INFO' | 'DEBUG';

/** Every {@link EdgeSystemLogLevel}. */
export const EDGE_SYSTEM_LOG_LEVELS: readonly EdgeSystemLogLevel[] = ['WARN', 'INFO', 'DEBUG'];

/**
 * A quota: at most `limit` units per calendar hour, day or month, counted
 * afresh from each period's start (not refilled continuously).
 */
export interface QuotaConfig {
  /** Units per period. */
  readonly limit: number;
  readonly period: QuotaPeriod;
  /** Where the period's boundaries are: `UTC` or an IANA zone, e.g. `Europe/Paris`. @default 'UTC' */
  readonly timeZone?: string;
}

/**
 * One rate-limit policy: a token bucket (`capacityTokens`, `refillTokens`)
 * or a calendar quota (`quota`), and how it behaves.
 */
export interface PolicyConfig {
  /** Short id, `[a-z0-9-]{1,32}`; it names the policy in headers and metrics. */
  readonly id: string;
  /** Bump to start every bucket of the policy afresh (it is part of the bucket id). @default 1 */
  readonly version?: number;
  /** Burst size (a token bucket; not with `quota`). */
  readonly capacityTokens?: number;
  /** Tokens added per `refillIntervalMs`, continuously (a token bucket; not with `quota`). */
  readonly refillTokens?: number;
  /** @default 1000 */
  readonly refillIntervalMs?: number;
  /** A calendar quota instead of a token bucket. */
  readonly quota?: QuotaConfig;
  /** @default 'eventual' */
  readonly consistency?: ConsistencyMode;
  /** @default 'open' */
  readonly onStoreError?: StoreErrorMode;
  /** With `local`: the share of capacity and refill a container may use on its own. @default 0.1 */
  readonly localShare?: number;
  /**
   * Batch admissions per container: a write takes the tokens the container's
   * demand calls for and serves the next requests from memory. `false` turns
   * it off (exact accounting, one write per admission).
   * @default on for `eventual` and `escrow` policies with at least 100 tokens of capacity:
   * sized to demand, at most a tenth of the capacity and of the current level,
   * five-second lifetime; off for `strong` ones and smaller buckets
   */
  readonly lease?: LeasePolicy | false;
  /** Decide and count, never block: how a new limit is rolled out safely. @default false */
  readonly shadow?: boolean;
  /** Keys that are never limited (exact match after normalisation). */
  readonly allowKeys?: readonly string[];
  /** Keys that are always refused with 403. */
  readonly denyKeys?: readonly string[];
  /** Shared buckets whose level the reconciler watches (e.g. a global cap), by key. */
  readonly watchKeys?: readonly string[];
  /** What the regional API may do with this policy's buckets ({@link PolicyApiAccess}). @default the defaults of each field */
  readonly apiAccess?: PolicyApiAccess;
}

/**
 * What a caller of the regional API may do with a policy's buckets. The API
 * is one caller taking from buckets every client of the edge shares, so by
 * default it may not drain them: a consume takes a small share of capacity
 * at most, never from a bucket every client shares, never from a viewer's
 * IP bucket. Peeks (`GET /v1/limit`) take nothing and are always allowed.
 */
export interface PolicyApiAccess {
  /**
   * Whether `POST /v1/limit` may take tokens from the policy's buckets.
   * @default true when every rule using the policy keys it by something of the caller's (a header, a query parameter, a JWT claim, the IP); false when a rule keys it by constants only (a bucket every client shares) or no rule uses it
   */
  readonly consume?: boolean;
  /** The most tokens one consume may take; at most `capacityTokens`. @default a tenth of `capacityTokens`, rounded down, at least 1 */
  readonly maxCostPerCall?: number;
  /** Whether a consume may name an `ip:` key (a viewer's IP bucket). @default false */
  readonly ipKeys?: boolean;
}

/** One part of a rate-limit key. Parts are joined in order. */
export type KeyPart =
  | { readonly header: string }
  | { readonly ip: true }
  | { readonly query: string }
  /**
   * A JWT claim read *without* verifying the signature. Only sound when the
   * origin verifies the token anyway: a forged token can only pick which
   * bucket it drains, never skip the limit, since a missing or malformed token
   * falls back like a missing key.
   */
  | {
      readonly jwtClaim: string;
      /** The header holding the token (`Bearer <token>` or the bare token). @default 'authorization' */
      readonly header?: string;
    }
  | { readonly constant: string };

/** How a request's cost is computed. */
export type CostConfig =
  | { readonly fixed: number }
  | { readonly perMethod: Readonly<Record<string, number>>; readonly default: number }
  | {
      /** Cost from the declared body size (`content-length`), 1 token per `bytesPerToken`, bounded. */
      readonly bodyBytesPerToken: number;
      /** @default 1 */
      readonly minTokens?: number;
      readonly maxTokens: number;
    };

/** Which requests a rule applies to; every given field must match. */
export interface RuleMatch {
  /** Path glob: `*` matches within a segment, `**` across segments, e.g. `/api/**`. */
  readonly path?: string;
  /** Upper-case HTTP methods. */
  readonly methods?: readonly string[];
  /** Host names (exact, lower case). */
  readonly hosts?: readonly string[];
  /**
   * Compare `path` without letter case (`/DEMO/x` matches `/demo/**`).
   * @default `matching.caseInsensitive`
   */
  readonly caseInsensitive?: boolean;
}

/** How requests are compared with rules, for every rule (docs/edge.md, Rules). */
export interface MatchingConfig {
  /**
   * Compare paths without letter case, for rules that do not say
   * (`rules[].match.caseInsensitive`). On by default because many origins
   * (Express, ASP.NET Core, IIS) serve `/DEMO/x` as `/demo/x`: a
   * case-sensitive rule would let a client pick an unlimited spelling.
   * Set `false` only when the origin treats paths case-sensitively and the
   * rules tell paths apart by case alone.
   * @default true
   */
  readonly caseInsensitive?: boolean;
}

/** A token-bucket policy: capacity and refill given. */
export type TokenBucketPolicyConfig = PolicyConfig & {
  readonly capacityTokens: number;
  readonly refillTokens: number;
  readonly quota?: undefined;
};

/** Whether a policy is a token bucket (not a quota). */
export function isTokenBucketPolicy(p: PolicyConfig): p is TokenBucketPolicyConfig {
  return p.quota === undefined;
}

/** One limit a request is charged to: a policy, the key of its bucket, a cost. */
export interface LimitConfig {
  readonly policy: string;
  /** Key parts; at least one. */
  readonly key: readonly KeyPart[];
  /** @default { fixed: 1 } */
  readonly cost?: CostConfig;
  /** When a key part is missing: use the viewer IP instead, or answer 401. @default 'ip' */
  readonly onMissingKey?: 'ip' | 'reject';
}

/** Largest quota limit accepted (units per period). */
export const MAX_QUOTA_LIMIT = 1e12;

/** Most limits one rule charges (each is a bucket decided, in parallel). */
export const MAX_LIMITS_PER_RULE = 4;

/**
 * A rule: first match wins. It charges the request to one limit (`policy`,
 * `key`, `cost`, `onMissingKey` on the rule itself) or to several
 * (`limits`): then the request is admitted only if every limit admits it,
 * and a refusal by any charges none of them.
 */
export interface RuleConfig {
  readonly id: string;
  readonly match: RuleMatch;
  /** The one limit's policy (or use `limits`). */
  readonly policy?: string;
  /** The one limit's key parts; at least one. */
  readonly key?: readonly KeyPart[];
  /** @default { fixed: 1 } */
  readonly cost?: CostConfig;
  /** When a key part is missing: use the viewer IP instead, or answer 401. @default 'ip' */
  readonly onMissingKey?: 'ip' | 'reject';
  /** Several limits, all charged or none (instead of `policy`, `key`, `cost`, `onMissingKey`). */
  readonly limits?: readonly LimitConfig[];
}

/** The limits a rule charges, in order: its `limits`, or the one limit written on the rule. */
export function limitsOf(rule: RuleConfig): readonly LimitConfig[] {
  if (rule.limits !== undefined) return rule.limits;
  return [
    {
      policy: rule.policy ?? '',
      key: rule.key ?? [],
      ...(rule.cost === undefined ? {} : { cost: rule.cost }),
      ...(rule.onMissingKey === undefined ? {} : { onMissingKey: rule.onMissingKey }),
    },
  ];
}

/** CloudWatch alarm thresholds. */
export interface AlarmConfig {
  /** Replication lag measured by the reconciler (ms). @default 5000 */
  readonly syncLagMs?: number;
  /** DynamoDB ReplicationLatency (ms). @default 5000 */
  readonly replicationLatencyMs?: number;
  /** Watched bucket level as a share of capacity. @default 0.1 */
  readonly depletionRatio?: number;
  /** Store errors per minute. @default 5 */
  readonly storeErrorsPerMinute?: number;
  /** Fallbacks per minute. @default 1 */
  readonly fallbacksPerMinute?: number;
  /** Function errors per minute. @default 1 */
  readonly functionErrorsPerMinute?: number;
}

/**
 * How the origin is kept from being called around the limiter: CloudFront adds
 * a secret header to every origin request (the value lives in Secrets Manager,
 * never in a bundle or a template), the origin refuses requests without it.
 */
export interface OriginProtectionConfig {
  /** Add the header. Off when origin access control (or your own means) protects the origin. @default true for `http` origins, false for the others */
  readonly enabled?: boolean;
  /** Header CloudFront adds to every origin request (lower case). @default 'x-origin-verify' */
  readonly headerName?: string;
  /** Secrets Manager secret holding the value (name or ARN, in us-east-1 or replicated there). @default a secret the edge stack creates (48 random letters and digits) */
  readonly secretId?: string;
  /**
   * Secret version CloudFront sends. CloudFormation reads the secret only when
   * the distribution changes, so a rotation is rolled out by setting this to
   * the new version's id and deploying the edge stack.
   * @default the version staged AWSCURRENT when the distribution was last updated
   */
  readonly secretVersionId?: string;
}

/** The edge stack's CloudFront distribution. */
export interface DistributionConfig {
  /** Attach the limiter to this existing distribution instead of creating one (its id, e.g. `E2ABCDEF123456`). @default a distribution is created */
  readonly existingDistributionId?: string;
  /** Alternate domain names (CNAMEs); needs `certificateArn`. @default only the `*.cloudfront.net` name */
  readonly domainNames?: readonly string[];
  /** ACM certificate for `domainNames`; must be in us-east-1. @default none */
  readonly certificateArn?: string;
  /** TLS security policy for viewers (with a certificate). @default 'TLSv1.2_2021' */
  readonly minimumProtocolVersion?: 'TLSv1.2_2021' | 'TLSv1.2_2025' | 'TLSv1.3_2025';
  /** A flood floor in front of the limiter: an AWS WAF web ACL with a rate-based rule per client IP. @default none */
  readonly waf?: WafConfig;
  /** An existing web ACL (CLOUDFRONT scope) to associate instead. @default none */
  readonly webAclArn?: string;
}

/** The web ACL the edge stack creates. */
export interface WafConfig {
  /** Most requests per client IP within `windowSeconds` before WAF blocks (at least 10). */
  readonly requestsPerIp: number;
  /** @default 300 */
  readonly windowSeconds?: 60 | 120 | 300 | 600;
  /** `count` measures without blocking (to size `requestsPerIp`). @default 'block' */
  readonly mode?: 'block' | 'count';
}

/** Alarms on the Lambda@Edge functions where they run. */
export interface EdgeMonitoringConfig {
  /**
   * Regions whose regional edge caches run the functions; each gets alarms
   * (fallbacks, store errors, function errors and throttles) and a topic.
   * @default every region with a regional edge cache (infra/defaults.ts LAMBDA_EDGE_REGIONS)
   */
  readonly regions?: readonly string[];
}

/**
 * What the last successful deploy created, copied from the config after each
 * deploy. Region changes are checked against it: one replica added or removed
 * per deploy, the primary never moved, a replica removed only once its
 * deletion protection is off.
 */
export interface DeployedRecord {
  /** `regions` as deployed. */
  readonly regions: readonly string[];
  /** `retiringRegions` as deployed. @default none */
  readonly retiringRegions?: readonly string[];
}

/** The whole config. */
export interface LimiterConfig {
  /** Prefix of stack names and resources. */
  readonly appName: string;
  /** AWS account to deploy to (12 digits). */
  readonly account: string;
  /** Regions with a replica and a regional stack; the first one is the primary. */
  readonly regions: readonly string[];
  /** Name of the global table. */
  readonly tableName: string;
  /** The MRSC table for `strong` policies: exactly 3 regions of one region set. */
  readonly strong?: { readonly tableName: string; readonly regions: readonly string[] };
  /** The API that CloudFront fronts. */
  readonly origin: {
    readonly domainName: string;
    /**
     * What the origin is. `lambda-function-url` and `s3` get origin access
     * control (CloudFront signs every origin request with SigV4). @default 'http'
     */
    readonly kind?: 'http' | 'lambda-function-url' | 's3';
    /** @default 'https-only' */
    readonly protocol?: 'https-only' | 'http-only';
    /** @default 80 */
    readonly httpPort?: number;
    /** @default 443 */
    readonly httpsPort?: number;
  };
  readonly policies: readonly PolicyConfig[];
  readonly rules: readonly RuleConfig[];
  /** Rule id applied when no rule matches; unlimited when absent. */
  readonly defaultRule?: string;
  /** How requests are compared with rules ({@link MatchingConfig}). @default paths compared without letter case */
  readonly matching?: MatchingConfig;
  readonly alarms?: AlarmConfig;
  readonly notifications?: {
    readonly emails?: readonly string[];
    readonly httpsEndpoints?: readonly string[];
  };
  /** The regional rating API (a Lambda function URL per region). */
  readonly regionalApi?: {
    /**
     * Who may call the function URL: `iam` (SigV4-signed callers with
     * `lambda:InvokeFunctionUrl`) or `none` (public; the limiter is then the
     * only guard). @default 'iam'
     */
    readonly auth?: 'iam' | 'none';
    /**
     * IAM principals (role or user ARNs, or account ids) allowed to call the
     * function URL: each gets `lambda:InvokeFunctionUrl` and
     * `lambda:InvokeFunction` (both are required since October 2025). @default none
     */
    readonly callers?: readonly string[];
    /**
     * IAM principals (role or user ARNs, or account ids) that may change
     * run-time overrides through the API (`PUT`/`DELETE /v1/overrides/...`);
     * they must be callers too. Reading them stays open to every caller.
     * @default every caller may change them
     */
    readonly operators?: readonly string[];
    /**
     * Reserved concurrency of the API in each region: a cap that keeps a flood
     * of API calls from taking the regional concurrency Lambda@Edge shares.
     * @default unreserved
     */
    readonly reservedConcurrency?: number;
  };
  /** Hot-path tuning. */
  readonly runtime?: {
    /**
     * The least time a decision waits for its store before the policy's
     * `onStoreError` decides (ms). The wait follows the measured round trip
     * above it, and never exceeds 3 s. @default 150
     */
    readonly storeBudgetMs?: number;
    /** How long the view of other slots may be served from a container's cache (ms). @default 250 */
    readonly viewCacheMs?: number;
    /** Longest accepted key, in characters, before hashing. @default 256 */
    readonly maxKeyLength?: number;
    /**
     * How often a container reads the run-time overrides (ms): a request
     * that finds them older starts a read in the background. @default 20000
     */
    readonly overridesRefreshMs?: number;
    /**
     * The oldest overrides a decision may apply (ms): a request that finds
     * them older waits for the read (docs/design.md, Overrides). At least
     * `overridesRefreshMs`. @default 45000
     */
    readonly overridesMaxAgeMs?: number;
    /**
     * Least time between two background reads and rebalances of one
     * `escrow` bucket by one container (ms): rights follow demand within
     * about two of these plus twice the replication lag (docs/escrow.md).
     * @default 1000
     */
    readonly escrowRebalanceMs?: number;
  };
  /** Keeping the origin from being called around the limiter. @default a secret header for `http` origins */
  readonly originProtection?: OriginProtectionConfig;
  /** Custom domain, WAF, or an existing distribution. @default a new distribution on `*.cloudfront.net` */
  readonly distribution?: DistributionConfig;
  /** Alarms on the edge functions in every region they run in. @default every regional edge cache region */
  readonly edgeMonitoring?: EdgeMonitoringConfig;
  /** How clients get the RateLimit headers of admitted requests ({@link ClientHeadersMode}). @default 'none' */
  readonly clientHeaders?: ClientHeadersMode;
  /** Lambda's own log records the Lambda@Edge functions keep ({@link EdgeSystemLogLevel}). @default 'WARN' */
  readonly edgeSystemLogLevel?: EdgeSystemLogLevel;
  /**
   * Regions being removed: their replica stays, with deletion protection off,
   * but no function uses it and they have no regional stack. Remove them from
   * `regions` in the next deploy to delete the replica. @default none
   */
  readonly retiringRegions?: readonly string[];
  /** The region set of the last successful deploy (see {@link DeployedRecord}). @default no record: region changes are not checked */
  readonly deployed?: DeployedRecord;
}

/** A config problem: the field path and what is wrong. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

/** Thrown by {@link assertConfig}; lists every problem. */
export class InvalidConfigError extends Error {
  override readonly name = 'InvalidConfigError';
  constructor(
    readonly problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    super(
      `invalid limiter config (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems
        .map((p) => `  - ${p.path}: ${p.message}`)
        .join('\n')}`,
      options,
    );
  }
}

const ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const TABLE = /^[a-zA-Z0-9_.-]{3,255}$/;
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const MAX_PORT = 65535;
const OPERATOR = /^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+)$/;

/**
 * Most watched buckets (`watchKeys` over all policies) the reconciler measures
 * per run: it bounds the run's store calls. A config over it is refused rather
 * than leaving alarms on buckets that would never be measured.
 */
export const MAX_WATCHED_BUCKETS = 20;

/** Region sets within which an MRSC table may span (DynamoDB multi-Region strong consistency). */
export const MRSC_REGION_SETS: readonly (readonly string[])[] = [
  ['us-east-1', 'us-east-2', 'us-west-2'],
  ['eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1'],
  ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3'],
];

/** Default thresholds for {@link AlarmConfig}. */
export const DEFAULT_ALARMS: Required<AlarmConfig> = {
  syncLagMs: 5000,
  replicationLatencyMs: 5000,
  depletionRatio: 0.1,
  storeErrorsPerMinute: 5,
  fallbacksPerMinute: 1,
  functionErrorsPerMinute: 1,
};

/** Lists every problem of a config (empty when valid). */
export function validateConfig(config: LimiterConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });

  if (typeof config.appName !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,40}$/.test(config.appName)) {
    add(
      'appName',
      'must start with a letter and hold only letters, digits and dashes (at most 41)',
    );
  }
  if (typeof config.account !== 'string' || !/^\d{12}$/.test(config.account)) {
    add('account', `must be a 12-digit AWS account id (got ${JSON.stringify(config.account)})`);
  }
  if (!Array.isArray(config.regions) || config.regions.length === 0) {
    add('regions', 'must list at least one region');
  } else {
    const seen = new Set<string>();
    config.regions.forEach((r, i) => {
      if (!REGION.test(r)) add(`regions[${i}]`, `"${r}" is not an AWS region name`);
      if (seen.has(r)) add(`regions[${i}]`, `duplicate region "${r}"`);
      seen.add(r);
    });
  }
  if (typeof config.tableName !== 'string' || !TABLE.test(config.tableName)) {
    add('tableName', 'must be 3-255 characters of letters, digits, "_", "-" and "."');
  }
  if (typeof config.origin?.domainName !== 'string' || !DOMAIN.test(config.origin.domainName)) {
    add(
      'origin.domainName',
      `must be a host name (got ${JSON.stringify(config.origin?.domainName)})`,
    );
  }
  const protocol = config.origin?.protocol;
  if (protocol !== undefined && protocol !== 'https-only' && protocol !== 'http-only') {
    add('origin.protocol', `must be https-only or http-only (got ${JSON.stringify(protocol)})`);
  }
  for (const port of ['httpPort', 'httpsPort'] as const) {
    const value = config.origin?.[port];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1 && value <= MAX_PORT)) {
      add(`origin.${port}`, `must be a port number 1-${MAX_PORT} (got ${value})`);
    }
  }
  for (const list of ['policies', 'rules'] as const) {
    if (!Array.isArray(config[list])) add(list, 'must be an array');
  }
  if (config.clientHeaders !== undefined && !CLIENT_HEADERS_MODES.includes(config.clientHeaders)) {
    add(
      'clientHeaders',
      `must be ${CLIENT_HEADERS_MODES.join(' or ')} (got ${JSON.stringify(config.clientHeaders)})`,
    );
  }
  if (
    config.edgeSystemLogLevel !== undefined &&
    !EDGE_SYSTEM_LOG_LEVELS.includes(config.edgeSystemLogLevel)
  ) {
    add(
      'edgeSystemLogLevel',
      `must be WARN, INFO or DEBUG (got ${JSON.stringify(config.edgeSystemLogLevel)})`,
    );
  }
  const auth = config.regionalApi?.auth;
  if (auth !== undefined && auth !== 'iam' && auth !== 'none') {
    add('regionalApi.auth', `must be iam or none (got ${JSON.stringify(auth)})`);
  }

  const policies: readonly PolicyConfig[] = Array.isArray(config.policies) ? config.policies : [];
  const rules: readonly RuleConfig[] = Array.isArray(config.rules) ? config.rules : [];
  const policyIds = new Set<string>();
  const usesStrong = policies.some((p) => p.consistency === 'strong');
  policies.forEach((p, i) => {
    const at = `policies[${i}]`;
    if (!ID.test(p.id ?? '')) add(`${at}.id`, `"${p.id}" must match ${ID}`);
    if (policyIds.has(p.id)) add(`${at}.id`, `duplicate policy id "${p.id}"`);
    policyIds.add(p.id);
    if (p.version !== undefined && (!Number.isSafeInteger(p.version) || p.version < 1)) {
      add(`${at}.version`, 'must be a positive integer');
    }
    if (p.quota === undefined) {
      for (const m of validateBucketPolicy(bucketPolicyOf(p))) add(at, m);
    } else {
      for (const [path, m] of quotaProblems(p)) add(`${at}${path}`, m);
    }
    if (p.onStoreError !== undefined && !['open', 'closed', 'local'].includes(p.onStoreError)) {
      add(`${at}.onStoreError`, `must be open, closed or local (got "${p.onStoreError}")`);
    }
    if (p.consistency !== undefined && !CONSISTENCY_MODES.includes(p.consistency)) {
      add(`${at}.consistency`, `must be eventual, escrow or strong (got "${p.consistency}")`);
    }
    if (p.consistency === 'escrow') {
      for (const [path, m] of escrowProblems(p)) add(`${at}${path}`, m);
    }
    if (p.localShare !== undefined && !(p.localShare > 0 && p.localShare <= 1)) {
      add(`${at}.localShare`, `must be in (0, 1] (got ${p.localShare})`);
    }
    if (p.lease !== undefined && p.lease !== false) {
      if (typeof p.lease !== 'object' || p.lease === null) {
        add(`${at}.lease`, 'must be an object { maxTokens, ttlMs, maxShareOfLevel? } or false');
      } else {
        for (const m of validateLeasePolicy(p.lease)) add(`${at}.lease`, m);
      }
    }
    for (const list of ['allowKeys', 'denyKeys'] as const) {
      const entries: unknown = p[list];
      if (entries === undefined) continue;
      if (!Array.isArray(entries)) {
        add(`${at}.${list}`, 'must be a list of keys');
        continue;
      }
      entries.forEach((k: unknown, j) => {
        const m = listedKeyProblem(k);
        if (m !== undefined) add(`${at}.${list}[${j}]`, m);
      });
    }
    const allow = new Set(p.allowKeys ?? []);
    for (const k of p.denyKeys ?? []) {
      if (allow.has(k)) add(`${at}.denyKeys`, `key "${k}" is in both allowKeys and denyKeys`);
    }
    (p.watchKeys ?? []).forEach((k, j) => {
      if (typeof k !== 'string' || k.length === 0)
        add(`${at}.watchKeys[${j}]`, 'must be a non-empty key');
    });
    validateApiAccess(p, `${at}.apiAccess`, add);
  });
  if (policyIds.size === 0) add('policies', 'must define at least one policy');
  const watched = (Array.isArray(config.policies) ? config.policies : []).reduce(
    (sum, p) => sum + (p.watchKeys?.length ?? 0),
    0,
  );
  if (watched > MAX_WATCHED_BUCKETS) {
    add(
      'policies[].watchKeys',
      `${watched} watched buckets; the reconciler measures at most ${MAX_WATCHED_BUCKETS} per run`,
    );
  }

  if (usesStrong) {
    if (config.strong === undefined) {
      add(
        'strong',
        'a policy uses consistency "strong": configure strong.tableName and strong.regions',
      );
    } else {
      const regions = config.strong.regions ?? [];
      if (!TABLE.test(config.strong.tableName ?? ''))
        add('strong.tableName', 'is not a valid table name');
      if (config.strong.tableName === config.tableName) {
        add('strong.tableName', 'must differ from tableName');
      }
      if (regions.length !== 3)
        add('strong.regions', `must list exactly 3 regions (got ${regions.length})`);
      const set = MRSC_REGION_SETS.find((s) => s.includes(regions[0] ?? ''));
      if (set === undefined || !regions.every((r) => set.includes(r))) {
        add(
          'strong.regions',
          `must all lie in one region set: ${MRSC_REGION_SETS.map((s) => s.join('/')).join(' | ')}`,
        );
      }
      if (new Set(regions).size !== regions.length) add('strong.regions', 'has duplicate regions');
      for (const r of regions) {
        if (!(config.regions ?? []).includes(r)) {
          add('strong.regions', `region "${r}" is not in regions`);
        }
      }
    }
  }

  const ruleIds = new Set<string>();
  rules.forEach((rule, i) => {
    const at = `rules[${i}]`;
    if (!ID.test(rule.id ?? '')) add(`${at}.id`, `"${rule.id}" must match ${ID}`);
    if (ruleIds.has(rule.id)) add(`${at}.id`, `duplicate rule id "${rule.id}"`);
    ruleIds.add(rule.id);
    if (rule.match?.path !== undefined && !rule.match.path.startsWith('/')) {
      add(`${at}.match.path`, 'must start with "/"');
    } else if (rule.match?.path !== undefined) {
      const m = globNormalFormProblem(rule.match.path);
      if (m !== undefined) add(`${at}.match.path`, m);
    }
    if (
      rule.match?.caseInsensitive !== undefined &&
      typeof rule.match.caseInsensitive !== 'boolean'
    ) {
      add(
        `${at}.match.caseInsensitive`,
        `must be true or false (got ${JSON.stringify(rule.match.caseInsensitive)})`,
      );
    }
    for (const m of rule.match?.methods ?? []) {
      if (!/^[A-Z]+$/.test(m))
        add(`${at}.match.methods`, `"${m}" must be an upper-case HTTP method`);
    }
    const single = (['policy', 'key', 'cost', 'onMissingKey'] as const).filter(
      (f) => rule[f] !== undefined,
    );
    if (rule.limits !== undefined) {
      if (single.length > 0) {
        add(
          at,
          `give either limits or ${single.join(', ')} on the rule, not both (limits: [{ policy, key, cost?, onMissingKey? }])`,
        );
      }
      if (!Array.isArray(rule.limits) || rule.limits.length === 0) {
        add(`${at}.limits`, 'must list at least one limit');
      } else if (rule.limits.length > MAX_LIMITS_PER_RULE) {
        add(
          `${at}.limits`,
          `lists ${rule.limits.length} limits; at most ${MAX_LIMITS_PER_RULE} (each is a bucket decided per request)`,
        );
      }
      const seen = new Set<string>();
      (Array.isArray(rule.limits) ? rule.limits : []).forEach((limit, j) => {
        if (seen.has(limit.policy)) {
          add(
            `${at}.limits[${j}].policy`,
            `policy "${limit.policy}" is charged twice; a rule charges each policy once (its headers name the policy)`,
          );
        }
        seen.add(limit.policy);
        validateLimit(limit, `${at}.limits[${j}]`, policies, add);
      });
    } else {
      validateLimit(limitsOf(rule)[0] as LimitConfig, at, policies, add);
    }
  });
  if (config.defaultRule !== undefined && !ruleIds.has(config.defaultRule)) {
    add('defaultRule', `unknown rule "${config.defaultRule}"`);
  }

  problems.push(...matchingProblems(config.matching));

  const alarms = config.alarms ?? {};
  for (const [k, v] of Object.entries(alarms)) {
    if (!(k in DEFAULT_ALARMS)) {
      add(
        `alarms.${k}`,
        `unknown alarm setting (known: ${Object.keys(DEFAULT_ALARMS).join(', ')})`,
      );
    } else if (typeof v !== 'number' || !(v > 0)) {
      add(`alarms.${k}`, `must be a positive number (got ${v})`);
    }
  }
  if (alarms.depletionRatio !== undefined && alarms.depletionRatio >= 1) {
    add('alarms.depletionRatio', 'must be below 1');
  }
  (config.notifications?.emails ?? []).forEach((e, i) => {
    if (!EMAIL.test(e)) add(`notifications.emails[${i}]`, `"${e}" is not an email address`);
  });
  (config.notifications?.httpsEndpoints ?? []).forEach((u, i) => {
    if (!/^https:\/\/[^\s/]+/.test(u))
      add(`notifications.httpsEndpoints[${i}]`, `"${u}" must be an https:// URL`);
  });
  const rt = config.runtime ?? {};
  for (const [k, v] of Object.entries(rt)) {
    if (!Number.isSafeInteger(v) || v <= 0)
      add(`runtime.${k}`, `must be a positive integer (got ${v})`);
  }
  if (rt.storeBudgetMs !== undefined && rt.storeBudgetMs > 3000) {
    add(
      'runtime.storeBudgetMs',
      'must leave room in the 5 s viewer-request timeout (at most 3000)',
    );
  }
  (config.regionalApi?.operators ?? []).forEach((o, i) => {
    if (typeof o !== 'string' || !OPERATOR.test(o)) {
      add(
        `regionalApi.operators[${i}]`,
        `"${o}" must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name>) or a 12-digit account id`,
      );
    }
  });
  if (
    rt.overridesRefreshMs !== undefined &&
    rt.overridesMaxAgeMs !== undefined &&
    rt.overridesMaxAgeMs < rt.overridesRefreshMs
  ) {
    add('runtime.overridesMaxAgeMs', 'must be at least runtime.overridesRefreshMs');
  }
  problems.push(...validateDeployment(config));
  return problems;
}

/** Problems of `matching` (an object of known fields only). */
function matchingProblems(matching: unknown): ConfigProblem[] {
  if (matching === undefined) return [];
  if (typeof matching !== 'object' || matching === null || Array.isArray(matching)) {
    return [{ path: 'matching', message: 'must be an object { caseInsensitive? }' }];
  }
  const problems: ConfigProblem[] = [];
  for (const [k, v] of Object.entries(matching)) {
    if (k !== 'caseInsensitive') {
      problems.push({
        path: `matching.${k}`,
        message: 'unknown matching setting (known: caseInsensitive)',
      });
    } else if (typeof v !== 'boolean') {
      problems.push({
        path: 'matching.caseInsensitive',
        message: `must be true or false (got ${JSON.stringify(v)})`,
      });
    }
  }
  return problems;
}

/**
 * Why a path glob could never match as written, if it could not: rules are
 * matched against normalised paths (functions/edge/normalise-path.ts), so a
 * glob must be written in that form (`*` counts as a literal character here).
 */
export function globNormalFormProblem(glob: string): string | undefined {
  const normal = normalisePath(glob);
  if (normal.kind === 'refused') {
    return `${JSON.stringify(glob)} can never match: requests with such paths are refused (${normal.reason})`;
  }
  if (normal.path === glob) return undefined;
  return `${JSON.stringify(glob)} can never match: paths are matched normalised, write ${JSON.stringify(normal.path)}`;
}

/** Throws {@link InvalidConfigError} listing every problem, if any. */
export function assertConfig(config: LimiterConfig): LimiterConfig {
  const problems = validateConfig(config);
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return config;
}

/**
 * The core bucket shape of a policy, defaults applied. A quota's is that of
 * one period (no refill; `endsAtMs` is the period's end, 0 until a period is
 * chosen: functions/config/resolve.ts `quotaPeriodPolicy`).
 */
export function bucketPolicyOf(p: PolicyConfig, endsAtMs = 0): BucketPolicy {
  if (p.quota !== undefined) {
    return { capacityTokens: p.quota.limit, refillTokens: 0, refillIntervalMs: 1, endsAtMs };
  }
  return {
    capacityTokens: p.capacityTokens as number,
    refillTokens: p.refillTokens as number,
    refillIntervalMs: p.refillIntervalMs ?? 1000,
  };
}

/** The problems of one limit of a rule (`at` is the path its fields hang from). */
function validateLimit(
  limit: LimitConfig,
  at: string,
  policies: readonly PolicyConfig[],
  add: (path: string, message: string) => void,
): void {
  const policy = policies.find((p) => p.id === limit.policy);
  if (policy === undefined) add(`${at}.policy`, `unknown policy "${limit.policy}"`);
  if (!Array.isArray(limit.key) || limit.key.length === 0)
    add(`${at}.key`, 'must have at least one part');
  (Array.isArray(limit.key) ? limit.key : []).forEach((part, j) => {
    const header = 'header' in part ? part.header : undefined;
    if (header !== undefined && !HEADER.test(header)) {
      add(`${at}.key[${j}].header`, `"${header}" must be a lower-case header name`);
    }
    if ('jwtClaim' in part && !part.jwtClaim) add(`${at}.key[${j}].jwtClaim`, 'must name a claim');
  });
  if (limit.onMissingKey !== undefined && !['ip', 'reject'].includes(limit.onMissingKey)) {
    add(`${at}.onMissingKey`, 'must be "ip" or "reject"');
  }
  if (policy !== undefined && (policy.quota === undefined || quotaProblems(policy).length === 0)) {
    for (const [where, cost] of costsOf(limit.cost)) {
      for (const m of validateCost(bucketPolicyOf(policy), cost)) add(`${at}.cost${where}`, m);
    }
  }
}

/** The problems of a quota policy, as [path below the policy, message]. */
function quotaProblems(p: PolicyConfig): [string, string][] {
  const problems: [string, string][] = [];
  const q = p.quota as QuotaConfig;
  if (typeof q !== 'object' || q === null)
    return [['.quota', 'must be { limit, period, timeZone? }']];
  for (const field of ['capacityTokens', 'refillTokens', 'refillIntervalMs'] as const) {
    if (p[field] !== undefined) {
      problems.push([
        `.${field}`,
        'is for token buckets; a quota has only quota.limit and quota.period',
      ]);
    }
  }
  if (!Number.isSafeInteger(q.limit) || q.limit <= 0) {
    problems.push(['.quota.limit', `must be a positive integer (got ${String(q.limit)})`]);
  } else if (q.limit > MAX_QUOTA_LIMIT) {
    problems.push(['.quota.limit', `must be at most ${MAX_QUOTA_LIMIT} (got ${q.limit})`]);
  }
  if (!QUOTA_PERIODS.includes(q.period)) {
    problems.push([
      '.quota.period',
      `must be one of ${QUOTA_PERIODS.join(', ')} (got ${JSON.stringify(q.period)})`,
    ]);
  }
  if (
    q.timeZone !== undefined &&
    (typeof q.timeZone !== 'string' || !isKnownTimeZone(q.timeZone))
  ) {
    problems.push([
      '.quota.timeZone',
      `unknown time zone ${JSON.stringify(q.timeZone)}: use UTC or an IANA name such as Europe/Paris`,
    ]);
  }
  if ((p.watchKeys ?? []).length > 0) {
    problems.push(['.watchKeys', 'the reconciler watches token buckets only, not quotas']);
  }
  return problems;
}

function costsOf(cost: CostConfig | undefined): [string, number][] {
  if (cost === undefined) return [['', 1]];
  if ('fixed' in cost) return [['.fixed', cost.fixed]];
  if ('perMethod' in cost) {
    return [
      ['.default', cost.default],
      ...Object.entries(cost.perMethod).map(([m, c]): [string, number] => [`.perMethod.${m}`, c]),
    ];
  }
  return [
    ['.maxTokens', cost.maxTokens],
    ['.minTokens', cost.minTokens ?? 1],
    ...(Number.isSafeInteger(cost.bodyBytesPerToken) && cost.bodyBytesPerToken > 0
      ? []
      : ([['.bodyBytesPerToken', Number.NaN]] as [string, number][])),
  ];
}

/** Fields of {@link PolicyApiAccess}. */
const API_ACCESS_FIELDS = new Set(['consume', 'maxCostPerCall', 'ipKeys']);

/** The problems of a policy's `apiAccess`: a mistyped field of a guard must not pass silently. */
function validateApiAccess(
  p: PolicyConfig,
  at: string,
  add: (path: string, message: string) => void,
): void {
  const access: unknown = p.apiAccess;
  if (access === undefined) return;
  if (typeof access !== 'object' || access === null || Array.isArray(access)) {
    add(at, 'must be an object { consume?, maxCostPerCall?, ipKeys? }');
    return;
  }
  const fields = access as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!API_ACCESS_FIELDS.has(name)) {
      add(`${at}.${name}`, `unknown field (known: ${[...API_ACCESS_FIELDS].join(', ')})`);
    }
  }
  for (const name of ['consume', 'ipKeys'] as const) {
    const value = fields[name];
    if (value !== undefined && typeof value !== 'boolean') {
      add(`${at}.${name}`, `must be true or false (got ${JSON.stringify(value)})`);
    }
  }
  const max = fields.maxCostPerCall;
  if (max !== undefined) {
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) {
      add(`${at}.maxCostPerCall`, `must be a positive integer (got ${JSON.stringify(max)})`);
    } else if (
      Number.isSafeInteger(bucketPolicyOf(p).capacityTokens) &&
      max > bucketPolicyOf(p).capacityTokens
    ) {
      add(
        `${at}.maxCostPerCall`,
        `${max} exceeds the policy's capacity ${bucketPolicyOf(p).capacityTokens}: no call could take it`,
      );
    }
  }
}

/**
 * What an `escrow` policy may not use: the `local` failure mode (a container
 * admitting on its own would spend rights no region holds) and watched keys
 * (the reconciler reads slot items).
 */
function escrowProblems(p: PolicyConfig): [string, string][] {
  const problems: [string, string][] = [];
  if (p.onStoreError === 'local') {
    problems.push([
      '.onStoreError',
      'cannot be local with consistency escrow: a container admitting on its own would spend rights no region holds; use closed or open',
    ]);
  }
  if ((p.watchKeys ?? []).length > 0) {
    problems.push(['.watchKeys', 'is not supported with consistency escrow']);
  }
  return problems;
}
