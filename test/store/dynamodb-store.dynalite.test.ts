/** The DynamoDB adapter against an embedded DynamoDB: the real condition and ADD semantics. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, EMPTY_VIEW, levelAt, viewOf } from '../../functions/core';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import { StoreConflictError, StoreError } from '../../functions/store/types';
import { type LocalDynamo, startDynalite } from '../helpers/dynalite';

const policy = { capacityTokens: 3, refillTokens: 1, refillIntervalMs: 1000 };
let db: LocalDynamo;
let store: DynamoDbStore;

beforeAll(async () => {
  db = await startDynalite();
  store = new DynamoDbStore({ client: db.client, tableName: db.tableName });
});
afterAll(() => db.stop());

describe('DynamoDbStore on dynalite', () => {
  it('admits exactly capacity from one stale view: the condition stops the rest', async () => {
    const bucket = 'stale#1#view';
    // Five concurrent containers decided from the same (empty) view and send the same write.
    const d = decide({ policy, view: EMPTY_VIEW, slot: 'r', costTokens: 1, nowMs: 1_000_000 });
    if (!d.allowed) throw new Error('must admit');
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () =>
        store.applyWrite(bucket, d.write).then(
          () => 'written',
          (e: unknown) => (e instanceof StoreConflictError ? 'conflict' : 'error'),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'written')).toHaveLength(policy.capacityTokens);
    expect(outcomes.filter((o) => o === 'conflict')).toHaveLength(5 - policy.capacityTokens);
    const final = await store.readSlot(bucket, 'r', { consistent: true });
    expect(final?.n).toBe(policy.capacityTokens);
    expect(final?.v).toBe(policy.capacityTokens);
    expect(levelAt(policy, viewOf([final!]), 1_000_000)).toBe(0);
  });

  it('keeps the incarnation of an existing slot and bumps the version', async () => {
    const bucket = 'inc#1#keep';
    const a = decide({ policy, view: EMPTY_VIEW, slot: 'r', costTokens: 1, nowMs: 5000 });
    if (!a.allowed) throw new Error('must admit');
    const first = await store.applyWrite(bucket, a.write);
    const b = decide({ policy, view: viewOf([first]), slot: 'r', costTokens: 1, nowMs: 9000 });
    if (!b.allowed) throw new Error('must admit');
    const second = await store.applyWrite(bucket, b.write);
    expect(second.inc).toBe(5000);
    expect(second.v).toBe(2);
    expect(second.at).toBe(9000);
    expect(second.n).toBe(2);
  });

  it('reads every slot of a bucket and nothing of other buckets', async () => {
    for (const slot of ['a', 'b', 'c']) {
      const d = decide({ policy, view: EMPTY_VIEW, slot, costTokens: 1, nowMs: 1 });
      if (!d.allowed) throw new Error('must admit');
      await store.applyWrite('view#1#x', d.write);
      await store.applyWrite('view#1#y', d.write);
    }
    const items = await store.readView('view#1#x', { consistent: true });
    expect(items.map((i) => i.slot).sort()).toEqual(['a', 'b', 'c']);
    expect(await store.readView('view#1#none')).toEqual([]);
  });

  it('maps a missing table to an invalid StoreError', async () => {
    const missing = new DynamoDbStore({ client: db.client, tableName: 'no-such-table' });
    const error = await missing.readView('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).kind).toBe('invalid');
  });
});
