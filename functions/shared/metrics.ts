/**
 * The limiter's metrics as CloudWatch Embedded Metric Format, written with
 * Powertools Metrics: the handlers' {@link LimiterMetrics} sink.
 *
 * Why a buffer per dimension combination: an EMF document applies its
 * dimension sets to every metric in it, but one invocation reports metrics
 * with different dimensions (a decision by Policy/Outcome, store calls by
 * Operation, errors by Kind). Events are therefore grouped by their
 * dimensions and each group is published as its own document, with two
 * dimension sets: the detail (e.g. `[Policy, Outcome]`) and the empty set,
 * which is the aggregate series the alarms watch (metric-names.ts). The
 * Powertools `service` default dimension is removed for the same reason.
 *
 * Call {@link EmfLimiterMetrics.flush} at the end of every invocation; the
 * buffer also flushes itself when it grows large (long-lived local runs).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { LimiterMetrics } from '../limiter/types';
import { DIMENSION, METRIC, METRIC_NAMESPACE, type MetricName } from './metric-names';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * Most values of one metric per EMF document: one below the format's limit of
 * 100, because Powertools publishes by itself (and drops the dimensions of
 * what follows) when a metric reaches 100 values.
 */
const MAX_VALUES_PER_DOCUMENT = 99;

interface Group {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly metrics: Metrics;
  readonly values: Map<MetricName, { unit: Unit; values: number[] }>;
}

/** Options of {@link EmfLimiterMetrics}. */
export interface EmfLimiterMetricsOptions {
  /** @default 'EdgeRateLimiter' */
  readonly namespace?: string;
  /** Flush on its own once this many values are buffered. @default 1000 */
  readonly maxBufferedValues?: number;
  /**
   * Builds the Powertools instance of one dimension group (tests inject one
   * with a custom console). @default `new Metrics({ namespace })`
   */
  readonly createMetrics?: (namespace: string) => Metrics;
}

/** {@link LimiterMetrics} written as EMF through Powertools Metrics. */
export class EmfLimiterMetrics implements LimiterMetrics {
  readonly #namespace: string;
  readonly #maxBuffered: number;
  readonly #create: (namespace: string) => Metrics;
  readonly #groups = new Map<string, Group>();
  #buffered = 0;

  constructor(options: EmfLimiterMetricsOptions = {}) {
    this.#namespace = options.namespace ?? METRIC_NAMESPACE;
    this.#maxBuffered = options.maxBufferedValues ?? 1000;
    this.#create = options.createMetrics ?? ((namespace) => new Metrics({ namespace }));
  }

  decision(event: Parameters<LimiterMetrics['decision']>[0]): void {
    this.#add(METRIC.Decisions, MetricUnit.Count, 1, {
      [DIMENSION.Policy]: event.policy,
      [DIMENSION.Outcome]: event.outcome,
    });
    this.#add(METRIC.RemainingRatio, MetricUnit.NoUnit, clampRatio(event.remainingRatio), {
      [DIMENSION.Policy]: event.policy,
    });
  }

  storeCall(event: Parameters<LimiterMetrics['storeCall']>[0]): void {
    const byOperation = { [DIMENSION.Operation]: event.operation };
    this.#add(METRIC.StoreCalls, MetricUnit.Count, 1, byOperation);
    this.#add(
      METRIC.StoreLatency,
      MetricUnit.Milliseconds,
      Math.max(0, event.latencyMs),
      byOperation,
    );
    // A rejected condition is the protocol working, not a store failure: it is
    // counted as ConditionalRetries by the limiter, never as StoreErrors.
    if (event.errorKind !== undefined && event.errorKind !== 'conflict') {
      this.#add(METRIC.StoreErrors, MetricUnit.Count, 1, { [DIMENSION.Kind]: event.errorKind });
    }
  }

  fallback(event: Parameters<LimiterMetrics['fallback']>[0]): void {
    this.#add(METRIC.Fallbacks, MetricUnit.Count, 1, {
      [DIMENSION.Policy]: event.policy,
      [DIMENSION.Mode]: event.mode,
    });
  }

  conditionalRetry(event: Parameters<LimiterMetrics['conditionalRetry']>[0]): void {
    this.#add(METRIC.ConditionalRetries, MetricUnit.Count, 1, { [DIMENSION.Policy]: event.policy });
  }

  pending(event: Parameters<NonNullable<LimiterMetrics['pending']>>[0]): void {
    this.#add(METRIC.PendingDebtTokens, MetricUnit.Count, Math.max(0, event.debtTokens), {});
  }

  /** Writes every buffered value as EMF (one document per dimension group) and empties the buffer. */
  flush(): void {
    for (const group of this.#groups.values()) {
      while (group.values.size > 0) this.#publishChunk(group);
    }
    this.#buffered = 0;
  }

  #publishChunk(group: Group): void {
    for (const [name, value] of Object.entries(group.dimensions)) {
      group.metrics.addDimension(name, value);
    }
    group.metrics.addDimensions({});
    for (const [name, entry] of group.values) {
      const chunk = entry.values.splice(0, MAX_VALUES_PER_DOCUMENT);
      for (const value of chunk) group.metrics.addMetric(name, entry.unit, value);
      if (entry.values.length === 0) group.values.delete(name);
    }
    group.metrics.publishStoredMetrics();
  }

  #add(name: MetricName, unit: Unit, value: number, dimensions: Record<string, string>): void {
    const key = JSON.stringify(dimensions);
    let group = this.#groups.get(key);
    if (group === undefined) {
      const metrics = this.#create(this.#namespace);
      metrics.clearDefaultDimensions();
      group = { dimensions, metrics, values: new Map() };
      this.#groups.set(key, group);
    }
    const entry = group.values.get(name);
    if (entry === undefined) group.values.set(name, { unit, values: [value] });
    else entry.values.push(value);
    this.#buffered += 1;
    if (this.#buffered >= this.#maxBuffered) this.flush();
  }
}

function clampRatio(ratio: number): number {
  if (!Number.isFinite(ratio)) return 0;
  return Math.min(1, Math.max(0, ratio));
}
