import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  billedTraffic,
  CountingProxy,
  consumedUnits,
  diffCounts,
  withCapacityRequested,
} from '../../bench/counting-proxy';
import { LOCAL_CREDENTIALS, type LocalDynamo, startDynalite } from '../helpers/dynalite';

describe('counting proxy helpers', () => {
  it('asks for TOTAL consumed capacity unless the request asks for more', () => {
    const plain = JSON.parse(withCapacityRequested(Buffer.from('{"TableName":"t"}')).toString());
    expect(plain).toEqual({ TableName: 't', ReturnConsumedCapacity: 'TOTAL' });
    const none = JSON.parse(
      withCapacityRequested(Buffer.from('{"ReturnConsumedCapacity":"NONE"}')).toString(),
    );
    expect(none.ReturnConsumedCapacity).toBe('TOTAL');
    const indexes = Buffer.from('{"ReturnConsumedCapacity":"INDEXES"}');
    expect(withCapacityRequested(indexes)).toBe(indexes);
    const notJson = Buffer.from('not json');
    expect(withCapacityRequested(notJson)).toBe(notJson);
  });

  it('sums consumed capacity given as an object or a list', () => {
    expect(consumedUnits({ ConsumedCapacity: { CapacityUnits: 1.5 } })).toBe(1.5);
    expect(
      consumedUnits({ ConsumedCapacity: [{ CapacityUnits: 1 }, { CapacityUnits: 2 }, {}] }),
    ).toBe(3);
    expect(consumedUnits({})).toBe(0);
    expect(consumedUnits(null)).toBe(0);
  });

  it('groups operations into billed reads and writes, and diffs snapshots', () => {
    const before = { UpdateItem: { calls: 1, failedConditional: 0, errors: 0, units: 1 } };
    const after = {
      UpdateItem: { calls: 4, failedConditional: 2, errors: 0, units: 4 },
      Query: { calls: 3, failedConditional: 0, errors: 0, units: 1.5 },
      DescribeTable: { calls: 1, failedConditional: 0, errors: 0, units: 0 },
    };
    expect(billedTraffic(diffCounts(after, before))).toEqual({
      writeCalls: 3,
      failedConditionalWrites: 2,
      readCalls: 3,
      writeUnits: 3,
      readUnits: 1.5,
      otherCalls: 1,
    });
  });
});

describe('CountingProxy in front of dynalite', () => {
  let db: LocalDynamo;
  let proxy: CountingProxy;
  let client: DynamoDBClient;

  beforeAll(async () => {
    db = await startDynalite();
    proxy = await CountingProxy.start(db.endpoint);
    client = new DynamoDBClient({
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client?.destroy();
    await proxy?.stop();
    await db?.stop();
  });

  it('counts calls and the units DynamoDB would bill, and passes answers through intact', async () => {
    const key = { pk: { S: 'b1' }, sk: { S: 'us-east-1' } };
    await client.send(
      new PutItemCommand({ TableName: db.tableName, Item: { ...key, n: { N: '1' } } }),
    );
    const got = await client.send(
      new GetItemCommand({ TableName: db.tableName, Key: key, ConsistentRead: true }),
    );
    expect(got.Item?.n?.N).toBe('1');
    await client.send(
      new QueryCommand({
        TableName: db.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'b1' } },
      }),
    );
    await expect(
      client.send(
        new UpdateItemCommand({
          TableName: db.tableName,
          Key: key,
          UpdateExpression: 'ADD n :one',
          ConditionExpression: 'n > :big',
          ExpressionAttributeValues: { ':one': { N: '1' }, ':big': { N: '100' } },
        }),
      ),
    ).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    await client.send(new DescribeTableCommand({ TableName: db.tableName }));

    const counts = proxy.snapshot();
    expect(counts.PutItem).toEqual({ calls: 1, failedConditional: 0, errors: 0, units: 1 });
    expect(counts.GetItem).toEqual({ calls: 1, failedConditional: 0, errors: 0, units: 1 });
    expect(counts.Query).toEqual({ calls: 1, failedConditional: 0, errors: 0, units: 0.5 });
    expect(counts.UpdateItem).toEqual({ calls: 0, failedConditional: 1, errors: 0, units: 0 });
    expect(billedTraffic(counts)).toEqual({
      writeCalls: 1,
      failedConditionalWrites: 1,
      readCalls: 2,
      writeUnits: 1,
      readUnits: 1.5,
      otherCalls: 1,
    });
  });

  it('refuses to forward anywhere but loopback', async () => {
    await expect(CountingProxy.start('http://198.51.100.7:8000')).rejects.toThrow(/loopback/);
  });
});
