/**
 * The replication adapter against a mocked client: the exact commands that
 * reach DynamoDB for the heartbeat and status items, and how every failure
 * (SDK error, malformed item, unstorable value, spent budget) maps onto a
 * StoreError.
 */
import {
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReconcilerStatus } from '../../functions/shared/replication-status';
import { DynamoDbReplicationStore } from '../../functions/store/dynamodb-replication-store';
import {
  encodeReconcilerStatus,
  HEARTBEAT_PK,
  RECONCILER_STATUS_PK,
  ReplicationCodecError,
} from '../../functions/store/replication-codec';
import { MAX_HEARTBEAT_ITEMS } from '../../functions/store/replication-store';
import { StoreError } from '../../functions/store/types';

const ddb = mockClient(DynamoDBClient);
const AT_MS = 1_700_000_000_123;

const status: ReconcilerStatus = {
  region: 'eu-west-1',
  measuredAtMs: AT_MS,
  durationMs: 812,
  lagMs: { 'us-east-1': 734, 'ap-southeast-1': null },
  heartbeatAgeMs: { 'us-east-1': 41_000, 'ap-southeast-1': null },
  watched: [
    { policy: 'global-cap', key: 'all', levelRatio: 0.25, divergenceTokens: 3.5, replicas: 2 },
  ],
  errorCount: 2,
};

function store(): DynamoDbReplicationStore {
  return new DynamoDbReplicationStore({
    client: new DynamoDBClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
    tableName: 'buckets',
  });
}

function heartbeatItem(region: string, atMs: number, seq: number) {
  return {
    pk: { S: HEARTBEAT_PK },
    sk: { S: region },
    at: { N: String(atMs) },
    seq: { N: String(seq) },
  };
}

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

beforeEach(() => ddb.reset());
afterEach(() => ddb.reset());

describe('DynamoDbReplicationStore heartbeats', () => {
  it('writes with ONE UpdateItem that adds 1 to seq, sets at and ttl, and returns the stored sequence', async () => {
    ddb.on(UpdateItemCommand).resolves({ Attributes: heartbeatItem('eu-west-1', AT_MS, 7) });
    const controller = new AbortController();
    const heartbeat = await store().writeHeartbeat('eu-west-1', AT_MS, {
      abortSignal: controller.signal,
    });
    expect(heartbeat).toEqual({ region: 'eu-west-1', atMs: AT_MS, seq: 7 });
    const calls = ddb.commandCalls(UpdateItemCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      TableName: 'buckets',
      Key: { pk: { S: HEARTBEAT_PK }, sk: { S: 'eu-west-1' } },
      UpdateExpression: 'ADD #seq :one SET #at = :at, #ttl = :ttl',
      ExpressionAttributeNames: { '#seq': 'seq', '#at': 'at', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':one': { N: '1' },
        ':at': { N: String(AT_MS) },
        ':ttl': { N: String(Math.ceil(AT_MS / 1000) + 24 * 3600) },
      },
      ReturnValues: 'ALL_NEW',
    });
    // The signal reaches the SDK call (the mock types only the command argument).
    expect((calls[0]?.args as unknown[] | undefined)?.[1]).toEqual({
      abortSignal: controller.signal,
    });
  });

  it('reads one heartbeat strongly consistent, and undefined when the replica has none', async () => {
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: heartbeatItem('us-east-1', 5, 3) })
      .resolvesOnce({});
    expect(await store().readHeartbeat('us-east-1')).toEqual({
      region: 'us-east-1',
      atMs: 5,
      seq: 3,
    });
    expect(await store().readHeartbeat('us-east-1')).toBeUndefined();
    expect(ddb.commandCalls(GetItemCommand)[0]?.args[0].input).toEqual({
      TableName: 'buckets',
      Key: { pk: { S: HEARTBEAT_PK }, sk: { S: 'us-east-1' } },
      ConsistentRead: true,
    });
  });

  it('reads every heartbeat of the replica with one bounded, strongly consistent Query', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [heartbeatItem('us-east-1', 10, 1), heartbeatItem('ap-southeast-1', 20, 2)],
    });
    expect(await store().readHeartbeats()).toEqual([
      { region: 'us-east-1', atMs: 10, seq: 1 },
      { region: 'ap-southeast-1', atMs: 20, seq: 2 },
    ]);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: 'buckets',
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': { S: HEARTBEAT_PK } },
      ConsistentRead: true,
      Limit: MAX_HEARTBEAT_ITEMS,
    });
  });

  it('fails the whole read on one malformed heartbeat, as invalid with the codec error as cause', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [heartbeatItem('us-east-1', 10, 1), { pk: { S: HEARTBEAT_PK }, sk: { S: 'x' } }],
    });
    const error = await rejection(store().readHeartbeats());
    expect(error.kind).toBe('invalid');
    expect(error.cause).toBeInstanceOf(ReplicationCodecError);
    expect(error.message).toMatch(/readHeartbeats read a malformed item/);
  });

  it('refuses a write time it could not read back without sending anything', async () => {
    for (const atMs of [1.5, Number.NaN]) {
      const error = await rejection(store().writeHeartbeat('eu-west-1', atMs));
      expect(error.kind).toBe('invalid');
      expect(error.cause).toBeInstanceOf(ReplicationCodecError);
    }
    expect(ddb.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it('treats a write answered without attributes as invalid', async () => {
    ddb.on(UpdateItemCommand).resolves({});
    const error = await rejection(store().writeHeartbeat('eu-west-1', AT_MS));
    expect(error.kind).toBe('invalid');
  });
});

describe('DynamoDbReplicationStore status', () => {
  it('replaces the status item with one PutItem of the encoded item', async () => {
    ddb.on(PutItemCommand).resolves({});
    await store().writeStatus(status);
    const calls = ddb.commandCalls(PutItemCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      TableName: 'buckets',
      Item: encodeReconcilerStatus(status),
    });
  });

  it('reads the item of the asked region (eventually consistent) and undefined when absent', async () => {
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: encodeReconcilerStatus(status) })
      .resolvesOnce({});
    expect(await store().readStatus('eu-west-1')).toEqual(status);
    expect(await store().readStatus('us-east-1')).toBeUndefined();
    const inputs = ddb.commandCalls(GetItemCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toEqual({
      TableName: 'buckets',
      Key: { pk: { S: RECONCILER_STATUS_PK }, sk: { S: 'eu-west-1' } },
    });
    expect(inputs[1]?.Key?.sk).toEqual({ S: 'us-east-1' });
  });

  it('answers a malformed item as invalid, naming the attribute', async () => {
    const broken = { ...encodeReconcilerStatus(status), measuredAtMs: { S: 'yesterday' } };
    ddb.on(GetItemCommand).resolves({ Item: broken });
    const error = await rejection(store().readStatus('eu-west-1'));
    expect(error.kind).toBe('invalid');
    expect(error.message).toContain('readStatus(eu-west-1)');
    expect(error.message).toContain('measuredAtMs');
    expect(error.cause).toBeInstanceOf(ReplicationCodecError);
  });

  it('refuses a status with a number that is not finite, sending nothing', async () => {
    const error = await rejection(store().writeStatus({ ...status, durationMs: Number.NaN }));
    expect(error.kind).toBe('invalid');
    expect(error.message).toContain('durationMs');
    expect(ddb.commandCalls(PutItemCommand)).toHaveLength(0);
  });
});

describe('DynamoDbReplicationStore errors', () => {
  const throttled = new DynamoDBServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'slow down',
  });
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

  it.each([
    [
      'writeHeartbeat',
      UpdateItemCommand,
      (s: DynamoDbReplicationStore) => s.writeHeartbeat('eu-west-1', AT_MS),
    ],
    [
      'readHeartbeat',
      GetItemCommand,
      (s: DynamoDbReplicationStore) => s.readHeartbeat('us-east-1'),
    ],
    ['readHeartbeats', QueryCommand, (s: DynamoDbReplicationStore) => s.readHeartbeats()],
    ['writeStatus', PutItemCommand, (s: DynamoDbReplicationStore) => s.writeStatus(status)],
    ['readStatus', GetItemCommand, (s: DynamoDbReplicationStore) => s.readStatus('eu-west-1')],
  ] as const)(
    '%s maps SDK and network errors by kind, keeping the cause',
    async (_name, command, call) => {
      ddb
        .on(command as never)
        .rejectsOnce(throttled)
        .rejectsOnce(refused);
      const first = await rejection(call(store()));
      expect(first.kind).toBe('throttled');
      expect(first.cause).toBe(throttled);
      const second = await rejection(call(store()));
      expect(second.kind).toBe('unavailable');
      expect(second.cause).toBe(refused);
    },
  );

  it('sends nothing once the signal has fired, answering timeout', async () => {
    const controller = new AbortController();
    controller.abort();
    const options = { abortSignal: controller.signal };
    const s = store();
    for (const call of [
      s.writeHeartbeat('eu-west-1', AT_MS, options),
      s.readHeartbeat('us-east-1', options),
      s.readHeartbeats(options),
      s.writeStatus(status, options),
      s.readStatus('eu-west-1', options),
    ]) {
      expect((await rejection(call)).kind).toBe('timeout');
    }
    expect(ddb.calls()).toHaveLength(0);
  });
});
