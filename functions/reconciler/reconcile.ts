/**
 * One reconciler run (docs/design.md, Observability): measure replication end to end, check
 * that every other region is still writing, report watched buckets, publish
 * all of it as metrics in one call and keep it as the status item for
 * `GET /health`.
 *
 * Why this shape: everything the run touches is injected (the replication
 * and bucket stores of each replica, the metric publisher, the logger, the
 * clock, the sleep), so tests drive it against in-memory stores or emulated
 * regions and the Lambda handler stays a thin wrapper. The run speaks to the
 * table only through the store ports (functions/store).
 *
 * Rules the run keeps:
 * - a problem is data, never missing data: a heartbeat that does not show in
 *   a replica within the wait, or a replica that cannot be read, is published
 *   as {@link ResolvedReconcilerOptions.breachLagMs} (always above the sync-lag
 *   alarm threshold); a region whose heartbeat this replica never saw is
 *   published with age {@link NEVER_SEEN_HEARTBEAT_AGE_MS};
 * - one unreachable replica never stops the others: every call is isolated,
 *   failures are counted, logged (one line per finding) and kept in the status;
 * - the run is bounded whatever the number of regions and watched buckets:
 *   see {@link ReconcilerOptions} and docs/operations.md ("Bounds of one run") for the call bound.
 */

import type { MetricDatum } from '@aws-sdk/client-cloudwatch';
import { DEFAULT_ALARMS, type LimiterConfig, MAX_WATCHED_BUCKETS } from '../config/schema';
import type { SlotItem } from '../core';
import type {
  Heartbeat,
  ReconcilerStatus,
  WatchedBucketStatus,
} from '../shared/replication-status';
import { HEARTBEAT_TTL_SECONDS, type ReplicationStore } from '../store/replication-store';
import type { BucketStore } from '../store/types';
import { callSignal, concurrencyLimit, realSleep, type Sleep } from './budget';
import { answerEscrowAsks } from './escrow-asks';
import {
  divergenceDatum,
  heartbeatAgeDatum,
  levelRatioDatum,
  type MetricPublisher,
  syncLagDatum,
} from './metrics';
import { type ProbeOutcome, probeReplica } from './probe';
import { type WatchedBucket, watchedBucketsOf, watchedLevels } from './watched';

/** Published as `HeartbeatAgeMs` for a region whose heartbeat this replica does not hold (ms). */
export const NEVER_SEEN_HEARTBEAT_AGE_MS = HEARTBEAT_TTL_SECONDS * 1000;

/** Tuning of a run; every field has a default. */
export interface ReconcilerOptions {
  /**
   * Longest wait for this run's heartbeat to show in another replica (ms).
   * Must exceed the sync-lag alarm threshold, or lags between the two could
   * not be measured. @default alarms.syncLagMs + 1000
   */
  readonly probeWaitMs?: number;
  /** First pause between two reads of the heartbeat (ms). @default 25 */
  readonly firstPollIntervalMs?: number;
  /** Longest pause between two reads of the heartbeat (ms). @default 250 */
  readonly maxPollIntervalMs?: number;
  /** Most heartbeat reads per other replica. @default ⌈probeWaitMs / maxPollIntervalMs⌉ + 10 */
  readonly maxPollsPerRegion?: number;
  /** Longest single store or CloudWatch call (ms). @default 2000 */
  readonly callTimeoutMs?: number;
  /**
   * The whole run (ms). Measuring stops at `runBudgetMs − finishReserveMs`;
   * the rest is kept for publishing and the status write. Deploy the function
   * with a timeout above it. @default 25000
   */
  readonly runBudgetMs?: number;
  /** Part of the budget kept for publishing metrics and the status (ms). @default 4000 */
  readonly finishReserveMs?: number;
  /** Most store calls in flight besides the heartbeat polls (one per other region). @default 8 */
  readonly maxConcurrency?: number;
  /** Most watched buckets measured per run; further watches are skipped and logged. @default 20 */
  readonly maxWatchedBuckets?: number;
}

/** Options with defaults applied and the value published for a missed heartbeat. */
export interface ResolvedReconcilerOptions extends Required<ReconcilerOptions> {
  /** `SyncLagMs` published when the heartbeat did not show: max(probeWaitMs, alarm threshold + 1). */
  readonly breachLagMs: number;
}

/** The options of a run are inconsistent; `problems` lists every one. */
export class InvalidReconcilerOptionsError extends Error {
  override readonly name = 'InvalidReconcilerOptionsError';
  constructor(
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`invalid reconciler options: ${problems.join('; ')}`, options);
  }
}

/** The part of the config a run reads. */
export type ReconcilerConfig = Pick<
  LimiterConfig,
  'regions' | 'tableName' | 'policies' | 'alarms' | 'runtime'
>;

/** The logger a run writes its findings to (Powertools Logger fits). */
export interface ReconcilerLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/** Everything a run talks to. */
export interface ReconcilerDeps {
  /** This region: where the heartbeat is written and whose status is kept. */
  readonly region: string;
  readonly config: ReconcilerConfig;
  /** The heartbeat and status items of each replica (the global table has one per region). */
  readonly replicationStore: (region: string) => ReplicationStore;
  /** The bucket store of each replica, for watched buckets. */
  readonly bucketStore: (region: string) => BucketStore;
  readonly metrics: MetricPublisher;
  readonly logger: ReconcilerLogger;
  readonly options?: ReconcilerOptions;
  /** @default real timers */
  readonly sleep?: Sleep;
}

/** What a run did. */
export interface ReconcileResult {
  /** The findings, as written to the status item. */
  readonly status: ReconcilerStatus;
  /** Every data point, as published. */
  readonly metricData: readonly MetricDatum[];
  /** Why publishing failed, when it did (the handler then fails the invocation). */
  readonly publishError?: unknown;
  /** Why the status write failed, when it did. */
  readonly statusError?: unknown;
}

/** Applies defaults and checks the options against the config. */
export function resolveReconcilerOptions(
  config: ReconcilerConfig,
  options: ReconcilerOptions = {},
): ResolvedReconcilerOptions {
  const thresholdMs = config.alarms?.syncLagMs ?? DEFAULT_ALARMS.syncLagMs;
  const probeWaitMs = options.probeWaitMs ?? thresholdMs + 1000;
  const maxPollIntervalMs = options.maxPollIntervalMs ?? 250;
  const resolved = {
    probeWaitMs,
    firstPollIntervalMs: options.firstPollIntervalMs ?? 25,
    maxPollIntervalMs,
    // Enough reads to cover the whole wait at the longest interval, plus the back-off ramp.
    maxPollsPerRegion: options.maxPollsPerRegion ?? Math.ceil(probeWaitMs / maxPollIntervalMs) + 10,
    callTimeoutMs: options.callTimeoutMs ?? 2000,
    runBudgetMs: options.runBudgetMs ?? 25_000,
    finishReserveMs: options.finishReserveMs ?? 4000,
    maxConcurrency: options.maxConcurrency ?? 8,
    maxWatchedBuckets: options.maxWatchedBuckets ?? MAX_WATCHED_BUCKETS,
  };
  const problems: string[] = [];
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      problems.push(`${name} must be a positive integer (got ${value})`);
    }
  }
  if (resolved.firstPollIntervalMs > resolved.maxPollIntervalMs) {
    problems.push('firstPollIntervalMs must not exceed maxPollIntervalMs');
  }
  if (resolved.runBudgetMs - resolved.finishReserveMs < resolved.probeWaitMs) {
    problems.push(
      `runBudgetMs − finishReserveMs (${resolved.runBudgetMs - resolved.finishReserveMs}) must leave room for probeWaitMs (${resolved.probeWaitMs})`,
    );
  }
  if (problems.length > 0) throw new InvalidReconcilerOptionsError(problems);
  return { ...resolved, breachLagMs: Math.max(resolved.probeWaitMs, thresholdMs + 1) };
}

/**
 * Runs the reconciler once.
 *
 * Never rejects for store or CloudWatch failures (they are in the result);
 * rejects only with {@link InvalidReconcilerOptionsError} or when `region` is
 * not one of the config's regions.
 *
 * @param nowFn - epoch milliseconds; every time the run reads comes from it
 */
export async function reconcile(
  deps: ReconcilerDeps,
  nowFn: () => number = Date.now,
): Promise<ReconcileResult> {
  const { region, config, logger } = deps;
  if (!config.regions.includes(region)) {
    throw new InvalidReconcilerOptionsError([
      `region "${region}" is not one of the configured regions (${config.regions.join(', ')})`,
    ]);
  }
  const options = resolveReconcilerOptions(config, deps.options);
  const sleep = deps.sleep ?? realSleep;
  const startMs = nowFn();
  const measureSignal = AbortSignal.timeout(options.runBudgetMs - options.finishReserveMs);
  const pool = concurrencyLimit(options.maxConcurrency);
  const others = config.regions.filter((r) => r !== region);
  const failures = new Failures(logger);

  const probes = runProbes(deps, options, others, measureSignal, nowFn, sleep, pool, failures);
  const heartbeats = pool
    .run(() =>
      deps
        .replicationStore(region)
        .readHeartbeats({ abortSignal: callSignal(measureSignal, options.callTimeoutMs) }),
    )
    .then(
      (list) => ({ list, readAtMs: nowFn() }),
      (error: unknown) => {
        failures.fail('reading heartbeats failed', { region }, error);
        return undefined;
      },
    );
  const { buckets, skipped } = watchedBucketsOf(
    config.policies,
    options.maxWatchedBuckets,
    config.runtime?.maxKeyLength,
  );
  for (const s of skipped) logger.warn('watched bucket skipped', { ...s });
  const views = Promise.all(
    buckets.map((bucket) => readViews(deps, bucket, options, measureSignal, pool, failures)),
  );

  const escrow = answerEscrowAsks({
    store: deps.bucketStore(region),
    region,
    regions: config.regions,
    policies: config.policies,
    nowMs: nowFn,
    signal: () => callSignal(measureSignal, options.callTimeoutMs),
    run: (task) => pool.run(task),
  }).then(
    (outcome) => {
      for (const s of outcome.skipped) logger.info('escrow ask left alone', { ...s });
      if (outcome.read > 0) {
        logger.info('escrow asks answered', { region, read: outcome.read, gave: outcome.gave });
      }
    },
    (error: unknown) => failures.fail('answering escrow asks failed', { region }, error),
  );

  const [lags, seen, itemsPerBucket] = await Promise.all([probes, heartbeats, views, escrow]);
  const levelsAtMs = nowFn();
  const timestamp = new Date(startMs);
  const metricData: MetricDatum[] = [];
  const lagMs = lagFindings(deps, options, others, lags, timestamp, metricData);
  const heartbeatAgeMs = heartbeatFindings(deps, others, seen, timestamp, metricData);
  const watched = buckets.map((bucket, i) =>
    watchedFinding(deps, bucket, itemsPerBucket[i] ?? new Map(), levelsAtMs, timestamp, metricData),
  );

  const status: ReconcilerStatus = {
    region,
    measuredAtMs: startMs,
    durationMs: nowFn() - startMs,
    lagMs,
    heartbeatAgeMs,
    watched,
    errorCount: failures.count,
  };
  const [published, stored] = await Promise.allSettled([
    deps.metrics.publish(metricData, AbortSignal.timeout(options.finishReserveMs)),
    deps.replicationStore(region).writeStatus(status, {
      abortSignal: AbortSignal.timeout(Math.min(options.callTimeoutMs, options.finishReserveMs)),
    }),
  ]);
  const publishError = published.status === 'rejected' ? published.reason : undefined;
  const statusError = stored.status === 'rejected' ? stored.reason : undefined;
  if (publishError !== undefined) {
    logger.error('publishing metrics failed', {
      points: metricData.length,
      error: describeError(publishError),
    });
  }
  if (statusError !== undefined) {
    logger.error('writing the status item failed', { region, error: describeError(statusError) });
  }
  logger.info('reconciler run', {
    region,
    durationMs: nowFn() - startMs,
    errorCount: failures.count,
    points: metricData.length,
    watchedBuckets: buckets.length,
    published: publishError === undefined,
  });
  return {
    status,
    metricData,
    ...(publishError === undefined ? {} : { publishError }),
    ...(statusError === undefined ? {} : { statusError }),
  };
}

/** SyncLagMs per link: the measured lag, or the breach value when the heartbeat did not show. */
function lagFindings(
  deps: ReconcilerDeps,
  options: ResolvedReconcilerOptions,
  others: readonly string[],
  lags: ReadonlyMap<string, ProbeOutcome>,
  timestamp: Date,
  metricData: MetricDatum[],
): Record<string, number | null> {
  const { region, logger } = deps;
  const lagMs: Record<string, number | null> = {};
  for (const other of others) {
    const outcome = lags.get(other);
    if (outcome?.kind === 'arrived') {
      lagMs[other] = outcome.lagMs;
      metricData.push(syncLagDatum(region, other, outcome.lagMs, timestamp));
      logger.info('replication lag measured', {
        sourceRegion: region,
        receivingRegion: other,
        lagMs: outcome.lagMs,
        resolutionMs: outcome.resolutionMs,
        polls: outcome.polls,
      });
      continue;
    }
    lagMs[other] = null;
    metricData.push(syncLagDatum(region, other, options.breachLagMs, timestamp));
    const unreachable =
      outcome !== undefined && outcome.polls > 0 && outcome.errors === outcome.polls;
    logger.warn('replication lag breach: heartbeat not seen in replica', {
      sourceRegion: region,
      receivingRegion: other,
      reason:
        outcome === undefined
          ? 'heartbeat not written'
          : unreachable
            ? 'replica unreachable'
            : 'not seen within the wait',
      publishedLagMs: options.breachLagMs,
      waitedMs: outcome?.waitedMs,
      polls: outcome?.polls ?? 0,
      failedPolls: outcome?.errors ?? 0,
      seenSeq: outcome?.seenSeq,
      lastError: outcome?.lastError === undefined ? undefined : describeError(outcome.lastError),
    });
  }
  return lagMs;
}

/** HeartbeatAgeMs per other region, as seen in this replica; the sentinel when absent or unread. */
function heartbeatFindings(
  deps: ReconcilerDeps,
  others: readonly string[],
  seen: { readonly list: readonly Heartbeat[]; readonly readAtMs: number } | undefined,
  timestamp: Date,
  metricData: MetricDatum[],
): Record<string, number | null> {
  const { region, logger } = deps;
  const ageMsByRegion: Record<string, number | null> = {};
  const byRegion = new Map((seen?.list ?? []).map((h) => [h.region, h]));
  for (const other of others) {
    const heartbeat = byRegion.get(other);
    if (heartbeat === undefined || seen === undefined) {
      ageMsByRegion[other] = null;
      metricData.push(heartbeatAgeDatum(other, region, NEVER_SEEN_HEARTBEAT_AGE_MS, timestamp));
      logger.warn('no heartbeat from region in this replica', {
        sourceRegion: other,
        receivingRegion: region,
        publishedAgeMs: NEVER_SEEN_HEARTBEAT_AGE_MS,
        heartbeatsRead: seen !== undefined,
      });
      continue;
    }
    // Two clocks meet here (the writer's and ours); a small negative skew reads as 0.
    const ageMs = Math.max(0, seen.readAtMs - heartbeat.atMs);
    ageMsByRegion[other] = ageMs;
    metricData.push(heartbeatAgeDatum(other, region, ageMs, timestamp));
    logger.info('heartbeat age', {
      sourceRegion: other,
      receivingRegion: region,
      ageMs,
      seq: heartbeat.seq,
    });
  }
  return ageMsByRegion;
}

/** Level ratio and divergence of one watched bucket, from the replicas that answered. */
function watchedFinding(
  deps: ReconcilerDeps,
  bucket: WatchedBucket,
  items: ReadonlyMap<string, readonly SlotItem[]>,
  levelsAtMs: number,
  timestamp: Date,
  metricData: MetricDatum[],
): WatchedBucketStatus {
  const { region, logger, config } = deps;
  const levels = watchedLevels(bucket.policy, items, region, levelsAtMs);
  if (levels.levelRatio !== null) {
    metricData.push(levelRatioDatum(bucket.policy.id, bucket.key, levels.levelRatio, timestamp));
  }
  if (levels.divergenceTokens !== null) {
    metricData.push(
      divergenceDatum(bucket.policy.id, bucket.key, levels.divergenceTokens, timestamp),
    );
  }
  const depletionRatio = config.alarms?.depletionRatio ?? DEFAULT_ALARMS.depletionRatio;
  const depleted = levels.levelRatio !== null && levels.levelRatio < depletionRatio;
  const finding = {
    policy: bucket.policy.id,
    key: bucket.key,
    levelRatio: levels.levelRatio,
    divergenceTokens: levels.divergenceTokens,
    levelTokensByRegion: Object.fromEntries(levels.levelTokensByRegion),
    replicas: items.size,
  };
  if (depleted) logger.warn('watched bucket depleted', { ...finding, depletionRatio });
  else logger.info('watched bucket level', finding);
  return {
    policy: finding.policy,
    key: finding.key,
    levelRatio: finding.levelRatio,
    divergenceTokens: finding.divergenceTokens,
    replicas: finding.replicas,
  };
}

/** Counts the failed calls of a run and logs the ones that are findings on their own. */
class Failures {
  count = 0;
  constructor(private readonly logger: ReconcilerLogger) {}

  /** One failed call, logged on its own line. */
  fail(message: string, attributes: Record<string, unknown>, error: unknown): void {
    this.count += 1;
    this.logger.error(message, { ...attributes, error: describeError(error) });
  }

  /** Failed calls already reported on another finding's line. */
  add(calls: number): void {
    this.count += calls;
  }
}

/** Writes the heartbeat, then probes every other replica in parallel. */
async function runProbes(
  deps: ReconcilerDeps,
  options: ResolvedReconcilerOptions,
  others: readonly string[],
  signal: AbortSignal,
  nowFn: () => number,
  sleep: Sleep,
  pool: ReturnType<typeof concurrencyLimit>,
  failures: Failures,
): Promise<Map<string, ProbeOutcome>> {
  const { region } = deps;
  const sendMs = nowFn();
  let heartbeat: Heartbeat;
  try {
    heartbeat = await pool.run(() =>
      // The item keeps whole milliseconds; the lag below is timed on the unrounded clock.
      deps.replicationStore(region).writeHeartbeat(region, Math.floor(sendMs), {
        abortSignal: callSignal(signal, options.callTimeoutMs),
      }),
    );
  } catch (error) {
    failures.fail('writing the heartbeat failed', { region }, error);
    return new Map();
  }
  const ackMs = nowFn();
  const outcomes = await Promise.all(
    others.map(async (other): Promise<[string, ProbeOutcome]> => {
      const outcome = await probeReplica({
        store: deps.replicationStore(other),
        sourceRegion: region,
        seq: heartbeat.seq,
        writeMidMs: (sendMs + ackMs) / 2,
        writeAckMs: ackMs,
        waitMs: options.probeWaitMs,
        callTimeoutMs: options.callTimeoutMs,
        firstPollIntervalMs: options.firstPollIntervalMs,
        maxPollIntervalMs: options.maxPollIntervalMs,
        maxPolls: options.maxPollsPerRegion,
        runSignal: signal,
        nowFn,
        sleep,
      });
      // Failed polls count as errors of the run; their detail is on the lag finding's line.
      failures.add(outcome.errors);
      return [other, outcome];
    }),
  );
  return new Map(outcomes);
}

/** Reads one watched bucket from every replica; replicas that fail are left out. */
async function readViews(
  deps: ReconcilerDeps,
  bucket: WatchedBucket,
  options: ResolvedReconcilerOptions,
  signal: AbortSignal,
  pool: ReturnType<typeof concurrencyLimit>,
  failures: Failures,
): Promise<Map<string, readonly SlotItem[]>> {
  const out = new Map<string, readonly SlotItem[]>();
  await Promise.all(
    deps.config.regions.map(async (replica) => {
      try {
        const items = await pool.run(() =>
          deps
            .bucketStore(replica)
            .readView(bucket.bucketId, { abortSignal: callSignal(signal, options.callTimeoutMs) }),
        );
        out.set(replica, items);
      } catch (error) {
        failures.fail(
          'reading a watched bucket failed',
          { policy: bucket.policy.id, key: bucket.key, replica },
          error,
        );
      }
    }),
  );
  return out;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
