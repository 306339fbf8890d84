/**
 * The DynamoDB adapter against a mocked client: the exact shape of what
 * reaches DynamoDB, and how every SDK failure maps onto a domain error.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Admission, decide, EMPTY_VIEW, type SlotItem } from '../../functions/core';
import { encodeItem } from '../../functions/store/codec';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import { SdkTransport } from '../../functions/store/sdk-transport';
import { StoreConflictError, StoreError } from '../../functions/store/types';

const policy = { capacityTokens: 10, refillTokens: 1, refillIntervalMs: 1000 };
const BUCKET = 'api#1#abcdefghijklmnopqrstuv';
const ddb = mockClient(DynamoDBClient);

function admission(view = EMPTY_VIEW, nowMs = 1_700_000_000_000): Admission {
  const d = decide({ policy, view, slot: 'us-east-1', costTokens: 2, nowMs });
  if (!d.allowed) throw new Error('fixture must admit');
  return d;
}

function sdkError(name: string, status: number, fault: 'client' | 'server' = 'client') {
  return new DynamoDBServiceException({
    name,
    $fault: fault,
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

function store(extra: Partial<ConstructorParameters<typeof DynamoDbStore>[0]> = {}) {
  return new DynamoDbStore({
    transport: new SdkTransport(new DynamoDBClient({ region: 'us-east-1' })),
    tableName: 'buckets',
    random: () => 0.5,
    ...extra,
  });
}

beforeEach(() => ddb.reset());
afterEach(() => ddb.reset());

describe('DynamoDbStore.applyWrite', () => {
  it('sends one conditional UpdateItem with ADD, SET, if_not_exists and both return-value settings', async () => {
    const write = admission().write;
    ddb
      .on(UpdateItemCommand)
      .resolves({ Attributes: encodeItem(BUCKET, write.expected, write.ttlEpochSeconds) });
    const stored = await store().applyWrite(BUCKET, write);

    const calls = ddb.commandCalls(UpdateItemCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toEqual({
      TableName: 'buckets',
      Key: { pk: { S: BUCKET }, sk: { S: 'us-east-1' } },
      UpdateExpression:
        'ADD #n :k, #v :one SET #ct = :ct, #cl = :cl, #cv = :cv, #at = :at, #ttl = :ttl, #inc = if_not_exists(#inc, :at) REMOVE #tk',
      ConditionExpression: 'attribute_not_exists(#n) OR #n <= :max',
      ExpressionAttributeNames: {
        '#n': 'n',
        '#v': 'v',
        '#ct': 'ct',
        '#cl': 'cl',
        '#cv': 'cv',
        '#at': 'at',
        '#ttl': 'ttl',
        '#inc': 'inc',
        '#tk': 'tk',
      },
      ExpressionAttributeValues: {
        ':k': { N: '2' },
        ':one': { N: '1' },
        ':ct': { N: String(write.checkpoint.ct) },
        ':cl': { N: String(write.checkpoint.cl) },
        ':cv': { M: { 'us-east-1': { L: [{ N: '0' }, { N: String(write.atMs) }] } } },
        ':at': { N: String(write.atMs) },
        ':ttl': { N: String(write.ttlEpochSeconds) },
        ':max': { N: String(write.maxCurrentN) },
      },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(stored).toEqual(write.expected);
  });

  it('keeps an item with three slots and maximal numbers under 1 KB (JSON length, an upper bound)', () => {
    const big = 9_999_999_999_999;
    const cv = Object.fromEntries(
      ['us-east-1', 'eu-west-1', 'ap-southeast-1'].map((slot) => [slot, { n: big, inc: big }]),
    );
    const item: SlotItem = {
      slot: 'ap-southeast-1',
      n: big,
      v: big,
      inc: big,
      at: big,
      checkpoint: { ct: big, cl: -big, cv },
    };
    const longestBucketId = `${'p'.repeat(32)}#999#${'h'.repeat(22)}`;
    expect(
      Buffer.byteLength(JSON.stringify(encodeItem(longestBucketId, item, 9_999_999_999))),
    ).toBeLessThan(1024);
  });

  it('turns a failed condition into StoreConflictError carrying the decoded old item', async () => {
    const write = admission().write;
    const old: SlotItem = { ...write.expected, n: 9, v: 7 };
    ddb.on(UpdateItemCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        Item: encodeItem(BUCKET, old),
      }),
    );
    const error = await store()
      .applyWrite(BUCKET, write)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect((error as StoreConflictError).kind).toBe('conflict');
    expect((error as StoreConflictError).current).toEqual(old);
    expect((error as StoreConflictError).cause).toBeInstanceOf(ConditionalCheckFailedException);
  });

  it('leaves current undefined when the store returned no old item (dynalite)', async () => {
    ddb.on(UpdateItemCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'failed',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const error = await store()
      .applyWrite(BUCKET, admission().write)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect((error as StoreConflictError).current).toBeUndefined();
  });

  it('retries ReplicatedWriteConflictException with backoff, then succeeds', async () => {
    const write = admission().write;
    ddb
      .on(UpdateItemCommand)
      .rejectsOnce(sdkError('ReplicatedWriteConflictException', 409))
      .rejectsOnce(sdkError('ReplicatedWriteConflictException', 409))
      .resolves({ Attributes: encodeItem(BUCKET, write.expected) });
    const stored = await store().applyWrite(BUCKET, write);
    expect(stored).toEqual(write.expected);
    expect(ddb.commandCalls(UpdateItemCommand)).toHaveLength(3);
  });

  it('gives up on ReplicatedWriteConflictException after the configured retries, as throttled', async () => {
    ddb.on(UpdateItemCommand).rejects(sdkError('ReplicatedWriteConflictException', 409));
    const error = await store({ replicatedConflictRetries: 1 })
      .applyWrite(BUCKET, admission().write)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).kind).toBe('throttled');
    expect(ddb.commandCalls(UpdateItemCommand)).toHaveLength(2);
  });

  it('stops retrying when the budget signal fires during the backoff', async () => {
    ddb.on(UpdateItemCommand).rejects(sdkError('ReplicatedWriteConflictException', 409));
    const controller = new AbortController();
    const slow = store({ replicatedConflictBackoffMs: 10_000, random: () => 0.99 });
    const pending = slow.applyWrite(BUCKET, admission().write, { abortSignal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    const error = await pending.catch((e: unknown) => e);
    expect((error as StoreError).kind).toBe('timeout');
    expect(ddb.commandCalls(UpdateItemCommand)).toHaveLength(1);
  });
});

describe('error mapping', () => {
  const cases: [string, unknown, string][] = [
    [
      'ProvisionedThroughputExceeded',
      sdkError('ProvisionedThroughputExceededException', 400),
      'throttled',
    ],
    ['ThrottlingException', sdkError('ThrottlingException', 400), 'throttled'],
    ['RequestLimitExceeded', sdkError('RequestLimitExceeded', 400), 'throttled'],
    ['abort', Object.assign(new Error('Request aborted'), { name: 'AbortError' }), 'timeout'],
    [
      'smithy request timeout',
      Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
      'timeout',
    ],
    ['socket timeout', Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }), 'timeout'],
    [
      'connection refused',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'unavailable',
    ],
    ['InternalServerError', sdkError('InternalServerError', 500, 'server'), 'unavailable'],
    ['503', sdkError('ServiceUnavailable', 503, 'server'), 'unavailable'],
    ['ValidationException', sdkError('ValidationException', 400), 'invalid'],
    ['ResourceNotFound', sdkError('ResourceNotFoundException', 400), 'invalid'],
    ['unknown thing', 'a string was thrown', 'unavailable'],
  ];
  for (const [label, thrown, kind] of cases) {
    it(`maps ${label} to ${kind} on every operation`, async () => {
      ddb.on(UpdateItemCommand).rejects(thrown as Error);
      ddb.on(QueryCommand).rejects(thrown as Error);
      ddb.on(GetItemCommand).rejects(thrown as Error);
      const s = store();
      for (const call of [
        () => s.applyWrite(BUCKET, admission().write),
        () => s.readView(BUCKET),
        () => s.readSlot(BUCKET, 'us-east-1'),
      ]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(error).not.toBeInstanceOf(StoreConflictError);
        expect((error as StoreError).kind).toBe(kind);
        expect((error as StoreError).cause).toBeDefined();
      }
    });
  }
});

describe('DynamoDbStore reads', () => {
  const items = ['us-east-1', 'eu-west-1', 'ap-southeast-1'].map((slot, i) => ({
    slot,
    n: i + 1,
    v: i + 1,
    inc: 5,
    at: 10,
    checkpoint: { ct: 10, cl: 3000, cv: { [slot]: { n: i, inc: 5 } } },
  }));

  it('queries by pk, follows pages and decodes every slot', async () => {
    ddb
      .on(QueryCommand)
      .resolvesOnce({
        Items: [encodeItem(BUCKET, items[0]!), encodeItem(BUCKET, items[1]!)],
        LastEvaluatedKey: { pk: { S: BUCKET }, sk: { S: 'eu-west-1' } },
      })
      .resolvesOnce({ Items: [encodeItem(BUCKET, items[2]!)] });
    const view = await store().readView(BUCKET, { consistent: true });
    expect(view).toEqual(items);
    const calls = ddb.commandCalls(QueryCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.args[0].input).toMatchObject({
      TableName: 'buckets',
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': { S: BUCKET } },
      ConsistentRead: true,
    });
    expect(calls[1]!.args[0].input.ExclusiveStartKey).toEqual({
      pk: { S: BUCKET },
      sk: { S: 'eu-west-1' },
    });
  });

  it('refuses a view with more slots than the bound instead of cutting it', async () => {
    ddb.on(QueryCommand).resolves({ Items: items.map((i) => encodeItem(BUCKET, i)) });
    const error = await store({ maxSlotsPerBucket: 2 })
      .readView(BUCKET)
      .catch((e: unknown) => e);
    expect((error as StoreError).kind).toBe('invalid');
  });

  it('skips undecodable items and reports them', async () => {
    const reported: string[] = [];
    const broken = { ...encodeItem(BUCKET, items[0]!), n: { S: 'nine' } };
    ddb.on(QueryCommand).resolves({ Items: [broken, encodeItem(BUCKET, items[1]!)] });
    const view = await store({ onDecodeError: (e) => reported.push(e.message) }).readView(BUCKET);
    expect(view).toEqual([items[1]]);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(/attribute n/);
  });

  it('reads one slot with GetItem, honouring consistency, and maps absence to undefined', async () => {
    ddb
      .on(GetItemCommand)
      .resolvesOnce({ Item: encodeItem(BUCKET, items[0]!) })
      .resolvesOnce({});
    const s = store();
    expect(await s.readSlot(BUCKET, 'us-east-1', { consistent: true })).toEqual(items[0]);
    expect(await s.readSlot(BUCKET, 'us-east-1')).toBeUndefined();
    const calls = ddb.commandCalls(GetItemCommand);
    expect(calls[0]!.args[0].input).toEqual({
      TableName: 'buckets',
      Key: { pk: { S: BUCKET }, sk: { S: 'us-east-1' } },
      ConsistentRead: true,
    });
    expect(calls[1]!.args[0].input.ConsistentRead).toBe(false);
  });

  it('does not call DynamoDB when the budget is already spent', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await store()
      .readView(BUCKET, { abortSignal: controller.signal })
      .catch((e: unknown) => e);
    expect((error as StoreError).kind).toBe('timeout');
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
  });
});
