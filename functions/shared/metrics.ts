/**
 * The limiter's metrics as CloudWatch Embedded Metric Format, aggregated in
 * the container: the handlers' {@link LimiterMetrics} sink.
 *
 * Why aggregate: one EMF document per dimension group and request cost about
 * 750 bytes of log ingestion per request, more than the rest of the limiter's
 * logs. The sink instead sums counters and keeps distributions in memory and
 * writes them once per interval. Lambda freezes a container when its handler
 * returns, so no timer can flush: the handler calls
 * {@link EmfLimiterMetrics.flushIfDue} at the end of every invocation, which
 * writes only when {@link METRICS_FLUSH_INTERVAL_MS} have passed since the
 * last flush (or the buffer grew large).
 *
 * What a document holds:
 * - one group per CloudWatch minute and dimension combination: an EMF
 *   document applies its dimension sets to every metric in it, and one
 *   invocation reports metrics with different dimensions (a decision by
 *   Policy/Outcome, store calls by Operation, errors by Kind). Each group is
 *   published with two dimension sets, the detail (e.g. `[Policy, Outcome]`)
 *   and the empty set, which is the aggregate series the alarms watch
 *   (metric-names.ts); no default `service` dimension;
 * - the document's timestamp is the start of the minute its events happened
 *   in, so counts flushed late still land in their own one-minute period;
 * - a counter is one number per group: the sum (its `Sum` statistic is the
 *   count; `SampleCount` is no longer the number of events);
 * - a distribution (latency, remaining ratio, pending debt) is a
 *   `{Values, Counts, Min, Max, Count, Sum}` object, the form CloudWatch
 *   accepts for pre-aggregated values (the one the AWS EMF libraries and the
 *   OpenTelemetry EMF exporter write), so percentiles keep working. Values
 *   are quantised ({@link quantiseLatencyMs}, {@link quantiseRatio}) to keep
 *   the arrays short; Min, Max, Count and Sum stay exact. At most
 *   {@link MAX_VALUES_PER_METRIC} values per metric and document: a longer
 *   distribution is split over several documents.
 *
 * Powertools Metrics cannot write `Values`/`Counts` (it stores a number or an
 * array of numbers per metric), so this module serialises the documents
 * itself and writes each as one line to stdout, as Powertools does. It honours
 * `POWERTOOLS_METRICS_DISABLED` like Powertools did (the local runtime and the
 * benchmark set it to keep their output readable).
 *
 * What a recycled container loses: the events since its last flush, at most
 * one interval of that container's counts; never a decision.
 */
import type { LimiterMetrics } from '../limiter/types';
import { DIMENSION, METRIC, METRIC_NAMESPACE, type MetricName } from './metric-names';

/** Default time between two flushes of one container (ms). */
export const METRICS_FLUSH_INTERVAL_MS = 60_000;
/** CloudWatch's standard resolution: a document's timestamp is the start of its minute (ms). */
export const METRIC_PERIOD_MS = 60_000;
/** EMF's limit on the values of one metric in one document. */
export const MAX_VALUES_PER_METRIC = 100;
/** Default bound on buffered entries (counter groups plus distinct distribution values). */
export const DEFAULT_MAX_BUFFERED_ENTRIES = 2_000;
/** Relative width of a latency bucket: values are kept to about ±5 %. */
export const LATENCY_BUCKET_RATIO = 1.1;

type Unit = 'Count' | 'Milliseconds' | 'None';

interface Counter {
  readonly kind: 'counter';
  readonly unit: Unit;
  total: number;
}

interface Distribution {
  readonly kind: 'distribution';
  readonly unit: Unit;
  /** Quantised value → how many events had it. */
  readonly counts: Map<number, number>;
  min: number;
  max: number;
  count: number;
  sum: number;
}

interface Group {
  readonly minuteMs: number;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly metrics: Map<MetricName, Counter | Distribution>;
}

/** Options of {@link EmfLimiterMetrics}. */
export interface EmfLimiterMetricsOptions {
  /** @default 'EdgeRateLimiter' */
  readonly namespace?: string;
  /** Least time between two flushes by {@link EmfLimiterMetrics.flushIfDue} (ms). @default 60000 */
  readonly flushIntervalMs?: number;
  /** Flush on its own once this many entries are buffered. @default 2000 */
  readonly maxBufferedEntries?: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly clock?: () => number;
  /** Where each document goes, one line each. @default a line on stdout */
  readonly write?: (line: string) => void;
  /** Write nothing (and buffer nothing). @default whether POWERTOOLS_METRICS_DISABLED is truthy */
  readonly disabled?: boolean;
}

/** {@link LimiterMetrics} aggregated per container and written as EMF once per interval. */
export class EmfLimiterMetrics implements LimiterMetrics {
  readonly #namespace: string;
  readonly #intervalMs: number;
  readonly #maxEntries: number;
  readonly #clock: () => number;
  readonly #write: (line: string) => void;
  readonly #disabled: boolean;
  readonly #groups = new Map<string, Group>();
  #entries = 0;
  #lastFlushMs: number;

  constructor(options: EmfLimiterMetricsOptions = {}) {
    this.#namespace = options.namespace ?? METRIC_NAMESPACE;
    this.#intervalMs = options.flushIntervalMs ?? METRICS_FLUSH_INTERVAL_MS;
    this.#maxEntries = options.maxBufferedEntries ?? DEFAULT_MAX_BUFFERED_ENTRIES;
    this.#clock = options.clock ?? (() => Date.now());
    this.#write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
    this.#disabled = options.disabled ?? disabledByEnvironment(process.env);
    if (!(this.#intervalMs >= 0) || !(this.#maxEntries >= 1)) {
      throw new RangeError('flushIntervalMs must be ≥ 0 and maxBufferedEntries ≥ 1');
    }
    this.#lastFlushMs = this.#clock();
  }

  decision(event: Parameters<LimiterMetrics['decision']>[0]): void {
    this.#count(METRIC.Decisions, {
      [DIMENSION.Policy]: event.policy,
      [DIMENSION.Outcome]: event.outcome,
    });
    this.#observe(
      METRIC.RemainingRatio,
      'None',
      clampRatio(event.remainingRatio),
      { [DIMENSION.Policy]: event.policy },
      quantiseRatio,
    );
  }

  storeCall(event: Parameters<LimiterMetrics['storeCall']>[0]): void {
    const byOperation = { [DIMENSION.Operation]: event.operation };
    this.#count(METRIC.StoreCalls, byOperation);
    this.#observe(
      METRIC.StoreLatency,
      'Milliseconds',
      event.latencyMs,
      byOperation,
      quantiseLatencyMs,
    );
    // A rejected condition is the protocol working, not a store failure: it is
    // counted as ConditionalRetries by the limiter, never as StoreErrors.
    if (event.errorKind !== undefined && event.errorKind !== 'conflict') {
      this.#count(METRIC.StoreErrors, { [DIMENSION.Kind]: event.errorKind });
    }
  }

  fallback(event: Parameters<LimiterMetrics['fallback']>[0]): void {
    this.#count(METRIC.Fallbacks, {
      [DIMENSION.Policy]: event.policy,
      [DIMENSION.Mode]: event.mode,
    });
  }

  conditionalRetry(event: Parameters<LimiterMetrics['conditionalRetry']>[0]): void {
    this.#count(METRIC.ConditionalRetries, { [DIMENSION.Policy]: event.policy });
  }

  pending(event: Parameters<NonNullable<LimiterMetrics['pending']>>[0]): void {
    this.#observe(METRIC.PendingDebtTokens, 'Count', event.debtTokens, {});
  }

  /**
   * Call at the end of every invocation: writes the buffer when at least the
   * flush interval has passed since the last flush. Returns whether it wrote.
   */
  flushIfDue(): boolean {
    if (this.#clock() - this.#lastFlushMs < this.#intervalMs) return false;
    this.flush();
    return true;
  }

  /** Writes every buffered group as EMF now and empties the buffer. */
  flush(): void {
    this.#lastFlushMs = this.#clock();
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    this.#entries = 0;
    for (const group of groups) {
      for (const document of documentsOf(group, this.#namespace)) {
        this.#write(JSON.stringify(document));
      }
    }
  }

  #group(dimensions: Record<string, string>): Group {
    const minuteMs = Math.floor(this.#clock() / METRIC_PERIOD_MS) * METRIC_PERIOD_MS;
    const key = `${minuteMs}\u0000${JSON.stringify(dimensions)}`;
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = { minuteMs, dimensions, metrics: new Map() };
      this.#groups.set(key, group);
    }
    return group;
  }

  #count(name: MetricName, dimensions: Record<string, string>): void {
    if (this.#disabled) return;
    const group = this.#group(dimensions);
    const metric = group.metrics.get(name);
    if (metric?.kind === 'counter') {
      metric.total += 1;
      return;
    }
    group.metrics.set(name, { kind: 'counter', unit: 'Count', total: 1 });
    this.#grew();
  }

  #observe(
    name: MetricName,
    unit: Unit,
    raw: number,
    dimensions: Record<string, string>,
    quantise: (value: number) => number = (value) => value,
  ): void {
    if (this.#disabled) return;
    const value = Number.isFinite(raw) ? Math.max(0, raw) : 0;
    const bucket = quantise(value);
    const group = this.#group(dimensions);
    let metric = group.metrics.get(name);
    if (metric?.kind !== 'distribution') {
      metric = {
        kind: 'distribution',
        unit,
        counts: new Map(),
        min: value,
        max: value,
        count: 0,
        sum: 0,
      };
      group.metrics.set(name, metric);
    }
    metric.min = Math.min(metric.min, value);
    metric.max = Math.max(metric.max, value);
    metric.count += 1;
    metric.sum += value;
    const seen = metric.counts.get(bucket);
    metric.counts.set(bucket, (seen ?? 0) + 1);
    if (seen === undefined) this.#grew();
  }

  #grew(): void {
    this.#entries += 1;
    if (this.#entries >= this.#maxEntries) this.flush();
  }
}

/** An EMF document as this sink writes it. */
export interface EmfDocument {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
  readonly [member: string]: unknown;
}

/** A distribution's EMF value: parallel `Values`/`Counts` plus exact statistics. */
export interface EmfDistribution {
  readonly Values: readonly number[];
  readonly Counts: readonly number[];
  readonly Min: number;
  readonly Max: number;
  readonly Count: number;
  readonly Sum: number;
}

/** The documents of one group: one, or more when a distribution holds over {@link MAX_VALUES_PER_METRIC} values. */
function documentsOf(group: Group, namespace: string): EmfDocument[] {
  const detail = Object.keys(group.dimensions);
  const dimensionSets = detail.length === 0 ? [[]] : [detail, []];
  const chunks: Map<MetricName, number | EmfDistribution>[] = [];
  const at = (i: number) => {
    while (chunks.length <= i) chunks.push(new Map());
    return chunks[i] as Map<MetricName, number | EmfDistribution>;
  };
  for (const [name, metric] of group.metrics) {
    if (metric.kind === 'counter') {
      at(0).set(name, metric.total);
      continue;
    }
    const entries = [...metric.counts].sort(([a], [b]) => a - b);
    const parts = Math.ceil(entries.length / MAX_VALUES_PER_METRIC);
    for (let i = 0; i < parts; i++) {
      const part = entries.slice(i * MAX_VALUES_PER_METRIC, (i + 1) * MAX_VALUES_PER_METRIC);
      const whole = parts === 1;
      // Split distributions: exact Min in the first part, exact Max in the last, quantised sums.
      at(i).set(name, {
        Values: part.map(([v]) => v),
        Counts: part.map(([, c]) => c),
        Min: i === 0 ? metric.min : (part[0] as [number, number])[0],
        Max: i === parts - 1 ? metric.max : (part.at(-1) as [number, number])[0],
        Count: whole ? metric.count : part.reduce((s, [, c]) => s + c, 0),
        Sum: whole ? metric.sum : part.reduce((s, [v, c]) => s + v * c, 0),
      });
    }
  }
  return chunks.map((values) => ({
    _aws: {
      Timestamp: group.minuteMs,
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: dimensionSets,
          Metrics: [...values.keys()].map((name) => ({
            Name: name,
            Unit: (group.metrics.get(name) as Counter | Distribution).unit,
          })),
        },
      ],
    },
    ...group.dimensions,
    ...Object.fromEntries(values),
  }));
}

/**
 * A latency on a logarithmic scale of {@link LATENCY_BUCKET_RATIO}: the
 * geometric middle of its bucket (within about ±5 % of the value), so a
 * minute of latencies from 0.1 ms to 5 s needs about 115 values at most. 0
 * stays 0.
 */
export function quantiseLatencyMs(valueMs: number): number {
  if (!(valueMs > 0)) return 0;
  const width = Math.log(LATENCY_BUCKET_RATIO);
  const index = Math.floor(Math.log(valueMs) / width);
  return roundTo(Math.exp((index + 0.5) * width), 4);
}

/** A ratio in 0..1 rounded to 0.01 (at most 101 values). */
export function quantiseRatio(ratio: number): number {
  return Math.round(clampRatio(ratio) * 100) / 100;
}

function clampRatio(ratio: number): number {
  if (!Number.isFinite(ratio)) return 0;
  return Math.min(1, Math.max(0, ratio));
}

function roundTo(value: number, significant: number): number {
  return Number(value.toPrecision(significant));
}

const TRUTHY = new Set(['1', 'y', 'yes', 't', 'true', 'on']);

/** Whether `POWERTOOLS_METRICS_DISABLED` turns metrics off (Powertools' truthy spellings). */
export function disabledByEnvironment(env: Readonly<Record<string, string | undefined>>): boolean {
  return TRUTHY.has((env.POWERTOOLS_METRICS_DISABLED ?? '').trim().toLowerCase());
}
