/**
 * The costs of a deployment that do not grow with requests, counted from the
 * config and the app it builds: the metric series the hot path and the
 * reconciler keep alive, the alarms (as CloudWatch bills them: one per metric
 * an alarm reads) and the dashboards.
 *
 * Why count series from the config: CloudWatch bills every distinct
 * namespace/name/dimensions combination per region, by the hour it receives
 * data. The hot path writes its series in every region whose regional edge
 * cache runs the function (and the regional API the same names in the table
 * regions, which are the same series there); which dimension values occur
 * follows from the policies.
 */

import { resolveConfig } from '../functions/config/resolve';
import type { LimiterConfig } from '../functions/config/schema';
import { STORE_OPERATION } from '../functions/shared/metric-names';
import { type AlarmSpec, isExpression } from '../infra/alarm-specs';
import { LAMBDA_EDGE_REGIONS } from '../infra/defaults';

/** Metric series a config keeps alive. */
export interface SeriesCount {
  /** Series of the hot path in one region while traffic flows (billed every hour). */
  readonly perEdgeRegion: number;
  /** Series that receive data only while something goes wrong (billed only those hours). */
  readonly incidentPerEdgeRegion: number;
  /** Regions whose regional edge caches run the functions, each with its own series. */
  readonly edgeRegions: number;
  /** Reconciler series, over every table region. */
  readonly reconciler: number;
  /** `perEdgeRegion × edgeRegions + reconciler`. */
  readonly total: number;
}

const STORE_ERROR_KINDS = 4;

/**
 * The series of a config: per policy `Decisions` by the outcomes it can have
 * and `RemainingRatio`; `StoreCalls` and `StoreLatency` by operation; the
 * aggregate (dimensionless) series of each; plus the reconciler's lag and
 * heartbeat series per pair of regions and two series per watched bucket in
 * each region. Fallbacks, store errors, conditional retries and pending debt
 * only have data during incidents (or contention) and are counted apart.
 *
 * @param edgeRegions - regions whose regional edge caches serve viewers
 */
export function metricSeriesOf(
  config: LimiterConfig,
  edgeRegions: number = LAMBDA_EDGE_REGIONS.length,
): SeriesCount {
  const resolved = resolveConfig(config);
  const policies = [...resolved.policies.values()];
  const operations = Object.keys(STORE_OPERATION).length;
  let perPolicy = 0;
  for (const p of policies) {
    const outcomes = 2 + (p.denyKeys.size > 0 ? 1 : 0) + (p.allowKeys.size > 0 ? 1 : 0);
    perPolicy += outcomes + 1;
  }
  // Decisions, RemainingRatio, StoreCalls and StoreLatency aggregates.
  const perEdgeRegion = perPolicy + 2 * operations + 4;
  // Fallbacks (one mode per policy), ConditionalRetries per policy, StoreErrors by kind,
  // PendingDebtTokens; each with its aggregate.
  const incidentPerEdgeRegion =
    policies.length + 1 + (policies.length + 1) + (STORE_ERROR_KINDS + 1) + 1;
  const regions = config.regions.length;
  const watched = policies
    .filter((p) => p.consistency === 'eventual')
    .reduce((sum, p) => sum + p.watchKeys.length, 0);
  const reconciler = 2 * regions * (regions - 1) + 2 * watched * regions;
  return {
    perEdgeRegion,
    incidentPerEdgeRegion,
    edgeRegions,
    reconciler,
    total: perEdgeRegion * edgeRegions + reconciler,
  };
}

/** Alarms and dashboards of a built app, as CloudWatch bills them. */
export interface WatchCount {
  readonly alarms: number;
  /** Metrics read by all alarms (a math expression of n metrics bills n). */
  readonly alarmMetrics: number;
  readonly dashboards: number;
}

/** What {@link watchCountOf} reads of a built app (a `LimiterApp` is one). */
export interface AlarmedApp {
  readonly regional: ReadonlyMap<
    string,
    { readonly alarms: { readonly specs: readonly AlarmSpec[] } }
  >;
  readonly edge: { readonly alarms: { readonly specs: readonly AlarmSpec[] } };
  readonly edgeWatch: ReadonlyMap<
    string,
    { readonly alarms: { readonly specs: readonly AlarmSpec[] } }
  >;
}

/** Counts the alarms of every stack of `app` and its dashboards (one per regional stack, one at the edge). */
export function watchCountOf(app: AlarmedApp): WatchCount {
  const specs: AlarmSpec[] = [
    ...[...app.regional.values()].flatMap((s) => s.alarms.specs),
    ...app.edge.alarms.specs,
    ...[...app.edgeWatch.values()].flatMap((s) => s.alarms.specs),
  ];
  return {
    alarms: specs.length,
    alarmMetrics: specs.reduce(
      (sum, s) => sum + (isExpression(s.metric) ? Object.keys(s.metric.metrics).length : 1),
      0,
    ),
    dashboards: app.regional.size + 1,
  };
}
