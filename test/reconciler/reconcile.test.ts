import {
  CloudWatchClient,
  type MetricDatum,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bucketPolicyOf, type PolicyConfig } from '../../functions/config/schema';
import { decide, EMPTY_VIEW } from '../../functions/core';
import {
  cloudWatchPublisher,
  MAX_METRIC_DATA_PER_CALL,
  syncLagDatum,
} from '../../functions/reconciler/metrics';
import {
  InvalidReconcilerOptionsError,
  NEVER_SEEN_HEARTBEAT_AGE_MS,
  type ReconcilerOptions,
  reconcile,
  resolveReconcilerOptions,
} from '../../functions/reconciler/reconcile';
import { DIMENSION, METRIC, METRIC_NAMESPACE } from '../../functions/shared/metric-names';
import { StoreError } from '../../functions/store/types';
import {
  CAP,
  CAP_ID,
  FakeClock,
  FakeReplicatedTable,
  FakeStores,
  RecordingLogger,
  testConfig,
} from './fakes';

const HOME = 'us-east-1';
const EU = 'eu-west-1';
const AP = 'ap-southeast-1';
const REGIONS = [HOME, EU, AP];
const SEQ = 5;

const cloudWatch = mockClient(CloudWatchClient);

interface Scenario {
  /** Per other region: how long after the heartbeat write it shows there (Infinity: never). */
  readonly lagMs: Record<string, number>;
  /** Regions whose replica refuses every call. */
  readonly unreachable?: readonly string[];
  /** Heartbeats of other regions in the home replica: region → age (ms). */
  readonly heartbeatAgesMs?: Record<string, number>;
  readonly regions?: readonly string[];
  readonly policies?: readonly PolicyConfig[];
  readonly options?: ReconcilerOptions;
  readonly heartbeatWriteFails?: boolean;
}

function setUp(scenario: Scenario) {
  const regions = scenario.regions ?? REGIONS;
  const clock = new FakeClock(1_700_000_000_000);
  const table = new FakeReplicatedTable(clock, regions, scenario.lagMs);
  const logger = new RecordingLogger();
  const stores = new FakeStores();
  // Every replica already holds this region's previous heartbeat: a run's write makes it SEQ.
  for (const region of regions) {
    table.seedHeartbeat(region, { region: HOME, atMs: clock.now() - 60_000, seq: SEQ - 1 });
  }
  for (const [region, ageMs] of Object.entries(scenario.heartbeatAgesMs ?? {})) {
    table.seedHeartbeat(HOME, { region, atMs: clock.now() - ageMs, seq: 9 });
  }
  if (scenario.heartbeatWriteFails === true) table.failing.add(`${HOME}.writeHeartbeat`);
  for (const region of scenario.unreachable ?? []) {
    table.unreachable.add(region);
    stores.failing.add(region);
  }
  const config = testConfig(regions, scenario.policies ?? [CAP]);
  const run = () =>
    reconcile(
      {
        region: HOME,
        config,
        replicationStore: (r) => table.store(r),
        bucketStore: (r) => stores.store(r),
        metrics: cloudWatchPublisher(new CloudWatchClient({ region: HOME })),
        logger,
        options: { probeWaitMs: 1500, ...scenario.options },
        sleep: clock.sleep,
      },
      clock.now,
    );
  return { clock, table, logger, stores, run, config };
}

function dims(datum: MetricDatum): Record<string, string> {
  return Object.fromEntries((datum.Dimensions ?? []).map((d) => [d.Name, d.Value]));
}

function published(): MetricDatum[] {
  return cloudWatch
    .commandCalls(PutMetricDataCommand)
    .flatMap((c) => c.args[0].input.MetricData ?? []);
}

describe('reconcile', () => {
  beforeEach(() => {
    cloudWatch.reset();
    cloudWatch.on(PutMetricDataCommand).resolves({});
  });
  afterEach(() => cloudWatch.reset());

  it('publishes every finding in ONE PutMetricData call with the contract names, dimensions and units', async () => {
    const { run, stores, clock } = setUp({
      lagMs: { [EU]: 300, [AP]: 700 },
      heartbeatAgesMs: { [EU]: 30_000 },
    });
    const admitted = decide({
      policy: bucketPolicyOf(CAP),
      view: EMPTY_VIEW,
      slot: EU,
      costTokens: 100,
      nowMs: clock.now(),
    });
    if (!admitted.allowed) throw new Error('setup: the first admission must pass');
    stores.set(EU, CAP_ID, [admitted.write.expected]);
    stores.set(AP, CAP_ID, [admitted.write.expected]);

    await run();

    const calls = cloudWatch.commandCalls(PutMetricDataCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input.Namespace).toBe(METRIC_NAMESPACE);
    const data = published();
    expect(data).toHaveLength(2 * 2 + 2);
    for (const other of [EU, AP]) {
      const lag = data.find(
        (d) => d.MetricName === METRIC.SyncLagMs && dims(d)[DIMENSION.ReceivingRegion] === other,
      );
      expect(lag?.Unit).toBe('Milliseconds');
      expect(dims(lag as MetricDatum)).toEqual({
        [DIMENSION.SourceRegion]: HOME,
        [DIMENSION.ReceivingRegion]: other,
      });
      const age = data.find(
        (d) => d.MetricName === METRIC.HeartbeatAgeMs && dims(d)[DIMENSION.SourceRegion] === other,
      );
      expect(age?.Unit).toBe('Milliseconds');
      expect(dims(age as MetricDatum)).toEqual({
        [DIMENSION.SourceRegion]: other,
        [DIMENSION.ReceivingRegion]: HOME,
      });
    }
    for (const name of [METRIC.WatchedBucketLevelRatio, METRIC.WatchedBucketDivergenceTokens]) {
      const point = data.find((d) => d.MetricName === name);
      expect(point?.Unit).toBe('None');
      expect(dims(point as MetricDatum)).toEqual({
        [DIMENSION.Policy]: CAP.id,
        [DIMENSION.Key]: 'all',
      });
    }
    for (const d of data) expect(d.Timestamp).toBeInstanceOf(Date);
  });

  it('measures each link from when the heartbeat shows, within half a poll interval', async () => {
    const { run, logger } = setUp({ lagMs: { [EU]: 300, [AP]: 900 } });
    const { status, metricData } = await run();
    const maxPollIntervalMs = resolveReconcilerOptions(testConfig(REGIONS, [])).maxPollIntervalMs;
    for (const [region, lag] of [
      [EU, 300],
      [AP, 900],
    ] as const) {
      expect(Math.abs((status.lagMs[region] ?? -1) - lag)).toBeLessThanOrEqual(
        maxPollIntervalMs / 2,
      );
      const line = logger.find('replication lag measured', { receivingRegion: region })[0];
      expect(line?.attributes.resolutionMs).toBeGreaterThan(0);
      expect(line?.attributes.resolutionMs).toBeLessThanOrEqual(maxPollIntervalMs);
      const point = metricData.find(
        (d) => d.MetricName === METRIC.SyncLagMs && dims(d)[DIMENSION.ReceivingRegion] === region,
      );
      expect(point?.Value).toBe(status.lagMs[region]);
    }
  });

  it('publishes a breach value above the alarm threshold when the heartbeat never shows, and stops polling', async () => {
    const { run, table, logger, config } = setUp({
      lagMs: { [EU]: 200, [AP]: Number.POSITIVE_INFINITY },
    });
    const { status, metricData } = await run();
    const options = resolveReconcilerOptions(config, { probeWaitMs: 1500 });
    const point = metricData.find(
      (d) => d.MetricName === METRIC.SyncLagMs && dims(d)[DIMENSION.ReceivingRegion] === AP,
    );
    expect(point?.Value).toBe(options.breachLagMs);
    expect(point?.Value).toBeGreaterThan(config.alarms?.syncLagMs ?? Number.POSITIVE_INFINITY);
    expect(status.lagMs[AP]).toBeNull();
    expect(status.lagMs[EU]).toBeGreaterThan(100);
    const polls = table.calls(AP, 'readHeartbeat');
    expect(polls).toBeGreaterThan(1);
    expect(polls).toBeLessThanOrEqual(options.maxPollsPerRegion);
    const line = logger.find('replication lag breach', { receivingRegion: AP });
    expect(line).toHaveLength(1);
    expect(line[0]?.attributes.reason).toBe('not seen within the wait');
    expect(line[0]?.attributes.seenSeq).toBe(SEQ - 1);
  });

  it('reports an unreachable replica as a breach and an error, and still measures the others', async () => {
    const { run, stores, logger, clock } = setUp({ lagMs: { [EU]: 250 }, unreachable: [AP] });
    const admitted = decide({
      policy: bucketPolicyOf(CAP),
      view: EMPTY_VIEW,
      slot: HOME,
      costTokens: 10,
      nowMs: clock.now(),
    });
    if (!admitted.allowed) throw new Error('setup: the admission must pass');
    stores.set(HOME, CAP_ID, [admitted.write.expected]);
    const { status, metricData } = await run();
    expect(status.lagMs[AP]).toBeNull();
    expect(status.lagMs[EU]).toBeGreaterThan(125);
    expect(status.errorCount).toBeGreaterThan(1);
    expect(
      logger.find('replication lag breach', { receivingRegion: AP })[0]?.attributes.reason,
    ).toBe('replica unreachable');
    expect(logger.find('reading a watched bucket failed', { replica: AP })).toHaveLength(1);
    // The watched bucket is still reported from the two replicas that answered.
    expect(status.watched[0]?.replicas).toBe(2);
    expect(status.watched[0]?.divergenceTokens).toBeCloseTo(10, 2);
    expect(metricData.filter((d) => d.MetricName === METRIC.SyncLagMs)).toHaveLength(2);
  });

  it('publishes breaches for every link when the heartbeat cannot be written', async () => {
    const { run, table, logger } = setUp({ lagMs: {}, heartbeatWriteFails: true });
    const { status, metricData } = await run();
    expect(status.lagMs).toEqual({ [EU]: null, [AP]: null });
    expect(
      metricData
        .filter((d) => d.MetricName === METRIC.SyncLagMs)
        .every((d) => (d.Value ?? 0) > 1000),
    ).toBe(true);
    expect(table.calls(HOME, 'writeHeartbeat')).toBe(1);
    expect(table.calls(EU, 'readHeartbeat')).toBe(0);
    expect(logger.find('writing the heartbeat failed')).toHaveLength(1);
  });

  it('publishes heartbeat ages as seen in this replica, and a sentinel for a region never seen', async () => {
    const { run } = setUp({ lagMs: {}, heartbeatAgesMs: { [EU]: 42_000 } });
    const { status, metricData } = await run();
    expect(status.heartbeatAgeMs[EU]).toBe(42_000);
    expect(status.heartbeatAgeMs[AP]).toBeNull();
    const age = (region: string) =>
      metricData.find(
        (d) => d.MetricName === METRIC.HeartbeatAgeMs && dims(d)[DIMENSION.SourceRegion] === region,
      )?.Value;
    expect(age(EU)).toBe(42_000);
    expect(age(AP)).toBe(NEVER_SEEN_HEARTBEAT_AGE_MS);
  });

  it('logs a depleted watched bucket as a warning and publishes its ratio', async () => {
    const { run, stores, logger, clock } = setUp({ lagMs: {} });
    const admitted = decide({
      policy: bucketPolicyOf(CAP),
      view: EMPTY_VIEW,
      slot: HOME,
      costTokens: 950,
      nowMs: clock.now(),
    });
    if (!admitted.allowed) throw new Error('setup: the admission must pass');
    stores.set(HOME, CAP_ID, [admitted.write.expected]);
    const { metricData } = await run();
    const ratio = metricData.find((d) => d.MetricName === METRIC.WatchedBucketLevelRatio)?.Value;
    expect(ratio).toBeCloseTo(0.05, 3);
    expect(logger.find('watched bucket depleted', { policy: CAP.id, key: 'all' })).toHaveLength(1);
    expect(logger.find('watched bucket level')).toHaveLength(0);
  });

  it('writes the findings as the status item of this region', async () => {
    const { run, table } = setUp({ lagMs: { [EU]: 100 }, unreachable: [AP] });
    const { status } = await run();
    expect(table.calls(HOME, 'writeStatus')).toBe(1);
    expect(table.status(HOME, HOME)).toEqual(status);
    expect(status.region).toBe(HOME);
    for (const other of [EU, AP]) expect(table.calls(other, 'writeStatus')).toBe(0);
  });

  it('reports a failed status write in the result and the log, with the metrics still published', async () => {
    const { run, table, logger } = setUp({ lagMs: { [EU]: 0, [AP]: 0 } });
    table.failing.add(`${HOME}.writeStatus`);
    const result = await run();
    expect(result.statusError).toBeInstanceOf(StoreError);
    expect((result.statusError as StoreError).kind).toBe('unavailable');
    expect(result.publishError).toBeUndefined();
    expect(published()).toHaveLength(result.metricData.length);
    expect(logger.find('writing the status item failed', { region: HOME })).toHaveLength(1);
    expect(table.status(HOME, HOME)).toBeUndefined();
  });

  it('bounds store calls in flight and the number of watched buckets, logging what it skips', async () => {
    const many: PolicyConfig = { ...CAP, watchKeys: Array.from({ length: 30 }, (_, i) => `k${i}`) };
    const regions = [HOME, EU, AP, 'eu-central-1', 'sa-east-1', 'us-west-2'];
    const { run, stores, logger } = setUp({
      regions,
      lagMs: {},
      policies: [many],
      options: { maxConcurrency: 3, maxWatchedBuckets: 5 },
    });
    const { status } = await run();
    expect(status.watched).toHaveLength(5);
    expect(stores.calls).toBe(5 * regions.length);
    expect(stores.maxInFlight).toBeLessThanOrEqual(3);
    expect(stores.maxInFlight).toBeGreaterThan(1);
    expect(logger.find('watched bucket skipped')).toHaveLength(25);
  });

  it('keeps the status and reports the failure when publishing fails', async () => {
    cloudWatch.on(PutMetricDataCommand).rejects(new Error('throttled'));
    const { run, table, logger } = setUp({ lagMs: { [EU]: 0, [AP]: 0 } });
    const result = await run();
    expect(String(result.publishError)).toContain('throttled');
    expect(table.status(HOME, HOME)).toEqual(result.status);
    expect(logger.find('publishing metrics failed')).toHaveLength(1);
  });

  it('publishes exactly the reconciler metrics of the shared contract', async () => {
    const { run } = setUp({ lagMs: { [EU]: 0, [AP]: 0 }, heartbeatAgesMs: { [EU]: 1, [AP]: 1 } });
    await run();
    expect(new Set(published().map((d) => d.MetricName))).toEqual(
      new Set([
        METRIC.SyncLagMs,
        METRIC.HeartbeatAgeMs,
        METRIC.WatchedBucketLevelRatio,
        METRIC.WatchedBucketDivergenceTokens,
      ]),
    );
  });

  it('refuses a region outside the config and inconsistent options, listing every problem', async () => {
    const config = testConfig(REGIONS, [CAP]);
    const problemsOf = (options: ReconcilerOptions) => {
      try {
        resolveReconcilerOptions(config, options);
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidReconcilerOptionsError);
        return (error as InvalidReconcilerOptionsError).problems;
      }
    };
    expect(problemsOf({ probeWaitMs: 30_000, firstPollIntervalMs: 0 })).toHaveLength(2);
    expect(problemsOf({ firstPollIntervalMs: 500 })).toHaveLength(1);
    expect(problemsOf({})).toHaveLength(0);
    expect(resolveReconcilerOptions(config, { probeWaitMs: 500 }).breachLagMs).toBe(1001);
    expect(resolveReconcilerOptions(config, { probeWaitMs: 4000 }).breachLagMs).toBe(4000);
    const table = new FakeReplicatedTable(new FakeClock(0), REGIONS);
    const outside = reconcile({
      region: 'sa-east-1',
      config,
      replicationStore: (r) => table.store(r),
      bucketStore: (r) => new FakeStores().store(r),
      metrics: cloudWatchPublisher(new CloudWatchClient({ region: HOME })),
      logger: new RecordingLogger(),
    });
    await expect(outside).rejects.toThrow(/not one of the configured regions/);
  });
});

describe('cloudWatchPublisher', () => {
  beforeEach(() => {
    cloudWatch.reset();
    cloudWatch.on(PutMetricDataCommand).resolves({});
  });

  it('splits only beyond the API limit of metric data per call', async () => {
    const points = Array.from({ length: 2 * MAX_METRIC_DATA_PER_CALL + 1 }, (_, i) =>
      syncLagDatum(HOME, `r${i}`, i, new Date(0)),
    );
    await cloudWatchPublisher(new CloudWatchClient({ region: HOME })).publish(points);
    const sizes = cloudWatch
      .commandCalls(PutMetricDataCommand)
      .map((c) => c.args[0].input.MetricData?.length);
    expect(sizes).toEqual([MAX_METRIC_DATA_PER_CALL, MAX_METRIC_DATA_PER_CALL, 1]);
    await cloudWatchPublisher(new CloudWatchClient({ region: HOME })).publish(
      points.slice(0, MAX_METRIC_DATA_PER_CALL),
    );
    expect(cloudWatch.commandCalls(PutMetricDataCommand)).toHaveLength(4);
  });
});
