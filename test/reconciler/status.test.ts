import {
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeReconcilerStatus,
  encodeReconcilerStatus,
  isReconcilerStatusStale,
  RECONCILER_STATUS_PK,
  type ReconcilerStatus,
  ReconcilerStatusError,
  readReconcilerStatus,
  writeReconcilerStatus,
} from '../../functions/reconciler/status';

const status: ReconcilerStatus = {
  region: 'eu-west-1',
  measuredAtMs: 1_700_000_000_123,
  durationMs: 812,
  lagMs: { 'us-east-1': 734, 'ap-southeast-1': null },
  heartbeatAgeMs: { 'us-east-1': 41_000, 'ap-southeast-1': null },
  watched: [
    { policy: 'global-cap', key: 'all', levelRatio: 0.25, divergenceTokens: 3.5, replicas: 2 },
    { policy: 'global-cap', key: 'other', levelRatio: null, divergenceTokens: null, replicas: 0 },
  ],
  errorCount: 2,
};

describe('reconciler status item', () => {
  const ddb = mockClient(DynamoDBClient);
  afterEach(() => ddb.reset());

  it('round-trips through the item, nulls included', () => {
    expect(decodeReconcilerStatus(encodeReconcilerStatus(status))).toEqual(status);
  });

  it('is keyed by the reconciler pk and the region, with a ttl a day after the run', () => {
    const item = encodeReconcilerStatus(status);
    expect(item.pk).toEqual({ S: RECONCILER_STATUS_PK });
    expect(item.sk).toEqual({ S: status.region });
    const ttlSeconds = Number(item.ttl?.N);
    expect(ttlSeconds - status.measuredAtMs / 1000).toBeGreaterThan(23 * 3600);
    expect(ttlSeconds - status.measuredAtMs / 1000).toBeLessThan(25 * 3600);
  });

  it('reads the item of the asked region and returns undefined when absent', async () => {
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: encodeReconcilerStatus(status) })
      .resolvesOnce({});
    const client = new DynamoDBClient({ region: 'eu-west-1' });
    expect(await readReconcilerStatus(client, 'table', 'eu-west-1')).toEqual(status);
    expect(await readReconcilerStatus(client, 'table', 'us-east-1')).toBeUndefined();
    const keys = ddb.commandCalls(GetItemCommand).map((c) => c.args[0].input);
    expect(keys[0]).toEqual({
      TableName: 'table',
      Key: { pk: { S: RECONCILER_STATUS_PK }, sk: { S: 'eu-west-1' } },
    });
    expect(keys[1]?.Key?.sk).toEqual({ S: 'us-east-1' });
  });

  it('wraps a failed call and a malformed item in ReconcilerStatusError with the cause', async () => {
    const client = new DynamoDBClient({ region: 'eu-west-1' });
    const boom = new Error('throttled');
    const broken = { ...encodeReconcilerStatus(status), measuredAtMs: { S: 'yesterday' } };
    ddb.on(GetItemCommand).rejectsOnce(boom).resolvesOnce({ Item: broken });
    const failed = await readReconcilerStatus(client, 't', 'eu-west-1').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ReconcilerStatusError);
    expect((failed as ReconcilerStatusError).cause).toBe(boom);

    const malformed = await readReconcilerStatus(client, 't', 'eu-west-1').catch((e: unknown) => e);
    expect(malformed).toBeInstanceOf(ReconcilerStatusError);
    expect(String((malformed as Error).cause)).toContain('measuredAtMs');
  });

  it('refuses an item of another shape version', () => {
    const future = { ...encodeReconcilerStatus(status), sv: { N: '2' } };
    expect(() => decodeReconcilerStatus(future)).toThrow(ReconcilerStatusError);
  });

  it('writes the encoded item with PutItem', async () => {
    ddb.on(PutItemCommand).resolves({});
    await writeReconcilerStatus(new DynamoDBClient({ region: 'eu-west-1' }), 'tbl', status);
    const input = ddb.commandCalls(PutItemCommand)[0]?.args[0].input as PutItemCommandInput;
    expect(input.TableName).toBe('tbl');
    expect(input.Item).toEqual(encodeReconcilerStatus(status));
  });

  it('is stale once older than the allowed age', () => {
    expect(isReconcilerStatusStale(status, status.measuredAtMs + 60_000, 180_000)).toBe(false);
    expect(isReconcilerStatusStale(status, status.measuredAtMs + 180_001, 180_000)).toBe(true);
  });
});
