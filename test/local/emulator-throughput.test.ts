/**
 * The emulator's per-partition throughput on a clock the test moves: a hot
 * partition key is throttled past its limit with DynamoDB's answer and
 * recovers a second later, other keys are not affected, reads and writes
 * share the limit, and writes replicated from another region count against
 * the receiving partition.
 */
import {
  type DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketTableDefinition } from '../../functions/store/table';
import { RegionEmulator } from '../../local/emulator';
import { ManualClock } from '../helpers/manual-clock';

const TABLE = 'buckets';
const LAG_MS = 100;
/** Small limits: 10 write units or 20 read units a second per partition. */
const LIMITS = { writeUnitsPerSecond: 10, readUnitsPerSecond: 20 };

describe('RegionEmulator with partition limits', () => {
  const clock = new ManualClock();
  let emu: RegionEmulator;
  beforeAll(async () => {
    emu = await RegionEmulator.start({
      regions: ['r1', 'r2'],
      lagMs: LAG_MS,
      clock,
      partitionLimits: LIMITS,
    });
    await emu.createTable(bucketTableDefinition(TABLE));
  });
  afterAll(() => emu.stop());

  /** A small item: one write unit. */
  const put = (region: string, pk: string, sk: string) =>
    emu.client(region).send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { pk: { S: pk }, sk: { S: sk }, n: { N: '1' } },
      }),
    );

  /** The error a call failed with (undefined when it succeeded). */
  const failure = async (call: Promise<unknown>) => {
    try {
      await call;
      return undefined;
    } catch (error) {
      return error as DynamoDBServiceException;
    }
  };

  it('throttles a hot partition key past its limit, with DynamoDB’s answer, and recovers', async () => {
    for (let i = 0; i < 10; i++) await put('r1', 'hot', `s${i}`);
    const refused = await failure(put('r1', 'hot', 'one-too-many'));
    expect(refused?.name).toBe('ThrottlingException');
    expect(refused?.$metadata.httpStatusCode).toBe(400);
    expect(refused?.message).toMatch(/^Throughput exceeds the current capacity/);
    // Refused before the store: the item was never written.
    const got = await emu.directClient('r1').send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: 'hot' }, sk: { S: 'one-too-many' } },
      }),
    );
    expect(got.Item).toBeUndefined();
    // Another key of the same table is not affected.
    expect(await failure(put('r1', 'cold', 'a'))).toBeUndefined();
    clock.advance(1000);
    expect(await failure(put('r1', 'hot', 'after-a-second'))).toBeUndefined();
    const hot = emu.partitionStats('r1').find((p) => p.partition.includes('"hot"'));
    expect(hot).toMatchObject({ writeUnits: 11, throttled: 1 });
    clock.advance(LAG_MS);
    await emu.settle();
  });

  it('counts a failed conditional write and shares the limit between reads and writes', async () => {
    clock.advance(1000);
    const conditional = () =>
      emu.client('r1').send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: { pk: { S: 'mixed' }, sk: { S: 'x' } },
          UpdateExpression: 'SET n = :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':one': { N: '1' } },
        }),
      );
    // Five failed conditions: five write units, half the partition's second.
    for (let i = 0; i < 5; i++) {
      expect((await failure(conditional()))?.name).toBe('ConditionalCheckFailedException');
    }
    // The other half: ten read units, twenty eventually consistent Queries of the key
    // (half a unit each, even when they find nothing).
    const query = () =>
      emu.client('r1').send(
        new QueryCommand({
          TableName: TABLE,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': 'pk' },
          ExpressionAttributeValues: { ':pk': { S: 'mixed' } },
        }),
      );
    for (let i = 0; i < 20; i++) expect(await failure(query())).toBeUndefined();
    expect((await failure(query()))?.name).toBe('ThrottlingException');
    const mixed = emu.partitionStats('r1').find((p) => p.partition.includes('"mixed"'));
    expect(mixed).toMatchObject({ writeUnits: 5, readUnits: 10, throttled: 1 });
  });

  it('charges writes replicated from another region to the receiving partition', async () => {
    clock.advance(1000);
    for (let i = 0; i < 10; i++) await put('r1', 'shared', `r1-${i}`);
    // Before the deliveries arrive, r2's partition is untouched...
    expect(emu.partitionStats('r2').find((p) => p.partition.includes('"shared"'))).toBeUndefined();
    clock.advance(LAG_MS);
    await emu.settle();
    const shared = emu.partitionStats('r2').find((p) => p.partition.includes('"shared"'));
    expect(shared).toMatchObject({ replicatedWriteUnits: 10, writeUnits: 0 });
    // ...after them, it has no throughput left for r2's own callers.
    expect((await failure(put('r2', 'shared', 'local')))?.name).toBe('ThrottlingException');
    expect(await failure(put('r2', 'elsewhere', 'local'))).toBeUndefined();
  });
});

describe('RegionEmulator without partition limits', () => {
  let emu: RegionEmulator;
  beforeAll(async () => {
    emu = await RegionEmulator.start({ regions: ['r1'] });
    await emu.createTable(bucketTableDefinition(TABLE));
  });
  afterAll(() => emu.stop());

  it('never throttles, as dynalite does not', async () => {
    for (let i = 0; i < 40; i++) {
      await emu
        .client('r1')
        .send(
          new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'hot' }, sk: { S: `s${i}` } } }),
        );
    }
    expect(emu.partitionStats('r1')).toEqual([]);
  });
});
