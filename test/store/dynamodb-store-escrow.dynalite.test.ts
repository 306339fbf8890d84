/**
 * The DynamoDB adapter's escrow items: against an embedded DynamoDB over
 * each transport (the real condition on the version, SET and REMOVE, the
 * Query on the escrow keys), and against a scripted endpoint for what
 * dynalite does not send (the stored item with a failed condition).
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, EMPTY_VIEW, type EscrowItem } from '../../functions/core';
import { createDynamoDbClient } from '../../functions/store/client';
import { CodecError } from '../../functions/store/codec';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import { encodeEscrowItem } from '../../functions/store/escrow-codec';
import { createHttpTransport } from '../../functions/store/http-transport';
import { SdkTransport } from '../../functions/store/sdk-transport';
import type {
  DynamoDbTransport,
  QueryRequest,
  UpdateItemRequest,
} from '../../functions/store/transport';
import { EscrowConflictError, StoreError } from '../../functions/store/types';
import {
  LOCAL_CREDENTIALS,
  type LocalDynamo,
  startDynalite,
  TRANSPORTS,
} from '../helpers/dynalite';
import { type ScriptedDynamo, startScriptedDynamo } from '../helpers/scripted-dynamodb';

/** An item of `region` at version `v`, its numbers varied by `v` so versions differ in content. */
function escrowItem(region: string, v: number, extra: Partial<EscrowItem> = {}): EscrowItem {
  return {
    region,
    v,
    at: 1_700_000_000_000 + v,
    level: 100 - v,
    rem: v,
    cap: 1000,
    rate: 500_000,
    n: v * 10,
    given: {},
    recv: {},
    dm: v * 100,
    ...extra,
  };
}

/** A transport that records what reaches the inner one. */
function recording(inner: DynamoDbTransport) {
  const queries: QueryRequest[] = [];
  const updates: UpdateItemRequest[] = [];
  let calls = 0;
  const transport: DynamoDbTransport = {
    getItem: (request, options) => {
      calls += 1;
      return inner.getItem(request, options);
    },
    query: (request, options) => {
      calls += 1;
      queries.push(request);
      return inner.query(request, options);
    },
    updateItem: (request, options) => {
      calls += 1;
      updates.push(request);
      return inner.updateItem(request, options);
    },
  };
  return { transport, queries, updates, calls: () => calls };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe.each(TRANSPORTS)('escrow items on dynalite, over the %s', (_name, transportOf) => {
  let db: LocalDynamo;
  let close: () => void;
  let rec: ReturnType<typeof recording>;
  let store: DynamoDbStore;
  const decodeErrors: [CodecError, string][] = [];

  beforeAll(async () => {
    db = await startDynalite();
    let transport: DynamoDbTransport;
    ({ transport, close } = transportOf(db));
    rec = recording(transport);
    store = new DynamoDbStore({
      transport: rec.transport,
      tableName: db.tableName,
      onDecodeError: (error, bucketId) => decodeErrors.push([error, bucketId]),
    });
  });
  afterAll(async () => {
    close();
    await db.stop();
  });

  async function rawItem(bucketId: string, region: string) {
    const out = await db.client.send(
      new GetItemCommand({
        TableName: db.tableName,
        Key: { pk: { S: bucketId }, sk: { S: `e#${region}` } },
        ConsistentRead: true,
      }),
    );
    return out.Item;
  }

  it('stores asks, one per bucket and region (the newest wins), reads them back, and refuses a malformed one', async () => {
    const ask = {
      bucketId: 'esc#1.eAbCdEfGh#k',
      region: 'us-east-1',
      capacityTokens: 30,
      refillTokens: 3,
      refillIntervalMs: 1000,
      atMs: 1_700_000_000_000,
    };
    await store.writeEscrowAsk(ask);
    await store.writeEscrowAsk({ ...ask, atMs: ask.atMs + 5, endsAtMs: 1_700_000_100_000 });
    await store.writeEscrowAsk({ ...ask, region: 'eu-west-1' });
    const asks = await store.readEscrowAsks({ limit: 10, consistent: true });
    expect(asks).toEqual([
      { ...ask, region: 'eu-west-1' },
      { ...ask, atMs: ask.atMs + 5, endsAtMs: 1_700_000_100_000 },
    ]);
    // Back to a token bucket: the period's end is removed.
    await store.writeEscrowAsk({ ...ask, atMs: ask.atMs + 9 });
    expect((await store.readEscrowAsks({ limit: 10, consistent: true }))[1]).toEqual({
      ...ask,
      atMs: ask.atMs + 9,
    });
    expect(await store.readEscrowAsks({ limit: 1, consistent: true })).toHaveLength(1);
    const bad = await rejection(store.writeEscrowAsk({ ...ask, capacityTokens: 0 }));
    expect(bad).toBeInstanceOf(StoreError);
    expect((bad as StoreError).kind).toBe('invalid');
  });

  it('writes version 1 where no item is, then version 2 on it, replacing every field', async () => {
    const bucket = 'esc#1#versions';
    await store.writeEscrow(bucket, escrowItem('us-east-1', 1));
    expect(await store.readEscrow(bucket, { consistent: true })).toEqual([
      escrowItem('us-east-1', 1),
    ]);
    const second = escrowItem('us-east-1', 2, {
      given: { 'eu-west-1': { tokens: 5, cap: 50, rate: 1000 } },
      recv: { 'ap-southeast-1': { tokens: 1, cap: 2, rate: 3 } },
    });
    await store.writeEscrow(bucket, second);
    expect(await store.readEscrow(bucket, { consistent: true })).toEqual([second]);
    // And a later write can shrink the maps again: SET replaces them whole.
    const third = escrowItem('us-east-1', 3);
    await store.writeEscrow(bucket, third);
    expect(await store.readEscrow(bucket, { consistent: true })).toEqual([third]);
  });

  it('refuses a stale write (the same version again, a skipped one, a first one over an item) and changes nothing', async () => {
    const bucket = 'esc#1#stale';
    await store.writeEscrow(bucket, escrowItem('eu-west-1', 1));
    const stored = escrowItem('eu-west-1', 2);
    await store.writeEscrow(bucket, stored);
    const before = await rawItem(bucket, 'eu-west-1');
    for (const v of [2, 4, 1]) {
      const error = await rejection(
        store.writeEscrow(bucket, escrowItem('eu-west-1', v, { dm: 7 }), { ttlEpochSeconds: 5 }),
      );
      expect(error, `v${v}`).toBeInstanceOf(EscrowConflictError);
      expect((error as EscrowConflictError).kind).toBe('conflict');
      // DynamoDB sends the stored item with the refusal; dynalite does not.
      const current = (error as EscrowConflictError).current;
      if (current !== undefined) expect(current).toEqual(stored);
      expect(await rawItem(bucket, 'eu-west-1'), `v${v}`).toEqual(before);
    }
  });

  it('reads every region of the bucket, and neither its slot items nor other buckets', async () => {
    const bucket = 'esc#1#regions';
    const regions = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
    for (const region of regions) {
      await store.writeEscrow(bucket, escrowItem(region, 1));
      await store.writeEscrow('esc#1#other', escrowItem(region, 1, { n: 999 }));
    }
    await store.writeEscrow(bucket, escrowItem('eu-west-1', 2));
    // A slot item in the same partition, and one in another bucket.
    const d = decide({
      policy: { capacityTokens: 3, refillTokens: 1, refillIntervalMs: 1000 },
      view: EMPTY_VIEW,
      slot: 'us-east-1',
      costTokens: 1,
      nowMs: 1,
    });
    if (!d.allowed) throw new Error('must admit');
    await store.applyWrite(bucket, d.write);
    await store.applyWrite('esc#1#slots-only', d.write);
    decodeErrors.length = 0;

    const items = await store.readEscrow(bucket, { consistent: true });
    const byRegion = Object.fromEntries(items.map((i) => [i.region, i]));
    expect(Object.keys(byRegion).sort()).toEqual([...regions].sort());
    expect(items).toHaveLength(3);
    expect(byRegion['eu-west-1']).toEqual(escrowItem('eu-west-1', 2));
    expect(byRegion['us-east-1']).toEqual(escrowItem('us-east-1', 1));
    expect(await store.readEscrow('esc#1#slots-only', { consistent: true })).toEqual([]);
    expect(await store.readEscrow('esc#1#none')).toEqual([]);
    // The slot item was not read as a broken escrow item.
    expect(decodeErrors).toEqual([]);
    // Nor did escrow items disturb the slot.
    expect(await store.readSlot(bucket, 'us-east-1', { consistent: true })).toEqual(
      d.write.expected,
    );
  });

  it('stores the ttl when given and removes it when not', async () => {
    const bucket = 'esc#1#ttl';
    await store.writeEscrow(bucket, escrowItem('us-east-1', 1), { ttlEpochSeconds: 1_800_000_000 });
    expect((await rawItem(bucket, 'us-east-1'))?.ttl).toEqual({ N: '1800000000' });
    await store.writeEscrow(bucket, escrowItem('us-east-1', 2));
    const raw = await rawItem(bucket, 'us-east-1');
    expect(raw?.v).toEqual({ N: '2' });
    expect(raw).not.toHaveProperty('ttl');
    await store.writeEscrow(bucket, escrowItem('us-east-1', 3), { ttlEpochSeconds: 42 });
    expect((await rawItem(bucket, 'us-east-1'))?.ttl).toEqual({ N: '42' });
  });

  it('passes the consistency asked for to the Query', async () => {
    const bucket = 'esc#1#consistency';
    await store.writeEscrow(bucket, escrowItem('us-east-1', 1));
    rec.queries.length = 0;
    await store.readEscrow(bucket, { consistent: true });
    await store.readEscrow(bucket);
    await store.readEscrow(bucket, { consistent: false });
    expect(rec.queries.map((q) => q.ConsistentRead)).toEqual([true, false, false]);
  });

  it('skips and reports an escrow item it cannot decode, keeping the others', async () => {
    const bucket = 'esc#1#corrupt';
    await store.writeEscrow(bucket, escrowItem('us-east-1', 1));
    const broken = encodeEscrowItem(bucket, escrowItem('eu-west-1', 1));
    broken.lv = { N: '1.5' };
    await db.client.send(new PutItemCommand({ TableName: db.tableName, Item: broken }));
    decodeErrors.length = 0;
    expect(await store.readEscrow(bucket, { consistent: true })).toEqual([
      escrowItem('us-east-1', 1),
    ]);
    expect(decodeErrors).toHaveLength(1);
    expect(decodeErrors[0]?.[0]).toBeInstanceOf(CodecError);
    expect(decodeErrors[0]?.[0].message).toMatch(/attribute lv/);
    expect(decodeErrors[0]?.[1]).toBe(bucket);
  });

  it('refuses a partial view beyond the bound, and reads one exactly at it', async () => {
    const bounded = new DynamoDbStore({
      transport: rec.transport,
      tableName: db.tableName,
      maxSlotsPerBucket: 2,
    });
    const bucket = 'esc#1#bound';
    await bounded.writeEscrow(bucket, escrowItem('a', 1));
    await bounded.writeEscrow(bucket, escrowItem('b', 1));
    expect(await bounded.readEscrow(bucket, { consistent: true })).toHaveLength(2);
    await bounded.writeEscrow(bucket, escrowItem('c', 1));
    const error = await rejection(bounded.readEscrow(bucket, { consistent: true }));
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).kind).toBe('invalid');
    expect((error as StoreError).message).toMatch(/more than 2 escrow items/);
  });

  it('sends nothing when the signal is already aborted: a timeout StoreError', async () => {
    const controller = new AbortController();
    controller.abort();
    const before = rec.calls();
    const write = await rejection(
      store.writeEscrow('esc#1#abort', escrowItem('us-east-1', 1), {
        abortSignal: controller.signal,
      }),
    );
    const read = await rejection(
      store.readEscrow('esc#1#abort', { abortSignal: controller.signal }),
    );
    for (const error of [write, read]) {
      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(EscrowConflictError);
      expect((error as StoreError).kind).toBe('timeout');
    }
    expect(rec.calls()).toBe(before);
    expect(await rawItem('esc#1#abort', 'us-east-1')).toBeUndefined();
  });

  it('refuses a malformed item or version before any call: nothing corrupt is written', async () => {
    const before = rec.calls();
    const cases: [EscrowItem, number | undefined][] = [
      [escrowItem('us-east-1', 0), undefined],
      [escrowItem('us-east-1', 1.5), undefined],
      [escrowItem('us-east-1', 1, { level: -1 }), undefined],
      [escrowItem('us-east-1', 1, { n: 0.5 }), undefined],
      [escrowItem('us-east-1', 1, { level: 2000 }), undefined],
      [escrowItem('us-east-1', 1, { given: { x: { tokens: 1, cap: 1, rate: -1 } } }), undefined],
      [escrowItem('us-east-1', 1), Number.NaN],
    ];
    for (const [item, ttl] of cases) {
      const options = ttl === undefined ? {} : { ttlEpochSeconds: ttl };
      const error = await rejection(store.writeEscrow('esc#1#invalid', item, options));
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).kind).toBe('invalid');
      expect((error as StoreError).cause).toBeInstanceOf(CodecError);
    }
    expect(rec.calls()).toBe(before);
    expect(await rawItem('esc#1#invalid', 'us-east-1')).toBeUndefined();
  });
});

describe('escrow writes against a scripted endpoint, over both transports', () => {
  const BUCKET = 'esc#1#scripted';
  let server: ScriptedDynamo;
  const opened: { destroy(): void }[] = [];
  const transports: [string, () => DynamoDbTransport][] = [
    [
      'SDK client',
      () => {
        const client = createDynamoDbClient({
          region: 'us-east-1',
          endpoint: server.endpoint,
          credentials: LOCAL_CREDENTIALS,
          budgetMs: 1000,
        });
        opened.push(client);
        return new SdkTransport(client);
      },
    ],
    [
      'light transport',
      () => {
        const transport = createHttpTransport({
          region: 'us-east-1',
          endpoint: server.endpoint,
          credentials: LOCAL_CREDENTIALS,
          budgetMs: 1000,
        });
        opened.push(transport);
        return transport;
      },
    ],
  ];

  beforeAll(async () => {
    server = await startScriptedDynamo(() => ({ status: 200, body: {} }));
  });
  afterAll(async () => {
    for (const o of opened) o.destroy();
    await server.stop();
  });

  function conditionFailed(item?: Record<string, unknown>) {
    return {
      status: 400,
      body: {
        __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
        message: 'The conditional request failed',
        ...(item === undefined ? {} : { Item: item }),
      },
    } as const;
  }

  it.each(transports)(
    'a failed condition carrying the item: EscrowConflictError.current decoded (%s)',
    async (_name, transportOf) => {
      const stored = escrowItem('eu-west-1', 4, {
        given: { 'us-east-1': { tokens: 3, cap: 30, rate: 300 } },
      });
      server.answerWith(() => conditionFailed(encodeEscrowItem(BUCKET, stored, 99)));
      server.requests.length = 0;
      const store = new DynamoDbStore({ transport: transportOf(), tableName: 'buckets' });
      const error = await rejection(store.writeEscrow(BUCKET, escrowItem('eu-west-1', 4)));
      expect(error).toBeInstanceOf(EscrowConflictError);
      expect((error as EscrowConflictError).current).toEqual(stored);
      // One UpdateItem asking for the old item on a failed condition; a conflict is not retried.
      expect(server.requests.map((r) => r.operation)).toEqual(['UpdateItem']);
      const sent = JSON.parse(server.requests[0]!.body) as UpdateItemRequest;
      expect(sent.ReturnValuesOnConditionCheckFailure).toBe('ALL_OLD');
      expect(sent.ConditionExpression).toBe('#v = :prev');
      expect(sent.ExpressionAttributeValues?.[':prev']).toEqual({ N: '3' });
    },
  );

  it.each(transports)(
    'a failed condition with a malformed item: no current, the item reported (%s)',
    async (_name, transportOf) => {
      const broken = encodeEscrowItem(BUCKET, escrowItem('eu-west-1', 4));
      delete broken.cap;
      server.answerWith(() => conditionFailed(broken));
      const reported: string[] = [];
      const store = new DynamoDbStore({
        transport: transportOf(),
        tableName: 'buckets',
        onDecodeError: (e) => reported.push(e.message),
      });
      const error = await rejection(store.writeEscrow(BUCKET, escrowItem('eu-west-1', 4)));
      expect(error).toBeInstanceOf(EscrowConflictError);
      expect((error as EscrowConflictError).current).toBeUndefined();
      expect(reported).toEqual(['attribute cap is missing or not a number']);
    },
  );

  it.each(transports)(
    'any other failure maps like the other calls: throttled, not a conflict (%s)',
    async (_name, transportOf) => {
      server.answerWith(() => ({
        status: 400,
        body: {
          __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
          message: 'slow down',
        },
      }));
      const store = new DynamoDbStore({ transport: transportOf(), tableName: 'buckets' });
      const error = await rejection(store.writeEscrow(BUCKET, escrowItem('eu-west-1', 4)));
      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(EscrowConflictError);
      expect((error as StoreError).kind).toBe('throttled');
    },
  );
});
