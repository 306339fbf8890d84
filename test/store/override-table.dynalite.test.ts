/**
 * The overrides partition on an embedded DynamoDB, over both transports (the
 * edge reads it with the light one): put, read back, replace, delete as a
 * tombstone with who and when, and the bucket reads never seeing it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import {
  OVERRIDES_PK,
  OverrideTable,
  TOMBSTONE_TTL_SECONDS,
} from '../../functions/store/override-table';
import type { DynamoDbTransport } from '../../functions/store/transport';
import { type LocalDynamo, startDynalite, TRANSPORTS } from '../helpers/dynalite';

const BY = 'arn:aws:iam::111111111111:role/oncall';
const AT = Date.UTC(2026, 0, 1);

describe.each(TRANSPORTS)('OverrideTable on dynalite, over the %s', (_name, transportOf) => {
  let db: LocalDynamo;
  let close: () => void;
  let table: OverrideTable;
  let transport: DynamoDbTransport;

  beforeAll(async () => {
    db = await startDynalite();
    ({ transport, close } = transportOf(db));
    table = new OverrideTable({ transport, tableName: db.tableName });
  });
  afterAll(async () => {
    close();
    await db.stop();
  });

  it('writes, replaces and reads back overrides with who and when', async () => {
    await table.put({
      policy: 'api',
      settings: { capacityTokens: 50 },
      updatedBy: BY,
      updatedAtMs: AT,
    });
    await table.put({
      policy: 'api',
      key: ' tenant#1 ',
      settings: { factor: 10 },
      updatedBy: BY,
      updatedAtMs: AT,
      reason: 'contract',
    });
    await table.put({
      policy: 'api',
      key: 'tenant#1',
      settings: { factor: 20 },
      updatedBy: 'someone-else',
      updatedAtMs: AT + 1,
    });
    const { overrides, unreadable } = await table.read({ consistent: true });
    expect(unreadable).toEqual([]);
    expect(overrides).toEqual([
      {
        policy: 'api',
        settings: { capacityTokens: 50 },
        updatedBy: BY,
        updatedAtMs: AT,
        deleted: false,
      },
      {
        policy: 'api',
        key: 'tenant#1',
        settings: { factor: 20 },
        updatedBy: 'someone-else',
        updatedAtMs: AT + 1,
        deleted: false,
      },
    ]);
  });

  it('deletes as a tombstone that expires a day later, once', async () => {
    await table.put({
      policy: 'web',
      key: 'k',
      settings: { mode: 'deny' },
      updatedBy: BY,
      updatedAtMs: AT,
    });
    expect(
      await table.delete({ policy: 'web', key: 'k' }, { updatedBy: 'bob', updatedAtMs: AT + 5000 }),
    ).toBe(true);
    expect(
      await table.delete({ policy: 'web', key: 'k' }, { updatedBy: 'bob', updatedAtMs: AT + 6000 }),
    ).toBe(false);
    expect(
      await table.delete({ policy: 'web', key: 'never' }, { updatedBy: 'bob', updatedAtMs: AT }),
    ).toBe(false);
    const raw = await transport.getItem({
      TableName: db.tableName,
      Key: { pk: { S: OVERRIDES_PK }, sk: { S: 'web#k' } },
      ConsistentRead: true,
    });
    expect(raw.Item?.ttl?.N).toBe(String(Math.floor((AT + 5000) / 1000) + TOMBSTONE_TTL_SECONDS));
    const { overrides } = await table.read({ consistent: true });
    expect(overrides.find((o) => o.key === 'k')).toMatchObject({
      deleted: true,
      updatedBy: 'bob',
      updatedAtMs: AT + 5000,
    });
    // Set again: alive, without the tombstone's expiry.
    await table.put({
      policy: 'web',
      key: 'k',
      settings: { mode: 'allow' },
      updatedBy: BY,
      updatedAtMs: AT + 7000,
    });
    const again = await transport.getItem({
      TableName: db.tableName,
      Key: { pk: { S: OVERRIDES_PK }, sk: { S: 'web#k' } },
      ConsistentRead: true,
    });
    expect(again.Item?.ttl).toBeUndefined();
    expect(again.Item?.del).toBeUndefined();
  });

  it('reports an item it cannot read instead of inventing one', async () => {
    await transport.updateItem({
      TableName: db.tableName,
      Key: { pk: { S: OVERRIDES_PK }, sk: { S: 'broken' } },
      UpdateExpression: 'SET o = :o, #by = :by, #at = :at',
      ExpressionAttributeNames: { '#by': 'by', '#at': 'at' },
      ExpressionAttributeValues: { ':o': { S: '{not json' }, ':by': { S: BY }, ':at': { N: '1' } },
    });
    const { unreadable, overrides } = await table.read({ consistent: true });
    expect(unreadable).toEqual([{ sortKey: 'broken', reason: 'o is not JSON' }]);
    expect(overrides.some((o) => o.policy === 'broken')).toBe(false);
  });

  it('is never part of a bucket view', async () => {
    const store = new DynamoDbStore({ transport, tableName: db.tableName });
    expect(await store.readView('api#1#abc', { consistent: true })).toEqual([]);
  });
});
