/**
 * One dashboard per region: the limiter at a glance. Top row: every alarm's
 * state. Then what callers experience (decisions by policy and outcome,
 * remaining ratio), what the store does (latency percentiles, errors,
 * fallbacks, conditional retries), replication (sync lag, heartbeat age,
 * DynamoDB ReplicationLatency), watched buckets, and the functions.
 *
 * Metrics come from the same spec helpers as the alarms, so a graph and the
 * alarm watching it cannot disagree on a name or a dimension.
 */

import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { LimiterConfig } from '../../functions/config/schema';
import { DIMENSION, METRIC, OUTCOME } from '../../functions/shared/metric-names';
import { limiterMetric } from '../alarm-specs';
import { otherRegions, watchedKeys } from '../defaults';
import { suppressStaleDashboardSchema } from './cfn-lint-suppressions';
import { toMetric } from './metrics';

/** Widget sizes on the 24-column grid. */
const FULL_WIDTH = 24;
const HALF_WIDTH = 12;
const THIRD_WIDTH = 8;
const GRAPH_HEIGHT = 6;
const ALARM_ROW_HEIGHT = 4;

/** Properties of {@link LimiterDashboard}. */
export interface LimiterDashboardProps {
  readonly dashboardName: string;
  readonly config: LimiterConfig;
  readonly region: string;
  readonly alarms: readonly cloudwatch.IAlarm[];
  readonly apiFunction: lambda.IFunction;
  readonly reconcilerFunction: lambda.IFunction;
}

/** The region's dashboard. */
export class LimiterDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: LimiterDashboardProps) {
    super(scope, id);
    const { config, region } = props;
    const policies = config.policies.map((p) => p.id);
    const others = otherRegions(config, region);
    const graph = (title: string, left: cloudwatch.IMetric[], width = THIRD_WIDTH) =>
      new cloudwatch.GraphWidget({ title, left, width, height: GRAPH_HEIGHT });
    const limiter = (
      name: string,
      statistic: string,
      label: string,
      dims: Record<string, string> = {},
    ) => toMetric(limiterMetric(name, statistic, dims), label);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
    });
    suppressStaleDashboardSchema(this.dashboard);
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: `Alarms (${region})`,
        alarms: [...props.alarms],
        width: FULL_WIDTH,
        height: ALARM_ROW_HEIGHT,
      }),
    );
    this.dashboard.addWidgets(
      graph(
        'Decisions by policy (allowed / refused / shadow-refused)',
        config.policies.flatMap((p) =>
          [OUTCOME.Allowed, OUTCOME.Refused, ...(p.shadow ? [OUTCOME.ShadowRefused] : [])].map(
            (outcome) =>
              limiter(METRIC.Decisions, 'Sum', `${p.id} ${outcome}`, {
                [DIMENSION.Policy]: p.id,
                [DIMENSION.Outcome]: outcome,
              }),
          ),
        ),
        HALF_WIDTH,
      ),
      graph(
        'Remaining tokens / capacity (average)',
        policies.map((p) =>
          limiter(METRIC.RemainingRatio, 'Average', p, { [DIMENSION.Policy]: p }),
        ),
        HALF_WIDTH,
      ),
    );
    this.dashboard.addWidgets(
      graph('Store latency (ms)', [
        limiter(METRIC.StoreLatency, 'p50', 'p50'),
        limiter(METRIC.StoreLatency, 'p99', 'p99'),
      ]),
      graph('Store errors, fallbacks, retries', [
        limiter(METRIC.StoreErrors, 'Sum', 'store errors'),
        limiter(METRIC.Fallbacks, 'Sum', 'fallbacks'),
        limiter(METRIC.ConditionalRetries, 'Sum', 'conditional retries'),
      ]),
      graph('DynamoDB throttle events', [
        toMetric(
          {
            namespace: 'AWS/DynamoDB',
            metricName: 'ReadThrottleEvents',
            dimensions: { TableName: config.tableName },
            statistic: 'Sum',
          },
          'read throttles',
        ),
        toMetric(
          {
            namespace: 'AWS/DynamoDB',
            metricName: 'WriteThrottleEvents',
            dimensions: { TableName: config.tableName },
            statistic: 'Sum',
          },
          'write throttles',
        ),
      ]),
    );
    if (others.length > 0) {
      const link = (source: string, receiving: string) => ({
        [DIMENSION.SourceRegion]: source,
        [DIMENSION.ReceivingRegion]: receiving,
      });
      this.dashboard.addWidgets(
        graph(
          `Sync lag from ${region} (ms, max)`,
          others.map((o) => limiter(METRIC.SyncLagMs, 'Maximum', `to ${o}`, link(region, o))),
        ),
        graph(
          `Heartbeat age seen in ${region} (ms)`,
          others.map((o) =>
            limiter(METRIC.HeartbeatAgeMs, 'Minimum', `from ${o}`, link(o, region)),
          ),
        ),
        graph(
          'DynamoDB ReplicationLatency (ms, average)',
          others.map((o) =>
            toMetric(
              {
                namespace: 'AWS/DynamoDB',
                metricName: 'ReplicationLatency',
                dimensions: { TableName: config.tableName, ReceivingRegion: o },
                statistic: 'Average',
              },
              `to ${o}`,
            ),
          ),
        ),
      );
    }
    const watched = watchedKeys(config);
    if (watched.length > 0) {
      const dims = (policy: string, key: string) => ({
        [DIMENSION.Policy]: policy,
        [DIMENSION.Key]: key,
      });
      this.dashboard.addWidgets(
        graph(
          'Watched buckets: level / capacity (min)',
          watched.map(({ policy, key }) =>
            limiter(
              METRIC.WatchedBucketLevelRatio,
              'Minimum',
              `${policy.id}/${key}`,
              dims(policy.id, key),
            ),
          ),
          HALF_WIDTH,
        ),
        graph(
          'Watched buckets: spread across replicas (tokens, max)',
          watched.map(({ policy, key }) =>
            limiter(
              METRIC.WatchedBucketDivergenceTokens,
              'Maximum',
              `${policy.id}/${key}`,
              dims(policy.id, key),
            ),
          ),
          HALF_WIDTH,
        ),
      );
    }
    const fns = [
      ['API', props.apiFunction],
      ['reconciler', props.reconcilerFunction],
    ] as const;
    this.dashboard.addWidgets(
      graph(
        'Function errors and throttles',
        fns.flatMap(([label, fn]) => [
          fn.metricErrors({ label: `${label} errors` }),
          fn.metricThrottles({ label: `${label} throttles` }),
        ]),
        HALF_WIDTH,
      ),
      graph(
        'Function duration (ms, p99)',
        fns.map(([label, fn]) => fn.metricDuration({ statistic: 'p99', label })),
        HALF_WIDTH,
      ),
    );
  }
}
