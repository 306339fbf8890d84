import { GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketTableDefinition } from '../../functions/store/table';
import { RegionEmulator } from '../../local/emulator';

const TABLE = 'buckets';
const key = (pk: string, sk: string) => ({ pk: { S: pk }, sk: { S: sk } });

describe('RegionEmulator', () => {
  let emu: RegionEmulator;
  beforeAll(async () => {
    emu = await RegionEmulator.start({ regions: ['r1', 'r2', 'r3'], lagMs: 150 });
    await emu.createTable(bucketTableDefinition(TABLE));
  });
  afterAll(() => emu.stop());

  const read = async (region: string, pk: string, sk: string) =>
    (await emu.client(region).send(new GetItemCommand({ TableName: TABLE, Key: key(pk, sk) })))
      .Item;

  it('replicates a write to every other region after the lag, not before', async () => {
    const startMs = Date.now();
    await emu.client('r1').send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: key('b', 'r1'),
        UpdateExpression: 'ADD #n :one',
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':one': { N: '1' } },
      }),
    );
    expect(await read('r1', 'b', 'r1')).toBeDefined();
    const early = await read('r2', 'b', 'r1');
    // Unless the machine stalled past the lag, the replica cannot have it yet.
    if (Date.now() - startMs < 140) expect(early).toBeUndefined();
    await emu.settle();
    expect((await read('r2', 'b', 'r1'))?.n?.N).toBe('1');
    expect((await read('r3', 'b', 'r1'))?.n?.N).toBe('1');
    const lags = emu.linkStats().filter((l) => l.from === 'r1');
    for (const l of lags) expect(l.lastLagMs).toBeGreaterThanOrEqual(150);
  });

  it('replicates the final state of concurrent writes to one item and to many items', async () => {
    emu.setLag(0);
    const add = (pk: string) =>
      emu.client('r1').send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: key(pk, 'r1'),
          UpdateExpression: 'ADD #n :one',
          ExpressionAttributeNames: { '#n': 'n' },
          ExpressionAttributeValues: { ':one': { N: '1' } },
        }),
      );
    await Promise.all([
      ...Array.from({ length: 40 }, () => add('hot')),
      ...Array.from({ length: 20 }, (_, i) => add(`cold-${i}`)),
    ]);
    await emu.settle();
    for (const region of ['r1', 'r2', 'r3']) {
      expect((await read(region, 'hot', 'r1'))?.n?.N).toBe('40');
      for (let i = 0; i < 20; i++) expect((await read(region, `cold-${i}`, 'r1'))?.n?.N).toBe('1');
    }
  });

  it('queues deliveries over a cut link and flushes them in order on heal', async () => {
    emu.setLag(0);
    emu.cut('r1', 'r2');
    for (let i = 1; i <= 5; i++) {
      await emu.client('r1').send(
        new PutItemCommand({
          TableName: TABLE,
          Item: { ...key('c', 'r1'), n: { N: String(i) } },
        }),
      );
    }
    await emu.settle();
    expect(await read('r2', 'c', 'r1')).toBeUndefined();
    expect((await read('r3', 'c', 'r1'))?.n?.N).toBe('5');
    expect(emu.linkStats().find((l) => l.from === 'r1' && l.to === 'r2')?.pending).toBe(5);
    emu.heal('r1', 'r2');
    await emu.settle();
    expect((await read('r2', 'c', 'r1'))?.n?.N).toBe('5');
  });

  it('never lets an older delivery overwrite a newer local write (last writer wins)', async () => {
    emu.setLag(200);
    await emu
      .client('r1')
      .send(new PutItemCommand({ TableName: TABLE, Item: { ...key('d', 'x'), n: { N: '1' } } }));
    await new Promise((r) => setTimeout(r, 20));
    await emu
      .client('r2')
      .send(new PutItemCommand({ TableName: TABLE, Item: { ...key('d', 'x'), n: { N: '2' } } }));
    await emu.settle();
    for (const region of ['r1', 'r2', 'r3']) expect((await read(region, 'd', 'x'))?.n?.N).toBe('2');
  });
});
