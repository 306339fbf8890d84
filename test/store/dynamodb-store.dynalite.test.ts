/**
 * The DynamoDB adapter against an embedded DynamoDB: the real condition and
 * ADD semantics, over each transport (the SDK client and the edge's light
 * one), each on its own fresh database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyTakeWrite,
  decide,
  EMPTY_VIEW,
  levelAt,
  recordingWrite,
  takeWrite,
  viewOf,
} from '../../functions/core';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import type { DynamoDbTransport } from '../../functions/store/transport';
import { StoreConflictError, StoreError } from '../../functions/store/types';
import { type LocalDynamo, startDynalite, TRANSPORTS } from '../helpers/dynalite';

const policy = { capacityTokens: 3, refillTokens: 1, refillIntervalMs: 1000 };

describe.each(TRANSPORTS)('DynamoDbStore on dynalite, over the %s', (_name, transportOf) => {
  let db: LocalDynamo;
  let transport: DynamoDbTransport;
  let close: () => void;
  let store: DynamoDbStore;

  beforeAll(async () => {
    db = await startDynalite();
    ({ transport, close } = transportOf(db));
    store = new DynamoDbStore({ transport, tableName: db.tableName });
  });
  afterAll(async () => {
    close();
    await db.stop();
  });

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

  it('applies a take the way the core does: a new slot gets the trivial checkpoint, an existing one keeps its own', async () => {
    const bucket = 'take#1#model';
    const created = await store.applyTake(bucket, takeWrite(policy, 'r', 1, 10_000));
    expect(created.before).toBeUndefined();
    expect(created.after).toEqual(applyTakeWrite(undefined, takeWrite(policy, 'r', 1, 10_000)));
    expect(await store.readSlot(bucket, 'r', { consistent: true })).toEqual(created.after);

    const d = decide({
      policy,
      view: viewOf([created.after]),
      slot: 'r',
      costTokens: 1,
      nowMs: 11_000,
    });
    if (!d.allowed) throw new Error('must admit');
    const written = await store.applyWrite(bucket, d.write);
    // A conditional write checkpoints what takes added: tk is gone.
    expect(written.tk).toBeUndefined();
    expect(written).toEqual(d.write.expected);

    const take = takeWrite(policy, 'r', 1, 12_000);
    const taken = await store.applyTake(bucket, take);
    expect(taken.before).toEqual(written);
    expect(taken.after).toEqual(applyTakeWrite(written, take));
    expect(taken.after.checkpoint).toEqual(written.checkpoint);
    expect(await store.readSlot(bucket, 'r', { consistent: true })).toEqual(taken.after);
  });

  it('refuses a take on a slot whose stored expiry is later, returning the slot unchanged', async () => {
    const bucket = 'take#1#debt';
    const take = takeWrite(policy, 'r', 1, 20_000);
    const debtor = recordingWrite({
      policy,
      view: EMPTY_VIEW,
      slot: 'r',
      tokens: 3 * 3 + 100,
      nowMs: 20_000,
    });
    const stored = await store.applyWrite(bucket, debtor);
    expect(stored.ttl).toBeGreaterThan(take.ttlEpochSeconds);
    const error = await store.applyTake(bucket, take).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    // DynamoDB returns the stored item with the refusal; dynalite does not (the limiter
    // then has it from the read beside the take).
    const current = (error as StoreConflictError).current;
    if (current !== undefined) expect(current).toEqual(stored);
    expect(await store.readSlot(bucket, 'r', { consistent: true })).toEqual(stored);
  });

  it('serialises concurrent takes: each sees the others applied before it', async () => {
    const bucket = 'take#1#race';
    const results = await Promise.all(
      Array.from({ length: 6 }, () => store.applyTake(bucket, takeWrite(policy, 'r', 1, 30_000))),
    );
    const befores = results.map((r) => r.before?.n ?? 0).sort((a, b) => a - b);
    expect(befores).toEqual([0, 1, 2, 3, 4, 5]);
    const stored = await store.readSlot(bucket, 'r', { consistent: true });
    expect(stored?.n).toBe(6);
    expect(stored?.tk).toBe(6);
  });

  it('maps a missing table to an invalid StoreError', async () => {
    const missing = new DynamoDbStore({ transport, tableName: 'no-such-table' });
    const error = await missing.readView('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).kind).toBe('invalid');
  });
});
