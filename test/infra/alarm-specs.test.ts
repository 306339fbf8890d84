/**
 * Which alarms a config yields, without synthesizing: thresholds and their
 * defaults, replication alarms only where there is replication, depletion
 * only for watched buckets the reconciler measures, unique names.
 */
import { TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALARMS, type LimiterConfig } from '../../functions/config/schema';
import { HOT_PATH_METRICS, METRIC, METRIC_NAMESPACE } from '../../functions/shared/metric-names';
import { METRICS_FLUSH_INTERVAL_MS } from '../../functions/shared/metrics';
import {
  type AlarmSpec,
  edgeAlarmSpecs,
  edgeRegionAlarmSpecs,
  isExpression,
  type MetricSpec,
  regionalAlarmSpecs,
} from '../../infra/alarm-specs';
import { ALARM_PERIOD_SECONDS } from '../../infra/defaults';
import { baseConfig, singleRegionConfig, strongConfig } from './fixtures';

const targets = { apiFunctionName: 'api-fn', reconcilerFunctionName: 'reconciler-fn' };

function metricNameOf(spec: AlarmSpec): string | undefined {
  return isExpression(spec.metric) ? undefined : spec.metric.metricName;
}

function specsBy(config: LimiterConfig, region: string, metricName: string): AlarmSpec[] {
  return regionalAlarmSpecs(config, region, targets).filter((s) => metricNameOf(s) === metricName);
}

describe('regionalAlarmSpecs', () => {
  it('uses the configured thresholds, and the defaults for those left out', () => {
    const custom = {
      ...baseConfig(),
      alarms: { syncLagMs: 1234, fallbacksPerMinute: 7 },
    };
    const region = custom.regions[0] as string;
    expect(specsBy(custom, region, METRIC.SyncLagMs).map((s) => s.threshold)).toEqual([1234, 1234]);
    expect(specsBy(custom, region, METRIC.Fallbacks).map((s) => s.threshold)).toEqual([7]);
    expect(specsBy(custom, region, METRIC.StoreErrors).map((s) => s.threshold)).toEqual([
      DEFAULT_ALARMS.storeErrorsPerMinute,
    ]);
    expect(specsBy(custom, region, 'ReplicationLatency').map((s) => s.threshold)).toEqual([
      DEFAULT_ALARMS.replicationLatencyMs,
      DEFAULT_ALARMS.replicationLatencyMs,
    ]);
  });

  it('treats a missing sync lag as breaching and missing counts as fine', () => {
    const config = baseConfig();
    const region = config.regions[1] as string;
    for (const s of specsBy(config, region, METRIC.SyncLagMs)) {
      expect(s.treatMissingData).toBe(TreatMissingData.BREACHING);
    }
    for (const name of [METRIC.StoreErrors, METRIC.Fallbacks, 'Errors', 'Throttles']) {
      for (const s of specsBy(config, region, name)) {
        expect(s.treatMissingData).toBe(TreatMissingData.NOT_BREACHING);
      }
    }
  });

  it('has no replication alarms with a single region, but still watches the reconciler', () => {
    const config = singleRegionConfig();
    const specs = regionalAlarmSpecs(config, 'eu-west-1', targets);
    const names = specs.map(metricNameOf);
    expect(names).not.toContain(METRIC.SyncLagMs);
    expect(names).not.toContain(METRIC.HeartbeatAgeMs);
    expect(names).not.toContain('ReplicationLatency');
    expect(names).toContain('Invocations');
  });

  it('alarms on depletion of eventual watched buckets only (strong ones have no replica spread)', () => {
    const config = strongConfig();
    const depletion = specsBy(config, 'us-east-1', METRIC.WatchedBucketLevelRatio);
    const watched = depletion.map((s) =>
      isExpression(s.metric) ? undefined : s.metric.dimensions.Policy,
    );
    expect(watched).toEqual(['global-cap']);
  });

  it('watches the strong table for throttles only in the regions that hold it', () => {
    const config = strongConfig();
    const throttleAlarms = (region: string) =>
      regionalAlarmSpecs(config, region, targets)
        .filter((s) => isExpression(s.metric))
        .map((s) => s.id);
    expect(throttleAlarms('us-east-2')).toEqual(['StoreThrottles', 'StrongStoreThrottles']);
    expect(throttleAlarms('eu-west-1')).toEqual(['StoreThrottles']);
  });

  it('gives every alarm a unique id and a unique name within CloudWatch limits', () => {
    const config = strongConfig();
    for (const region of config.regions) {
      const specs = regionalAlarmSpecs(config, region, targets);
      expect(new Set(specs.map((s) => s.id)).size).toBe(specs.length);
      expect(new Set(specs.map((s) => s.alarmName)).size).toBe(specs.length);
      for (const s of specs) {
        expect(s.alarmName.length).toBeLessThanOrEqual(255);
        expect(s.description.length).toBeLessThanOrEqual(1024);
        expect(s.datapointsToAlarm).toBeLessThanOrEqual(s.evaluationPeriods);
      }
    }
  });
});

describe('edgeAlarmSpecs', () => {
  it('watches the 5xx rate of the distribution it is given', () => {
    const [spec] = edgeAlarmSpecs(baseConfig(), 'E123');
    expect(spec?.metric).toMatchObject({
      namespace: 'AWS/CloudFront',
      metricName: '5xxErrorRate',
      dimensions: { DistributionId: 'E123', Region: 'Global' },
    });
  });
});

describe('alarms on hot-path metrics', () => {
  const metricsOf = (spec: AlarmSpec): MetricSpec[] =>
    isExpression(spec.metric) ? Object.values(spec.metric.metrics) : [spec.metric];
  const onHotPath = (spec: AlarmSpec) =>
    metricsOf(spec).some(
      (m) =>
        m.namespace === METRIC_NAMESPACE &&
        (HOT_PATH_METRICS as readonly string[]).includes(m.metricName),
    );

  it('leave room for counts that reach CloudWatch up to one flush interval late', () => {
    const config = strongConfig();
    const specs = [
      ...config.regions.flatMap((region) => regionalAlarmSpecs(config, region, targets)),
      ...edgeRegionAlarmSpecs(config, 'eu-central-1', {
        limiterMetrics: true,
        functions: ['viewer-request', 'viewer-response'],
        namePrefix: 'test-edge',
      }),
    ].filter(onHotPath);
    expect(specs.map((s) => s.id)).toEqual(
      expect.arrayContaining(['StoreErrors', 'Fallbacks', 'EdgeFallbacks', 'EdgeStoreErrors']),
    );
    for (const spec of specs) {
      const periodMs =
        1000 * Math.max(...metricsOf(spec).map((m) => m.periodSeconds ?? ALARM_PERIOD_SECONDS));
      const latePeriods = Math.ceil(METRICS_FLUSH_INTERVAL_MS / periodMs);
      // The newest periods may hold only part of their counts when the alarm evaluates:
      // a breach must still show in the complete ones, and a missing period must not page.
      expect(spec.evaluationPeriods - spec.datapointsToAlarm, spec.id).toBeGreaterThanOrEqual(
        latePeriods,
      );
      expect(spec.treatMissingData, spec.id).toBe(TreatMissingData.NOT_BREACHING);
    }
  });
});
