/**
 * Everything the stacks derive from the config, as pure functions and named
 * constants: stack names, table ARNs, which alarms exist and their thresholds.
 * Keeping the decisions here (not inside constructs) lets tests check them
 * without synthesizing, and keeps the constructs to wiring.
 */

import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { clientHeadersMode } from '../functions/config/client-headers';
import { resolveConfig } from '../functions/config/resolve';
import type {
  AlarmConfig,
  EdgeSystemLogLevel,
  LimiterConfig,
  PolicyConfig,
} from '../functions/config/schema';

/** Lambda@Edge functions must live here; the edge stack is deployed here. */
export const EDGE_REGION = 'us-east-1';

/** AWS partition of every ARN we build (commercial regions only). */
export const PARTITION = 'aws';

/**
 * Runtime of the regional functions. Node.js 20 reached end of support on
 * Lambda in April 2026 (creating functions on it is being blocked), so the
 * functions run on the newest runtime; the bundles target Node 20 (the
 * toolchain's version), which newer runtimes run unchanged.
 */
export const REGIONAL_RUNTIME = Runtime.NODEJS_24_X;
/** Runtime of the Lambda@Edge functions: the newest one Lambda@Edge lists as supported. */
export const EDGE_RUNTIME = Runtime.NODEJS_22_X;
/**
 * Node.js runtimes Lambda@Edge supports ("the latest versions of Node.js";
 * deprecated ones can no longer be created or updated). Tests hold
 * {@link EDGE_RUNTIME} to this list.
 */
export const LAMBDA_EDGE_NODE_RUNTIMES: readonly string[] = ['nodejs22.x', 'nodejs20.x'];

/**
 * Regions with a CloudFront regional edge cache, where Lambda@Edge runs and
 * writes its logs and metrics (AWS publishes no API for this list: check the
 * Regions the CloudFront console shows metrics for).
 */
export const LAMBDA_EDGE_REGIONS: readonly string[] = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'sa-east-1',
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-northeast-1',
  'ap-northeast-2',
];

/** The header CloudFront adds to origin requests unless the config names another. */
export const DEFAULT_ORIGIN_HEADER = 'x-origin-verify';
/** Length of the origin secret the edge stack generates (letters and digits). */
export const ORIGIN_SECRET_LENGTH = 48;
/** Viewer TLS policy with a custom domain unless the config names another. */
export const DEFAULT_VIEWER_TLS_POLICY = 'TLSv1.2_2021';
/** WAF rate-based rule window unless the config names another (s). */
export const DEFAULT_WAF_WINDOW_SECONDS = 300;

/** Regional API: memory (MB); 256 MB on arm64 keeps a decision's CPU time low. */
export const API_MEMORY_MB = 256;
/** Regional API timeout (s): a decision's store budget is at most 3 s. */
export const API_TIMEOUT_SECONDS = 5;
/** Reconciler memory (MB). */
export const RECONCILER_MEMORY_MB = 256;
/** Reconciler timeout (s): it runs every minute and must finish before the next run. */
export const RECONCILER_TIMEOUT_SECONDS = 50;
/** Reconciler schedule period (minutes). */
export const RECONCILE_EVERY_MINUTES = 1;
/** Lambda@Edge viewer triggers: at most 128 MB. */
export const EDGE_MEMORY_MB = 128;
/** Lambda@Edge viewer triggers: at most 5 s. */
export const EDGE_TIMEOUT_SECONDS = 5;
/** How long function logs are kept. */
export const LOG_RETENTION = RetentionDays.ONE_MONTH;
/** How long CloudFront access logs are kept (days). */
export const ACCESS_LOG_RETENTION_DAYS = 90;

/** Period of every alarm's metric (s). */
export const ALARM_PERIOD_SECONDS = 60;
/** Count alarms (errors, fallbacks, throttles): breaching minutes out of a window. */
export const COUNT_ALARM_WINDOW = { evaluationPeriods: 5, datapointsToAlarm: 3 } as const;
/** Sync lag: three minutes in a row (a missing minute counts as breaching). */
export const SYNC_LAG_WINDOW = { evaluationPeriods: 3, datapointsToAlarm: 3 } as const;
/** DynamoDB ReplicationLatency: five minutes in a row (it is noisy minute to minute). */
export const REPLICATION_LATENCY_WINDOW = { evaluationPeriods: 5, datapointsToAlarm: 5 } as const;
/** Depletion: two minutes out of three. */
export const DEPLETION_WINDOW = { evaluationPeriods: 3, datapointsToAlarm: 2 } as const;
/** Reconciler liveness: no invocation in this many minutes. */
export const RECONCILER_STALLED_MINUTES = 5;
/**
 * A heartbeat is written every run, so its age normally stays below one
 * period plus the replication lag; beyond this many periods plus the sync-lag
 * threshold, the writing region stopped or its replication to here broke.
 */
export const HEARTBEAT_STALE_PERIODS = 3;
/** CloudFront 5xx error rate (%) that pages: the viewer-request function may be failing. */
export const EDGE_5XX_RATE_PERCENT = 5;

/** The stacks of one deployment. */
export interface StackNames {
  readonly table: string;
  readonly strongTable: string;
  readonly edge: string;
  regional(region: string): string;
  edgeWatch(region: string): string;
}

/** Stack names; `cdk deploy <name>` uses them. */
export function stackNames(config: LimiterConfig): StackNames {
  return {
    table: `${config.appName}-Table`,
    strongTable: `${config.appName}-StrongTable`,
    edge: `${config.appName}-Edge`,
    regional: (region) => `${config.appName}-${region}`,
    edgeWatch: (region) => `${config.appName}-EdgeWatch-${region}`,
  };
}

/** The Lambda@Edge functions, by the name their role plays. */
export type EdgeFunctionRole = 'viewer-request' | 'viewer-response';

// Shared with the local runtime, which must not load the CDK (functions/config/client-headers.ts).
export { clientHeadersMode, DEFAULT_CLIENT_HEADERS } from '../functions/config/client-headers';

/**
 * Lambda's own log records the Lambda@Edge functions send unless the config
 * says otherwise: warnings only. At INFO, Lambda's start and report records
 * of every invocation of both functions cost about $0.31 per million
 * admitted requests in CloudWatch Logs ingestion (docs/cost.md); their
 * durations and memory are in the Lambda metrics anyway.
 */
export const DEFAULT_EDGE_SYSTEM_LOG_LEVEL: EdgeSystemLogLevel = 'WARN';

/** The system log level of the Lambda@Edge functions. */
export function edgeSystemLogLevel(config: LimiterConfig): EdgeSystemLogLevel {
  return config.edgeSystemLogLevel ?? DEFAULT_EDGE_SYSTEM_LOG_LEVEL;
}

/**
 * The Lambda@Edge functions a config deploys and associates: the limiter on
 * viewer requests, and the RateLimit headers on viewer responses unless
 * `clientHeaders` turns them off. Their alarms and dashboard widgets follow.
 */
export function edgeFunctionRoles(config: LimiterConfig): EdgeFunctionRole[] {
  return clientHeadersMode(config) === 'viewer-response'
    ? ['viewer-request', 'viewer-response']
    : ['viewer-request'];
}

/**
 * Name of a Lambda@Edge function. Fixed (not generated) so that the stacks of
 * other regions can name its metrics and logs, which Lambda@Edge publishes as
 * `us-east-1.<name>` in every region it runs in, without a cross-region
 * reference.
 */
export function edgeFunctionName(config: LimiterConfig, role: EdgeFunctionRole): string {
  return `${config.appName}-${role}`;
}

/** How a Lambda@Edge function is named in its metrics and logs outside us-east-1 too. */
export function edgeMetricFunctionName(config: LimiterConfig, role: EdgeFunctionRole): string {
  return `${EDGE_REGION}.${edgeFunctionName(config, role)}`;
}

/** Regions whose regional edge caches get edge alarms. */
export function edgeWatchRegions(config: LimiterConfig): readonly string[] {
  return config.edgeMonitoring?.regions ?? LAMBDA_EDGE_REGIONS;
}

/** Regions a function may use: `regions` without the retiring ones. */
export function activeRegions(config: LimiterConfig): string[] {
  const retiring = new Set(config.retiringRegions ?? []);
  return config.regions.filter((r) => !retiring.has(r));
}

/**
 * The config compiled into the function bundles: the active regions only, and
 * none of the deployment-only settings (origin protection, distribution, edge
 * monitoring, client headers, the edge system log level, the deploy record),
 * so that changing those leaves every bundle as it was (and publishes no new
 * Lambda@Edge version, but for the log level: Lambda keeps a function's log
 * settings with each version). The edge bundles carry less still:
 * only `edgeConfigOf` of this (scripts/build-functions.ts).
 */
export function functionConfig(config: LimiterConfig): LimiterConfig {
  const {
    originProtection: _originProtection,
    distribution: _distribution,
    edgeMonitoring: _edgeMonitoring,
    clientHeaders: _clientHeaders,
    edgeSystemLogLevel: _edgeSystemLogLevel,
    retiringRegions: _retiringRegions,
    deployed: _deployed,
    ...rest
  } = config;
  return { ...rest, regions: activeRegions(config) };
}

/**
 * The region of the strong table stack. It must not follow the order of
 * `strong.regions` (reordering the list would move the stack and try to
 * create the table again elsewhere): the primary region when it is a strong
 * region, otherwise the first strong region in alphabetical order.
 */
export function strongHomeRegion(config: LimiterConfig): string | undefined {
  const strong = config.strong?.regions;
  if (strong === undefined || strong.length === 0) return undefined;
  const primary = primaryRegion(config);
  return strong.includes(primary) ? primary : [...strong].sort()[0];
}

/** Whether CloudFront adds the secret origin header. */
export function originHeaderEnabled(config: LimiterConfig): boolean {
  return config.originProtection?.enabled ?? (config.origin.kind ?? 'http') === 'http';
}

/** The header CloudFront adds to origin requests. */
export function originHeaderName(config: LimiterConfig): string {
  return config.originProtection?.headerName ?? DEFAULT_ORIGIN_HEADER;
}

/** The primary region: the table stack (and its replicas) is deployed from there. */
export function primaryRegion(config: LimiterConfig): string {
  const primary = config.regions[0];
  if (primary === undefined) throw new RangeError('config.regions is empty');
  return primary;
}

/** Whether any policy uses the strongly consistent (MRSC) table. */
export function usesStrongTable(config: LimiterConfig): boolean {
  return config.policies.some((p) => p.consistency === 'strong') && config.strong !== undefined;
}

/** ARN of a table replica. */
export function tableArn(account: string, region: string, tableName: string): string {
  return `arn:${PARTITION}:dynamodb:${region}:${account}:table/${tableName}`;
}

/** Which replicas a function may reach. */
export interface TableScope {
  /** Replicas of the eventual table: every region, or one. */
  readonly regions: 'all' | { readonly only: string };
  /** Also every replica of the strong table, when one exists. */
  readonly strong: boolean;
}

/**
 * ARNs of the table replicas a function may use: the eventual table in the
 * given regions, plus every replica of the strong table when asked and one
 * exists (a region outside the strong region set reaches it remotely).
 */
export function tableArns(config: LimiterConfig, scope: TableScope): string[] {
  const regions = scope.regions === 'all' ? config.regions : [scope.regions.only];
  const arns = regions.map((r) => tableArn(config.account, r, config.tableName));
  if (scope.strong && usesStrongTable(config) && config.strong !== undefined) {
    const strong = config.strong;
    arns.push(...strong.regions.map((r) => tableArn(config.account, r, strong.tableName)));
  }
  return arns;
}

/** Alarm thresholds with defaults applied (the resolved config's). */
export function alarmThresholds(config: LimiterConfig): Required<AlarmConfig> {
  return resolveConfig(config).alarms;
}

/** A watched bucket that gets a depletion alarm. */
export interface WatchedKey {
  readonly policy: PolicyConfig;
  readonly key: string;
}

/**
 * Watched buckets with a depletion alarm: every `watchKeys` entry of an
 * eventual policy (the reconciler reports no level for strong policies: their
 * single slot has no replica spread).
 */
export function watchedKeys(config: LimiterConfig): WatchedKey[] {
  return [...resolveConfig(config).policies.values()]
    .filter((p) => p.consistency === 'eventual')
    .flatMap((p) => p.watchKeys.map((key) => ({ policy: p.config, key })));
}

/** The other regions of a deployment, in config order. */
export function otherRegions(config: LimiterConfig, region: string): string[] {
  return config.regions.filter((r) => r !== region);
}

/** Heartbeat age (ms) beyond which a source region's heartbeat counts as stale. */
export function heartbeatStaleMs(config: LimiterConfig): number {
  return (
    HEARTBEAT_STALE_PERIODS * RECONCILE_EVERY_MINUTES * 60_000 + alarmThresholds(config).syncLagMs
  );
}
