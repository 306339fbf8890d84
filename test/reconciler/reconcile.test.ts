import {
  CloudWatchClient,
  type MetricDatum,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  GetItemCommand,
  type GetItemCommandInput,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bucketPolicyOf, type PolicyConfig } from '../../functions/config/schema';
import { decide, EMPTY_VIEW } from '../../functions/core';
import { HEARTBEAT_PK } from '../../functions/reconciler/heartbeat';
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
import { decodeReconcilerStatus, RECONCILER_STATUS_PK } from '../../functions/reconciler/status';
import { DIMENSION, METRIC, METRIC_NAMESPACE } from '../../functions/shared/metric-names';
import {
  CAP,
  CAP_ID,
  type DynamoDbMock,
  FakeClock,
  FakeStores,
  mockedRegions,
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
  const { clients, mocks } = mockedRegions(regions);
  const logger = new RecordingLogger();
  const stores = new FakeStores();
  let writtenAtMs: number | undefined;
  const home = mocks.get(HOME) as DynamoDbMock;
  if (scenario.heartbeatWriteFails === true) {
    home.on(UpdateItemCommand).rejects(new Error('home replica down'));
  } else {
    home.on(UpdateItemCommand).callsFake((input: UpdateItemCommandInput) => {
      writtenAtMs = clock.now();
      return {
        Attributes: {
          pk: { S: HEARTBEAT_PK },
          sk: { S: HOME },
          at: input.ExpressionAttributeValues?.[':at'],
          seq: { N: String(SEQ) },
        },
      };
    });
  }
  home.on(QueryCommand).callsFake(() => ({
    Items: Object.entries(scenario.heartbeatAgesMs ?? {}).map(([region, ageMs]) => ({
      pk: { S: HEARTBEAT_PK },
      sk: { S: region },
      at: { N: String(clock.now() - ageMs) },
      seq: { N: '9' },
    })),
  }));
  home.on(PutItemCommand).resolves({});
  for (const region of regions) {
    if (region === HOME) continue;
    const mock = mocks.get(region) as DynamoDbMock;
    if (scenario.unreachable?.includes(region)) {
      mock
        .on(GetItemCommand)
        .rejects(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      stores.failing.add(region);
      continue;
    }
    mock.on(GetItemCommand).callsFake((input: GetItemCommandInput) => {
      const lag = scenario.lagMs[region] ?? 0;
      const shown = writtenAtMs !== undefined && clock.now() >= writtenAtMs + lag;
      return {
        Item: { ...input.Key, at: { N: '1' }, seq: { N: String(shown ? SEQ : SEQ - 1) } },
      };
    });
  }
  const config = testConfig(regions, scenario.policies ?? [CAP]);
  const run = () =>
    reconcile(
      {
        region: HOME,
        config,
        dynamoDb: (r) => clients.get(r) as never,
        bucketStore: (r) => stores.store(r),
        metrics: cloudWatchPublisher(new CloudWatchClient({ region: HOME })),
        logger,
        options: { probeWaitMs: 1500, ...scenario.options },
        sleep: clock.sleep,
      },
      clock.now,
    );
  return { clock, mocks, logger, stores, run, config };
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
    const { run, mocks, logger, config } = setUp({
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
    const polls = mocks.get(AP)?.commandCalls(GetItemCommand).length ?? 0;
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
    const { run, mocks, logger } = setUp({ lagMs: {}, heartbeatWriteFails: true });
    const { status, metricData } = await run();
    expect(status.lagMs).toEqual({ [EU]: null, [AP]: null });
    expect(
      metricData
        .filter((d) => d.MetricName === METRIC.SyncLagMs)
        .every((d) => (d.Value ?? 0) > 1000),
    ).toBe(true);
    expect(mocks.get(EU)?.commandCalls(GetItemCommand)).toHaveLength(0);
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
    const { run, mocks } = setUp({ lagMs: { [EU]: 100 }, unreachable: [AP] });
    const { status } = await run();
    const put = mocks.get(HOME)?.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put?.Item?.pk).toEqual({ S: RECONCILER_STATUS_PK });
    expect(decodeReconcilerStatus(put?.Item ?? {})).toEqual(status);
    expect(status.region).toBe(HOME);
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
    const { run, mocks, logger } = setUp({ lagMs: { [EU]: 0, [AP]: 0 } });
    const result = await run();
    expect(String(result.publishError)).toContain('throttled');
    expect(mocks.get(HOME)?.commandCalls(PutItemCommand)).toHaveLength(1);
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
    const { clients } = mockedRegions(REGIONS);
    const outside = reconcile({
      region: 'sa-east-1',
      config,
      dynamoDb: (r) => clients.get(r) as never,
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
