import type { MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bucketPolicyOf } from '../../functions/config/schema';
import { decide, viewOf } from '../../functions/core';
import {
  createReconcilerHandler,
  ReconcilerPublishError,
  reconcilerDependencies,
} from '../../functions/reconciler/handler';
import {
  type ReconcileResult,
  type ReconcilerOptions,
  reconcile,
  resolveReconcilerOptions,
} from '../../functions/reconciler/reconcile';
import { DIMENSION, METRIC } from '../../functions/shared/metric-names';
import { DynamoDbReplicationStore } from '../../functions/store/dynamodb-replication-store';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import { SdkTransport } from '../../functions/store/sdk-transport';
import { bucketTableDefinition } from '../../functions/store/table';
import { RegionEmulator } from '../../local/emulator';
import { CAP, CAP_ID, RecordingLogger, testConfig } from './fakes';

const US = 'us-east-1';
const EU = 'eu-west-1';
const AP = 'ap-southeast-1';
const REGIONS = [US, EU, AP];
const LAG_MS = 300;

const config = testConfig(REGIONS, [CAP], 1000);
/** The fields of a full config the reconciler does not read. */
const fullConfigFields = {
  appName: 'ReconcilerTest',
  account: '111111111111',
  origin: { domainName: 'api.example.com' },
  rules: [],
};
const options: ReconcilerOptions = {
  probeWaitMs: 1500,
  callTimeoutMs: 500,
  runBudgetMs: 6000,
  finishReserveMs: 1000,
};

describe('reconcile against emulated regions', () => {
  let emu: RegionEmulator;
  const clients = new Map<string, DynamoDBClient>();
  const stores = new Map<string, DynamoDbStore>();
  const published = new Map<string, readonly MetricDatum[]>();
  const clientOf = (region: string): DynamoDBClient => {
    let client = clients.get(region);
    if (client === undefined) {
      client = emu.client(region);
      clients.set(region, client);
    }
    return client;
  };
  const replicationOf = (region: string) =>
    new DynamoDbReplicationStore({ client: clientOf(region), tableName: config.tableName });
  const storeOf = (region: string): DynamoDbStore => {
    let store = stores.get(region);
    if (store === undefined) {
      store = new DynamoDbStore({
        transport: new SdkTransport(clientOf(region)),
        tableName: config.tableName,
      });
      stores.set(region, store);
    }
    return store;
  };
  const run = (region: string): Promise<ReconcileResult> =>
    reconcile({
      region,
      config,
      replicationStore: replicationOf,
      bucketStore: storeOf,
      metrics: {
        publish: async (data) => {
          published.set(region, data);
        },
      },
      logger: new RecordingLogger(),
      options,
    });
  const point = (region: string, name: string, dims: Record<string, string>) =>
    published
      .get(region)
      ?.find(
        (d) =>
          d.MetricName === name &&
          Object.entries(dims).every(([k, v]) =>
            d.Dimensions?.some((x) => x.Name === k && x.Value === v),
          ),
      )?.Value;
  /** Admits `costTokens` in `region`'s slot the way the limiter does: read the local view, decide, write. */
  const admit = async (region: string, costTokens: number) => {
    const store = storeOf(region);
    const view = viewOf(await store.readView(CAP_ID));
    const decision = decide({
      policy: bucketPolicyOf(CAP),
      view,
      slot: region,
      costTokens,
      nowMs: Date.now(),
    });
    if (!decision.allowed)
      throw new Error(`setup: ${costTokens} tokens must be admitted in ${region}`);
    await store.applyWrite(CAP_ID, decision.write);
  };

  beforeAll(async () => {
    emu = await RegionEmulator.start({ regions: REGIONS, lagMs: LAG_MS });
    await emu.createTable(bucketTableDefinition(config.tableName));
  });
  afterEach(async () => {
    for (const r of REGIONS) emu.setDown(r, false);
    emu.heal(US, EU);
    await emu.settle();
  });
  afterAll(async () => {
    for (const client of clients.values()) client.destroy();
    await emu.stop();
  });

  it(`measures a replication lag of ${LAG_MS} ms as about ${LAG_MS} ms on every link`, async () => {
    const { status } = await run(US);
    for (const other of [EU, AP]) {
      const lagMs = status.lagMs[other];
      expect(lagMs).toBeGreaterThanOrEqual(250);
      // Measured, not a breach. A loaded machine adds its own delay to real time, so the
      // upper bound is the probe's wait, not a tight figure.
      expect(lagMs).toBeLessThan(options.probeWaitMs ?? 0);
      expect(point(US, METRIC.SyncLagMs, { [DIMENSION.ReceivingRegion]: other })).toBe(lagMs);
    }
    // The status item is readable by GET /health from this region's replica.
    expect(await replicationOf(US).readStatus(US)).toEqual(status);
  });

  it("sees other regions' heartbeats in its replica, and notices a region that never wrote one", async () => {
    await run(EU);
    await emu.settle();
    const { status } = await run(US);
    expect(status.heartbeatAgeMs[EU]).toBeGreaterThanOrEqual(LAG_MS - 50);
    expect(status.heartbeatAgeMs[EU]).toBeLessThan(5000);
    expect(status.heartbeatAgeMs[AP]).toBeNull();
    const fresh = point(US, METRIC.HeartbeatAgeMs, { [DIMENSION.SourceRegion]: EU });
    expect(fresh).toBe(status.heartbeatAgeMs[EU]);
  });

  it('reports a cut link as a breach and still measures the healthy one', async () => {
    emu.cut(US, EU);
    const { status } = await run(US);
    const breachLagMs = resolveReconcilerOptions(config, options).breachLagMs;
    expect(status.lagMs[EU]).toBeNull();
    expect(point(US, METRIC.SyncLagMs, { [DIMENSION.ReceivingRegion]: EU })).toBe(breachLagMs);
    expect(breachLagMs).toBeGreaterThan(config.alarms?.syncLagMs ?? Number.POSITIVE_INFINITY);
    expect(status.lagMs[AP]).toBeGreaterThanOrEqual(250);
    expect(status.lagMs[AP]).toBeLessThan(options.probeWaitMs ?? 0);
  });

  it('reports the divergence of a watched bucket during a partition, and zero once healed', async () => {
    emu.cut(US, EU);
    await admit(US, 30);
    await admit(EU, 50);
    await emu.settle();

    const partitioned = await run(US);
    const during = partitioned.status.watched[0];
    expect(during?.replicas).toBe(3);
    // US misses EU's 50 tokens, AP holds both slots: the spread is what US cannot see.
    expect(during?.divergenceTokens).toBeCloseTo(50, 1);
    expect(during?.levelRatio).toBeCloseTo((1000 - 30) / 1000, 3);

    emu.heal(US, EU);
    await emu.settle();
    const healed = await run(US);
    const after = healed.status.watched[0];
    expect(after?.divergenceTokens).toBe(0);
    expect(after?.levelRatio).toBeCloseTo((1000 - 80) / 1000, 3);
    expect(point(US, METRIC.WatchedBucketDivergenceTokens, { [DIMENSION.Policy]: CAP.id })).toBe(0);
  });

  it('bounds a hanging replica by the call timeout: breach for its link, the rest measured', async () => {
    emu.setDown(AP, true, 'hang');
    const { status } = await run(US);
    expect(status.lagMs[AP]).toBeNull();
    expect(status.lagMs[EU]).toBeGreaterThanOrEqual(250);
    expect(status.errorCount).toBeGreaterThan(0);
    expect(status.watched[0]?.replicas).toBe(2);
    expect(status.durationMs).toBeLessThan(options.runBudgetMs ?? 0);
  });

  it('runs as a Lambda container on per-region endpoints, and fails the invocation only when publishing fails', async () => {
    const points: MetricDatum[][] = [];
    const container = {
      endpoints: Object.fromEntries(REGIONS.map((r) => [r, emu.endpoint(r)])),
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      logger: new RecordingLogger(),
      options,
    };
    const okDeps = reconcilerDependencies({ ...config, ...fullConfigFields }, AP, {
      ...container,
      metrics: { publish: async (data) => void points.push([...data]) },
    });
    const status = await createReconcilerHandler(okDeps)().finally(() => okDeps.close());
    expect(status.region).toBe(AP);
    expect(status.lagMs[US]).toBeGreaterThanOrEqual(250);
    expect(points).toHaveLength(1);

    const cause = new Error('CloudWatch throttled');
    const failingDeps = reconcilerDependencies({ ...config, ...fullConfigFields }, AP, {
      ...container,
      metrics: { publish: () => Promise.reject(cause) },
    });
    const error = await createReconcilerHandler(failingDeps)()
      .catch((e: unknown) => e)
      .finally(() => failingDeps.close());
    expect(error).toBeInstanceOf(ReconcilerPublishError);
    expect((error as ReconcilerPublishError).cause).toBe(cause);
    // The findings were still kept for GET /health.
    const kept = await replicationOf(AP).readStatus(AP);
    expect(kept?.measuredAtMs).toBeGreaterThan(status.measuredAtMs);
  });
});
