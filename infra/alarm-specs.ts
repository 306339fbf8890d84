/**
 * The alarms (docs/design.md, Observability) as data: which metric, which statistic, which
 * threshold, how many minutes, and what a missing data point means. The
 * constructs turn each spec into a CloudWatch alarm with SNS actions; tests
 * and docs/operations.md follow the same list, so an alarm cannot exist in one place
 * and not the others.
 *
 * Where each metric lives decides the region of its alarm:
 * - the reconciler of region R writes its heartbeat in R and polls it in every
 *   other replica O, so `SyncLagMs{SourceRegion=R, ReceivingRegion=O}` is
 *   published in R, like DynamoDB's `ReplicationLatency{ReceivingRegion=O}`;
 * - it also reads every other region's heartbeat from R's replica, so
 *   `HeartbeatAgeMs{SourceRegion=O, ReceivingRegion=R}` is published in R;
 * - hot-path metrics (EMF) land in the region of the function that emitted
 *   them, with an aggregate series without dimensions.
 *
 * Missing data, chosen per alarm: a missing sync lag means the reconciler or
 * its publishing is dead, an incident, so it breaches; missing counts mean
 * nothing failed; missing reconciler-derived levels and heartbeat ages keep
 * the alarm's state, since the reconciler-stalled alarm already pages for a
 * dead reconciler and an OK would be a lie.
 */

import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { LimiterConfig } from '../functions/config/schema';
import { DIMENSION, METRIC, METRIC_NAMESPACE } from '../functions/shared/metric-names';
import {
  ALARM_PERIOD_SECONDS,
  alarmThresholds,
  COUNT_ALARM_WINDOW,
  DEPLETION_WINDOW,
  EDGE_5XX_RATE_PERCENT,
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
const RUNBOOK = 'Runbook: docs/operations.md, "What each alarm means and what to do".';

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
  ): AlarmSpec => ({
    id,
    alarmName: `${prefix}-${kebab(id)}`,
    description: `${what} reached ${threshold} per minute in ${COUNT_ALARM_WINDOW.datapointsToAlarm} of ${COUNT_ALARM_WINDOW.evaluationPeriods} minutes in ${region}. ${todo} ${RUNBOOK}`,
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
      description: `Replication ${region} → ${other} measured by the reconciler exceeds ${t.syncLagMs} ms, or the reconciler in ${region} publishes no measurement (missing data breaches). Over-admission grows with this lag. ${RUNBOOK}`,
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
      description: `The newest heartbeat of ${other} seen in ${region}'s replica is older than ${heartbeatStaleMs(config)} ms: the reconciler of ${other} stopped, or replication ${other} → ${region} is broken. ${RUNBOOK}`,
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
      description: `DynamoDB ReplicationLatency of ${config.tableName} from ${region} to ${other} averages above ${t.replicationLatencyMs} ms for ${REPLICATION_LATENCY_WINDOW.evaluationPeriods} minutes. ${RUNBOOK}`,
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
    description: `The reconciler in ${region} was not invoked for ${RECONCILER_STALLED_MINUTES} minutes: no sync lag, heartbeat or watched level is measured here. Check the EventBridge Scheduler schedule. ${RUNBOOK}`,
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

  watchedKeys(config).forEach(({ policy, key }, i) => {
    specs.push({
      id: `Depletion-${policy.id}-${i}`,
      alarmName: `${prefix}-depletion-${policy.id}-${kebab(key).slice(0, 64)}`,
      description: `Watched bucket ${policy.id}/${key} is below ${t.depletionRatio * 100} % of its ${policy.capacityTokens} tokens as seen from ${region} (${DEPLETION_WINDOW.datapointsToAlarm} of ${DEPLETION_WINDOW.evaluationPeriods} minutes): callers sharing it are about to be refused. ${RUNBOOK}`,
      metric: limiterMetric(METRIC.WatchedBucketLevelRatio, 'Minimum', {
        [DIMENSION.Policy]: policy.id,
        [DIMENSION.Key]: key,
      }),
      threshold: t.depletionRatio,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      ...DEPLETION_WINDOW,
      treatMissingData: TreatMissingData.IGNORE,
    });
  });

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
      description: `CloudFront answers 5xx to at least ${EDGE_5XX_RATE_PERCENT} % of requests (${COUNT_ALARM_WINDOW.datapointsToAlarm} of ${COUNT_ALARM_WINDOW.evaluationPeriods} minutes): the viewer-request function or the origin is failing. ${RUNBOOK}`,
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

function kebab(id: string): string {
  return id
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .toLowerCase();
}
