/**
 * The fixed monthly parts of the cost: the metric series a config keeps
 * alive (counted from the config, and checked against what the EMF sink
 * actually writes), and the alarms and dashboards of an app.
 */
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import { metricSeriesOf, watchCountOf } from '../../bench/cost-fixed';
import type { LimiterConfig } from '../../functions/config/schema';
import { STORE_OPERATION } from '../../functions/shared/metric-names';
import { type EmfDocument, EmfLimiterMetrics } from '../../functions/shared/metrics';
import type { AlarmSpec, MetricSpec } from '../../infra/alarm-specs';
import { baseConfig } from '../infra/fixtures';

/** Two regions; a plain policy, one with allow and deny lists, one watching two buckets. */
function config(): LimiterConfig {
  const base = baseConfig();
  return {
    ...base,
    regions: ['us-east-1', 'eu-west-1'],
    policies: [
      { id: 'plain', capacityTokens: 10, refillTokens: 1 },
      {
        id: 'listed',
        capacityTokens: 10,
        refillTokens: 1,
        allowKeys: ['internal'],
        denyKeys: ['abuser'],
      },
      { id: 'shared', capacityTokens: 100, refillTokens: 10, watchKeys: ['all', 'eu'] },
    ],
    rules: [{ id: 'all', match: {}, policy: 'plain', key: [{ ip: true }] }],
  };
}

describe('metricSeriesOf', () => {
  it('counts the series of the hot path per region and the reconciler’s (hand-computed)', () => {
    expect(metricSeriesOf(config(), 13)).toEqual({
      // plain: allowed, refused, ratio (3); listed: + denylisted, allowlisted (5); shared (3);
      // StoreCalls and StoreLatency by 3 operations (6); 4 aggregates.
      perEdgeRegion: 3 + 5 + 3 + 6 + 4,
      // Fallbacks and ConditionalRetries per policy + aggregates (8), StoreErrors by 4 kinds + aggregate (5), pending (1).
      incidentPerEdgeRegion: 14,
      edgeRegions: 13,
      // Lag and heartbeat per ordered pair (2 × 2), two series per watched bucket and region (2 × 2 × 2).
      reconciler: 4 + 8,
      total: 21 * 13 + 12,
    });
  });

  it('matches the series the EMF sink writes for the steady traffic of those policies', () => {
    const lines: string[] = [];
    const sink = new EmfLimiterMetrics({
      clock: () => 0,
      write: (l) => lines.push(l),
      disabled: false,
    });
    const outcomes: Record<
      string,
      readonly ('allowed' | 'refused' | 'denylisted' | 'allowlisted')[]
    > = {
      plain: ['allowed', 'refused'],
      listed: ['allowed', 'refused', 'denylisted', 'allowlisted'],
      shared: ['allowed', 'refused'],
    };
    for (const [policy, list] of Object.entries(outcomes)) {
      for (const outcome of list) sink.decision({ policy, outcome, remainingRatio: 0.5 });
    }
    for (const operation of Object.values(STORE_OPERATION)) {
      sink.storeCall({ operation, latencyMs: 3 });
    }
    sink.flush();
    const series = new Set<string>();
    for (const doc of lines.map((l) => JSON.parse(l) as EmfDocument)) {
      const directive = doc._aws.CloudWatchMetrics[0];
      for (const metric of directive?.Metrics ?? []) {
        for (const set of directive?.Dimensions ?? []) {
          series.add(JSON.stringify([metric.Name, set.map((d) => [d, doc[d]])]));
        }
      }
    }
    expect(series.size).toBe(metricSeriesOf(config(), 1).perEdgeRegion);
  });
});

describe('watchCountOf', () => {
  const metric = (name: string): MetricSpec => ({
    namespace: 'EdgeRateLimiter',
    metricName: name,
    dimensions: {},
    statistic: 'Sum',
  });
  const spec = (id: string, metrics = 1): AlarmSpec => ({
    id,
    alarmName: id,
    description: id,
    metric:
      metrics === 1
        ? metric(id)
        : {
            expression: 'a + b',
            metrics: Object.fromEntries(
              Array.from({ length: metrics }, (_, i) => [`m${i}`, metric(`${id}${i}`)]),
            ),
            label: id,
          },
    threshold: 1,
    comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 5,
    datapointsToAlarm: 3,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  const stack = (...specs: AlarmSpec[]) => ({ alarms: { specs } });

  it('counts every alarm, bills an expression per metric, and one dashboard per regional stack plus the edge', () => {
    const count = watchCountOf({
      regional: new Map([
        ['us-east-1', stack(spec('a'), spec('b'), spec('throttles', 2))],
        ['eu-west-1', stack(spec('a'), spec('b'), spec('throttles', 2))],
      ]),
      edge: stack(spec('edge-5xx')),
      edgeWatch: new Map([['eu-central-1', stack(spec('c'), spec('d'))]]),
    });
    expect(count).toEqual({ alarms: 9, alarmMetrics: 11, dashboards: 3 });
  });
});
