/**
 * The metric contract between the functions that emit metrics and the alarms
 * that watch them. Names live here, as constants, so `infra/` alarms, the
 * reconciler and the handlers cannot drift apart: renaming a metric is a
 * compile error everywhere it is used.
 *
 * Publication contract (what alarms may rely on):
 * - namespace {@link METRIC_NAMESPACE};
 * - every hot-path metric (edge handler, regional API) is published twice
 *   per data point: once with its detail dimensions listed below, and once
 *   with **no dimensions** (the aggregate series an alarm watches without
 *   enumerating policies or kinds);
 * - hot-path metrics are aggregated in each container and written about once
 *   a minute (functions/shared/metrics.ts), stamped with the minute their
 *   events happened in: a one-minute period sees a container's counts up to
 *   one flush interval late, so an alarm on them needs at least one
 *   evaluation period of slack (`evaluationPeriods - datapointsToAlarm`);
 * - reconciler metrics carry the dimensions listed below only.
 */

/** CloudWatch namespace of every metric of the project. */
export const METRIC_NAMESPACE = 'EdgeRateLimiter';

/** Metric names. */
export const METRIC = {
  /** Count of decisions; dims Policy, Outcome ({@link OUTCOME}). */
  Decisions: 'Decisions',
  /** Remaining tokens / capacity after a decision, 0..1 (unit None); dims Policy. */
  RemainingRatio: 'RemainingRatio',
  /** Latency of one store call (ms); dims Operation ({@link STORE_OPERATION}). */
  StoreLatency: 'StoreLatency',
  /** Count of failed store calls; dims Kind (throttled, timeout, unavailable, invalid). */
  StoreErrors: 'StoreErrors',
  /** Count of decisions taken by a failure mode; dims Policy, Mode (open, closed, local). */
  Fallbacks: 'Fallbacks',
  /** Count of conditional-write rejections that were decided again; dims Policy. */
  ConditionalRetries: 'ConditionalRetries',
  /** Count of store calls; dims Operation ({@link STORE_OPERATION}). */
  StoreCalls: 'StoreCalls',
  /**
   * Tokens a container owes the store after a pass of pending writes (unit
   * Count, aggregate series only): local-mode debt not yet recorded. What a
   * recycled container lost is at most its last value.
   */
  PendingDebtTokens: 'PendingDebtTokens',
  /** Reconciler: replication lag measured end to end (ms); dims SourceRegion, ReceivingRegion. */
  SyncLagMs: 'SyncLagMs',
  /** Reconciler: age of the newest heartbeat seen from a region (ms); dims SourceRegion, ReceivingRegion. */
  HeartbeatAgeMs: 'HeartbeatAgeMs',
  /** Reconciler: level of a watched bucket / capacity, 0..1; dims Policy, Key. */
  WatchedBucketLevelRatio: 'WatchedBucketLevelRatio',
  /** Reconciler: spread of a watched bucket's level across replicas (tokens); dims Policy, Key. */
  WatchedBucketDivergenceTokens: 'WatchedBucketDivergenceTokens',
} as const;

/** A metric name. */
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** The metrics the hot path (edge handler, regional API) writes through the aggregating sink. */
export const HOT_PATH_METRICS: readonly MetricName[] = [
  METRIC.Decisions,
  METRIC.RemainingRatio,
  METRIC.StoreLatency,
  METRIC.StoreErrors,
  METRIC.Fallbacks,
  METRIC.ConditionalRetries,
  METRIC.StoreCalls,
  METRIC.PendingDebtTokens,
];

/** Dimension names. */
export const DIMENSION = {
  Policy: 'Policy',
  Outcome: 'Outcome',
  Operation: 'Operation',
  Kind: 'Kind',
  Mode: 'Mode',
  SourceRegion: 'SourceRegion',
  ReceivingRegion: 'ReceivingRegion',
  Key: 'Key',
} as const;

/** Values of the Outcome dimension of {@link METRIC.Decisions}. */
export const OUTCOME = {
  Allowed: 'allowed',
  Refused: 'refused',
  /** Shadow mode: allowed, but the policy would have refused. */
  ShadowRefused: 'shadow-refused',
  Denylisted: 'denylisted',
  Allowlisted: 'allowlisted',
} as const;

/** Values of the Operation dimension of {@link METRIC.StoreCalls} and {@link METRIC.StoreLatency}. */
export const STORE_OPERATION = {
  ReadView: 'readView',
  ReadSlot: 'readSlot',
  Write: 'write',
} as const;
