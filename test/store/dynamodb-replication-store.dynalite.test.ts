/**
 * The replication adapter against an embedded DynamoDB: `ADD seq` really
 * counts writes per region, and a status reads back as written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReconcilerStatus } from '../../functions/shared/replication-status';
import { DynamoDbReplicationStore } from '../../functions/store/dynamodb-replication-store';
import { type LocalDynamo, startDynalite } from '../helpers/dynalite';

let db: LocalDynamo;
let store: DynamoDbReplicationStore;

beforeAll(async () => {
  db = await startDynalite();
  store = new DynamoDbReplicationStore({ client: db.client, tableName: db.tableName });
});
afterAll(() => db.stop());

describe('DynamoDbReplicationStore on dynalite', () => {
  it('numbers the heartbeats of a region 1, 2, 3 and keeps each region apart', async () => {
    const seqs: number[] = [];
    for (const atMs of [1_000, 2_000, 3_000]) {
      seqs.push((await store.writeHeartbeat('us-east-1', atMs)).seq);
    }
    expect(seqs).toEqual([1, 2, 3]);
    expect(await store.writeHeartbeat('eu-west-1', 2_500)).toEqual({
      region: 'eu-west-1',
      atMs: 2_500,
      seq: 1,
    });
    expect(await store.readHeartbeat('us-east-1')).toEqual({
      region: 'us-east-1',
      atMs: 3_000,
      seq: 3,
    });
    expect(await store.readHeartbeat('ap-southeast-1')).toBeUndefined();
    const all = await store.readHeartbeats();
    expect(all.sort((a, b) => a.region.localeCompare(b.region))).toEqual([
      { region: 'eu-west-1', atMs: 2_500, seq: 1 },
      { region: 'us-east-1', atMs: 3_000, seq: 3 },
    ]);
  });

  it('reads a status back as written, replaced by the next run, per region', async () => {
    const first: ReconcilerStatus = {
      region: 'us-east-1',
      measuredAtMs: 1_700_000_000_000,
      durationMs: 900,
      lagMs: { 'eu-west-1': 512, 'ap-southeast-1': null },
      heartbeatAgeMs: { 'eu-west-1': 30_000, 'ap-southeast-1': null },
      watched: [
        { policy: 'global-cap', key: 'all', levelRatio: -0.25, divergenceTokens: 0, replicas: 3 },
      ],
      errorCount: 1,
    };
    await store.writeStatus(first);
    expect(await store.readStatus('us-east-1')).toEqual(first);
    const second = { ...first, measuredAtMs: first.measuredAtMs + 60_000, watched: [] };
    await store.writeStatus(second);
    expect(await store.readStatus('us-east-1')).toEqual(second);
    expect(await store.readStatus('eu-west-1')).toBeUndefined();
  });
});
