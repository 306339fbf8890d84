/**
 * The reconciler's metrics: the data points alarms watch, built from the
 * contract in shared/metric-names.ts, and published with PutMetricData.
 *
 * Why PutMetricData rather than EMF logs: the reconciler runs once a minute
 * and publishes a few dozen points; one synchronous call tells the run
 * whether the points reached CloudWatch (a failure then fails the function,
 * which the function-errors alarm sees), where EMF would fail silently.
 * All points of a run go in ONE call; only beyond the API's limit of
 * {@link MAX_METRIC_DATA_PER_CALL} points are they split.
 */

import {
  type CloudWatchClient,
  type MetricDatum,
  PutMetricDataCommand,
  type StandardUnit,
} from '@aws-sdk/client-cloudwatch';
import { DIMENSION, METRIC, METRIC_NAMESPACE } from '../shared/metric-names';

/** PutMetricData accepts at most this many metric data per call. */
export const MAX_METRIC_DATA_PER_CALL = 1000;

/** Where the reconciler's data points go. */
export interface MetricPublisher {
  /**
   * Publishes every point, in as few calls as the API allows. Rejects when a
   * call fails (points of earlier calls may have been published).
   */
  publish(data: readonly MetricDatum[], abortSignal?: AbortSignal): Promise<void>;
}

/** A {@link MetricPublisher} on CloudWatch, namespace {@link METRIC_NAMESPACE}. */
export function cloudWatchPublisher(client: CloudWatchClient): MetricPublisher {
  return {
    async publish(data, abortSignal) {
      for (let i = 0; i < data.length; i += MAX_METRIC_DATA_PER_CALL) {
        await client.send(
          new PutMetricDataCommand({
            Namespace: METRIC_NAMESPACE,
            MetricData: data.slice(i, i + MAX_METRIC_DATA_PER_CALL),
          }),
          { abortSignal },
        );
      }
    },
  };
}

const MILLISECONDS: StandardUnit = 'Milliseconds';
const NONE: StandardUnit = 'None';

/** `SyncLagMs` of the link `sourceRegion → receivingRegion` (ms). */
export function syncLagDatum(
  sourceRegion: string,
  receivingRegion: string,
  lagMs: number,
  timestamp: Date,
): MetricDatum {
  return {
    MetricName: METRIC.SyncLagMs,
    Dimensions: linkDimensions(sourceRegion, receivingRegion),
    Unit: MILLISECONDS,
    Value: lagMs,
    Timestamp: timestamp,
  };
}

/** `HeartbeatAgeMs`: age of `sourceRegion`'s heartbeat as seen in `receivingRegion` (ms). */
export function heartbeatAgeDatum(
  sourceRegion: string,
  receivingRegion: string,
  ageMs: number,
  timestamp: Date,
): MetricDatum {
  return {
    MetricName: METRIC.HeartbeatAgeMs,
    Dimensions: linkDimensions(sourceRegion, receivingRegion),
    Unit: MILLISECONDS,
    Value: ageMs,
    Timestamp: timestamp,
  };
}

/** `WatchedBucketLevelRatio` of a watched bucket (level / capacity, unit None). */
export function levelRatioDatum(
  policy: string,
  key: string,
  ratio: number,
  timestamp: Date,
): MetricDatum {
  return {
    MetricName: METRIC.WatchedBucketLevelRatio,
    Dimensions: bucketDimensions(policy, key),
    Unit: NONE,
    Value: ratio,
    Timestamp: timestamp,
  };
}

/** `WatchedBucketDivergenceTokens`: max − min level across replicas (tokens, unit None). */
export function divergenceDatum(
  policy: string,
  key: string,
  tokens: number,
  timestamp: Date,
): MetricDatum {
  return {
    MetricName: METRIC.WatchedBucketDivergenceTokens,
    Dimensions: bucketDimensions(policy, key),
    Unit: NONE,
    Value: tokens,
    Timestamp: timestamp,
  };
}

function linkDimensions(sourceRegion: string, receivingRegion: string) {
  return [
    { Name: DIMENSION.SourceRegion, Value: sourceRegion },
    { Name: DIMENSION.ReceivingRegion, Value: receivingRegion },
  ];
}

function bucketDimensions(policy: string, key: string) {
  return [
    { Name: DIMENSION.Policy, Value: policy },
    { Name: DIMENSION.Key, Value: key },
  ];
}
