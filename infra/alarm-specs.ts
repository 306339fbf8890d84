/**
 * The limiter's alarms as data: which metric, which statistic, which
 * threshold, how many minutes, and what a missing data point means. The
 * constructs turn each spec into a CloudWatch alarm with SNS actions; tests
 * and the runbooks (docs/runbooks.md) read the same list, so an alarm cannot
 * exist in one place and not the others.
 *
 * Where each metric lives decides the region of its alarm:
 * - the reconciler of region R writes its heartbeat in R and polls it in every
 *   other replica O, so `SyncLagMs{SourceRegion=R, ReceivingRegion=O}` is
 *   published in R, like DynamoDB's `ReplicationLatency{ReceivingRegion=O}`;
 * - it also reads every other region's heartbeat from R's replica, so
 *   `HeartbeatAgeMs{SourceRegion=O, ReceivingRegion=R}` is published in R;
 * - hot-path metrics (EMF) land in the region of the function that emitted
 *   them, with an aggregate series without dimensions. For Lambda@Edge that
 *   is the region of the regional edge cache that served the request, and
 *   its Lambda metrics are named `us-east-1.<function>` there: every such
 *   region gets its own edge alarms ({@link edgeRegionAlarmSpecs}), because
 *   an alarm can only watch metrics of its own region.
 *
 * Names: an alarm name is unique per account and region, so every name
 * carries the app, the region and what it watches; a watched key, which may
 * hold any character, is slugged and suffixed with a hash of its exact value
 * (keys `tenant.a` and `tenant-a` slug alike). {@link duplicateAlarmNames}
 * checks the whole app before synthesis.
 *
 * Missing data, chosen per alarm: a missing sync lag means the reconciler or
 * its publishing is dead, an incident, so it breaches; missing counts mean
 * nothing failed; missing reconciler-derived levels and heartbeat ages keep
 * the alarm's state, since the reconciler-stalled alarm already pages for a
 * dead reconciler and an OK would be a lie.
 */

import { createHash } from 'node:crypto';
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { LimiterConfig } from '../functions/config/schema';
import { DIMENSION, METRIC, METRIC_NAMESPACE } from '../functions/shared/metric-names';
import {
  ALARM_PERIOD_SECONDS,
  alarmThresholds,
  COUNT_ALARM_WINDOW,
  DEPLETION_WINDOW,
  EDGE_5XX_RATE_PERCENT,
  type EdgeFunctionRole,
  edgeMetricFunctionName,
  heartbeatStaleMs,
  otherRegions,
  RECONCILER_STALLED_MINUTES,
  REPLICATION_LATENCY_WINDOW,
  SYNC_LAG_WINDOW,
  usesStrongTable,
  watchedKeys,
} from './defaults';

/** One CloudWatch metric. */
export interface MetricSpec {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  /** CloudWatch statistic, e.g. `Sum`, `Maximum`, `p99`. */
  readonly statistic: string;
  /** @default {@link ALARM_PERIOD_SECONDS} */
  readonly periodSeconds?: number;
  /** Region of the metric, for dashboards only (an alarm watches its own region). @default the stack's */
  readonly region?: string;
}

/** A metric math expression over named metrics. */
export interface ExpressionSpec {
  readonly expression: string;
  readonly metrics: Readonly<Record<string, MetricSpec>>;
  readonly label: string;
  /** @default {@link ALARM_PERIOD_SECONDS} */
  readonly periodSeconds?: number;
}

/** One alarm. */
export interface AlarmSpec {
  /** Construct id, unique in its stack. */
  readonly id: string;
  /** Alarm name, unique in the account and region. */
  readonly alarmName: string;
  /** What it means and what to do; shown in the page. */
  readonly description: string;
  readonly metric: MetricSpec | ExpressionSpec;
  readonly threshold: number;
  readonly comparison: ComparisonOperator;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly treatMissingData: TreatMissingData;
}

/** The deployed names the regional alarms refer to (tokens at synth time). */
export interface RegionalAlarmTargets {
  readonly apiFunctionName: string;
  readonly reconcilerFunctionName: string;
}

const LAMBDA = 'AWS/Lambda';
const DYNAMODB = 'AWS/DynamoDB';
const CLOUDFRONT = 'AWS/CloudFront';
/** Where the runbooks live, relative to the repository root. */
export const RUNBOOK_FILE = 'docs/runbooks.md';
/** CloudWatch's limit on an alarm name (characters). */
export const MAX_ALARM_NAME_LENGTH = 255;
/** Longest slug of a watched key in a depletion alarm name (the hash follows it). */
const KEY_SLUG_LENGTH = 48;

/** The sentence that points a page at its runbook section. */
export function runbookLink(anchor: string): string {
  return `Runbook: ${RUNBOOK_FILE}#${anchor}`;
}

/** Whether a spec is a math expression. */
export function isExpression(metric: MetricSpec | ExpressionSpec): metric is ExpressionSpec {
  return 'expression' in metric;
}

/** A limiter metric (namespace {@link METRIC_NAMESPACE}). */
export function limiterMetric(
  metricName: string,
  statistic: string,
  dimensions: Readonly<Record<string, string>> = {},
): MetricSpec {
  return { namespace: METRIC_NAMESPACE, metricName, dimensions, statistic };
}

/** Every alarm of the regional stack of `region`. */
export function regionalAlarmSpecs(
  config: LimiterConfig,
  region: string,
  targets: RegionalAlarmTargets,
): AlarmSpec[] {
  const t = alarmThresholds(config);
  const prefix = `${config.appName}-${region}`;
  const specs: AlarmSpec[] = [];
  const count = (
    id: string,
    what: string,
    metric: MetricSpec | ExpressionSpec,
    threshold: number,
    todo: string,
    anchor = kebab(id),
  ): AlarmSpec => ({
    id,
    alarmName: `${prefix}-${kebab(id)}`,
    description: `${what} reached ${threshold} per minute in ${COUNT_ALARM_WINDOW.datapointsToAlarm} of ${COUNT_ALARM_WINDOW.evaluationPeriods} minutes in ${region}. ${todo} ${runbookLink(anchor)}`,
    metric,
    threshold,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ...COUNT_ALARM_WINDOW,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });

  for (const other of otherRegions(config, region)) {
    specs.push({
      id: `SyncLagTo-${other}`,
      alarmName: `${prefix}-sync-lag-to-${other}`,
      description: `Replication ${region} → ${other} measured by the reconciler exceeds ${t.syncLagMs} ms, or the reconciler in ${region} publishes no measurement (missing data breaches). Over-admission grows with this lag. ${runbookLink('sync-lag-to-region')}`,
      metric: limiterMetric(METRIC.SyncLagMs, 'Maximum', {
        [DIMENSION.SourceRegion]: region,
        [DIMENSION.ReceivingRegion]: other,
      }),
      threshold: t.syncLagMs,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      ...SYNC_LAG_WINDOW,
      treatMissingData: TreatMissingData.BREACHING,
    });
    specs.push({
      id: `HeartbeatStaleFrom-${other}`,
      alarmName: `${prefix}-heartbeat-stale-from-${other}`,
      description: `The newest heartbeat of ${other} seen in ${region}'s replica is older than ${heartbeatStaleMs(config)} ms: the reconciler of ${other} stopped, or replication ${other} → ${region} is broken. ${runbookLink('heartbeat-stale-from-region')}`,
      metric: limiterMetric(METRIC.HeartbeatAgeMs, 'Minimum', {
        [DIMENSION.SourceRegion]: other,
        [DIMENSION.ReceivingRegion]: region,
      }),
      threshold: heartbeatStaleMs(config),
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      ...SYNC_LAG_WINDOW,
      treatMissingData: TreatMissingData.IGNORE,
    });
    specs.push({
      id: `ReplicationLatencyTo-${other}`,
      alarmName: `${prefix}-replication-latency-to-${other}`,
      description: `DynamoDB ReplicationLatency of ${config.tableName} from ${region} to ${other} averages above ${t.replicationLatencyMs} ms for ${REPLICATION_LATENCY_WINDOW.evaluationPeriods} minutes. ${runbookLink('replication-latency-to-region')}`,
      metric: {
        namespace: DYNAMODB,
        metricName: 'ReplicationLatency',
        dimensions: { TableName: config.tableName, ReceivingRegion: other },
        statistic: 'Average',
      },
      threshold: t.replicationLatencyMs,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      ...REPLICATION_LATENCY_WINDOW,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  specs.push({
    id: 'ReconcilerStalled',
    alarmName: `${prefix}-reconciler-stalled`,
    description: `The reconciler in ${region} was not invoked for ${RECONCILER_STALLED_MINUTES} minutes: no sync lag, heartbeat or watched level is measured here. Check the EventBridge Scheduler schedule. ${runbookLink('reconciler-stalled')}`,
    metric: {
      namespace: LAMBDA,
      metricName: 'Invocations',
      dimensions: { FunctionName: targets.reconcilerFunctionName },
      statistic: 'Sum',
      periodSeconds: RECONCILER_STALLED_MINUTES * 60,
    },
    threshold: 1,
    comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: TreatMissingData.BREACHING,
  });

  for (const { policy, key } of watchedKeys(config)) {
    const keyId = watchedKeyId(key);
    specs.push({
      // From the key, not its position: reordering watchKeys keeps every alarm's logical id.
      id: `Depletion-${policy.id}-${keyId.hash}`,
      alarmName: `${prefix}-depletion-${policy.id}-${keyId.slug}`,
      description: `Watched bucket ${policy.id}/${key} is below ${t.depletionRatio * 100} % of its ${policy.capacityTokens} tokens as seen from ${region} (${DEPLETION_WINDOW.datapointsToAlarm} of ${DEPLETION_WINDOW.evaluationPeriods} minutes): callers sharing it are about to be refused. ${runbookLink('depletion')}`,
      metric: limiterMetric(METRIC.WatchedBucketLevelRatio, 'Minimum', {
        [DIMENSION.Policy]: policy.id,
        [DIMENSION.Key]: key,
      }),
      threshold: t.depletionRatio,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      ...DEPLETION_WINDOW,
      treatMissingData: TreatMissingData.IGNORE,
    });
  }

  specs.push(
    count(
      'StoreErrors',
      'Failed store calls (timeouts, throttles, unavailable) of the limiter',
      limiterMetric(METRIC.StoreErrors, 'Sum'),
      t.storeErrorsPerMinute,
      'Decisions are falling back to each policy onStoreError mode.',
    ),
  );
  const tables = [config.tableName];
  if (usesStrongTable(config) && config.strong?.regions.includes(region)) {
    tables.push(config.strong.tableName);
  }
  tables.forEach((tableName, i) => {
    const dims = { TableName: tableName };
    specs.push(
      count(
        i === 0 ? 'StoreThrottles' : 'StrongStoreThrottles',
        `DynamoDB read and write throttle events on ${tableName}`,
        {
          expression: 'FILL(r, 0) + FILL(w, 0)',
          metrics: {
            r: {
              namespace: DYNAMODB,
              metricName: 'ReadThrottleEvents',
              dimensions: dims,
              statistic: 'Sum',
            },
            w: {
              namespace: DYNAMODB,
              metricName: 'WriteThrottleEvents',
              dimensions: dims,
              statistic: 'Sum',
            },
          },
          label: `${tableName} throttle events`,
        },
        t.storeErrorsPerMinute,
        'On-demand tables throttle on hot partitions: look for one hot bucket (a shared key).',
        'store-throttles',
      ),
    );
  });
  specs.push(
    count(
      'Fallbacks',
      'Decisions taken by a failure mode (open, closed or local) instead of the store',
      limiterMetric(METRIC.Fallbacks, 'Sum'),
      t.fallbacksPerMinute,
      'Limits are not enforced exactly while this lasts.',
    ),
  );
  const functions = [
    ['Api', 'regional API', targets.apiFunctionName],
    ['Reconciler', 'reconciler', targets.reconcilerFunctionName],
  ] as const;
  for (const [id, label, functionName] of functions) {
    for (const metricName of ['Errors', 'Throttles'] as const) {
      specs.push(
        count(
          `${id}${metricName}`,
          `${metricName} of the ${label} function`,
          {
            namespace: LAMBDA,
            metricName,
            dimensions: { FunctionName: functionName },
            statistic: 'Sum',
          },
          t.functionErrorsPerMinute,
          'Read the function logs in this region.',
          'function-errors-and-throttles',
        ),
      );
    }
  }
  return specs;
}

/** The alarms of the edge stack (us-east-1, where CloudFront publishes its metrics). */
export function edgeAlarmSpecs(config: LimiterConfig, distributionId: string): AlarmSpec[] {
  return [
    {
      id: 'Edge5xxErrorRate',
      alarmName: `${config.appName}-edge-5xx-error-rate`,
      description: `CloudFront answers 5xx to at least ${EDGE_5XX_RATE_PERCENT} % of requests (${COUNT_ALARM_WINDOW.datapointsToAlarm} of ${COUNT_ALARM_WINDOW.evaluationPeriods} minutes): the viewer-request function or the origin is failing. ${runbookLink('edge-5xx-error-rate')}`,
      metric: {
        namespace: CLOUDFRONT,
        metricName: '5xxErrorRate',
        dimensions: { DistributionId: distributionId, Region: 'Global' },
        statistic: 'Average',
      },
      threshold: EDGE_5XX_RATE_PERCENT,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      ...COUNT_ALARM_WINDOW,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    },
  ];
}

/** What a region's edge alarms watch. */
export interface EdgeRegionAlarmOptions {
  /**
   * Also alarm on the limiter's fallbacks and store errors (the aggregate
   * series). Off in table regions, whose regional stack already alarms on
   * them (the edge and the regional API publish the same series there).
   */
  readonly limiterMetrics: boolean;
  /** The edge functions deployed (the viewer-response one is optional). */
  readonly functions: readonly EdgeFunctionRole[];
  /**
   * Start of every alarm name. The regional stack of a table region and the
   * edge-watch stack of a region without one use different prefixes, so a
   * region that changes from one to the other never has two stacks claiming
   * one alarm name.
   */
  readonly namePrefix: string;
}

/**
 * The alarms on the Lambda@Edge functions in one region where they run: their
 * Lambda errors and throttles (named `us-east-1.<function>` there) and, when
 * asked, the limiter's fallbacks and store errors. The CloudFront 5xx rate
 * cannot stand in for these: a fallback with `onStoreError: 'open'` answers
 * 2xx, so a store outage seen from one region would silently turn limiting
 * off there.
 */
export function edgeRegionAlarmSpecs(
  config: LimiterConfig,
  region: string,
  options: EdgeRegionAlarmOptions,
): AlarmSpec[] {
  const t = alarmThresholds(config);
  const prefix = options.namePrefix;
  const count = (
    id: string,
    anchor: string,
    what: string,
    metric: MetricSpec,
    threshold: number,
    todo: string,
  ): AlarmSpec => ({
    id,
    alarmName: `${prefix}-${kebab(id.replace(/^Edge/, ''))}`,
    description: `${what} reached ${threshold} per minute in ${COUNT_ALARM_WINDOW.datapointsToAlarm} of ${COUNT_ALARM_WINDOW.evaluationPeriods} minutes in ${region} (Lambda@Edge serving viewers near this region). ${todo} ${runbookLink(anchor)}`,
    metric,
    threshold,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ...COUNT_ALARM_WINDOW,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  const specs: AlarmSpec[] = [];
  if (options.limiterMetrics) {
    specs.push(
      count(
        'EdgeFallbacks',
        'edge-fallbacks',
        'Edge decisions taken by a failure mode (open, closed or local) instead of the store',
        limiterMetric(METRIC.Fallbacks, 'Sum'),
        t.fallbacksPerMinute,
        'Limits are not enforced exactly for viewers served from here.',
      ),
      count(
        'EdgeStoreErrors',
        'edge-store-errors',
        'Failed store calls of the edge limiter',
        limiterMetric(METRIC.StoreErrors, 'Sum'),
        t.storeErrorsPerMinute,
        'The edge cannot reach its replica from here in time.',
      ),
    );
  }
  for (const role of options.functions) {
    const name = edgeMetricFunctionName(config, role);
    const label = role === 'viewer-request' ? 'ViewerRequest' : 'ViewerResponse';
    for (const metricName of ['Errors', 'Throttles'] as const) {
      specs.push(
        count(
          `Edge${label}${metricName}`,
          `edge-function-${metricName.toLowerCase()}`,
          `Lambda ${metricName} of the ${role} function (${name})`,
          {
            namespace: LAMBDA,
            metricName,
            dimensions: { FunctionName: name },
            statistic: 'Sum',
          },
          t.functionErrorsPerMinute,
          metricName === 'Errors'
            ? `Read /aws/lambda/${name} in this region.`
            : 'The regional concurrency Lambda@Edge shares with every function of the account here is exhausted.',
        ),
      );
    }
  }
  return specs;
}

/** A watched key as it appears in names: a readable slug and a hash of the exact key. */
export function watchedKeyId(key: string): { readonly slug: string; readonly hash: string } {
  const hash = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 8);
  const readable = kebab(key)
    .replace(/^-+|-+$/g, '')
    .slice(0, KEY_SLUG_LENGTH);
  return { slug: readable.length > 0 ? `${readable}-${hash}` : hash, hash };
}

/** The alarms of one stack, for {@link duplicateAlarmNames}. */
export interface AlarmGroup {
  readonly stack: string;
  readonly region: string;
  readonly specs: readonly AlarmSpec[];
}

/**
 * Alarm names that are used twice in one region (across every stack of the
 * app) or that are too long, one message each. Synthesis would accept them;
 * the deploy would fail or, worse, two stacks would overwrite one alarm.
 */
export function duplicateAlarmNames(groups: readonly AlarmGroup[]): string[] {
  const owners = new Map<string, string[]>();
  const problems: string[] = [];
  for (const group of groups) {
    for (const spec of group.specs) {
      const key = `${group.region}\u0000${spec.alarmName}`;
      owners.set(key, [...(owners.get(key) ?? []), `${group.stack}/${spec.id}`]);
      if (spec.alarmName.length > MAX_ALARM_NAME_LENGTH) {
        problems.push(
          `alarm name ${spec.alarmName} (${group.stack}/${spec.id}) is longer than ${MAX_ALARM_NAME_LENGTH} characters`,
        );
      }
    }
  }
  for (const [key, users] of owners) {
    if (users.length > 1) {
      const [region, name] = key.split('\u0000');
      problems.push(
        `alarm name ${name} is used ${users.length} times in ${region}: ${users.join(', ')}`,
      );
    }
  }
  return problems;
}

function kebab(id: string): string {
  return id
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .toLowerCase();
}
