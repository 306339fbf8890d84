import { GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketTableDefinition } from '../../functions/store/table';
import { RegionEmulator } from '../../local/emulator';
import { ManualClock } from '../helpers/manual-clock';

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
});

/** The same emulator on a clock the test moves: what happens when is exact. */
describe('RegionEmulator on a manual clock', () => {
  const clock = new ManualClock();
  const LAG_MS = 150;
  let emu: RegionEmulator;
  beforeAll(async () => {
    emu = await RegionEmulator.start({ regions: ['r1', 'r2', 'r3'], lagMs: LAG_MS, clock });
    await emu.createTable(bucketTableDefinition(TABLE));
  });
  afterAll(() => emu.stop());

  const read = async (region: string, pk: string, sk: string) =>
    (await emu.client(region).send(new GetItemCommand({ TableName: TABLE, Key: key(pk, sk) })))
      .Item;
  const put = (region: string, pk: string, n: number) =>
    emu
      .client(region)
      .send(
        new PutItemCommand({ TableName: TABLE, Item: { ...key(pk, 'x'), n: { N: String(n) } } }),
      );

  it('replicates a write to every other region after the lag, not a millisecond before', async () => {
    await emu.client('r1').send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: key('b', 'r1'),
        UpdateExpression: 'ADD #n :one',
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':one': { N: '1' } },
      }),
    );
    expect((await read('r1', 'b', 'r1'))?.n?.N).toBe('1');
    clock.advance(LAG_MS - 1);
    expect(await read('r2', 'b', 'r1')).toBeUndefined();
    expect(await read('r3', 'b', 'r1')).toBeUndefined();
    clock.advance(1);
    await emu.settle();
    expect((await read('r2', 'b', 'r1'))?.n?.N).toBe('1');
    expect((await read('r3', 'b', 'r1'))?.n?.N).toBe('1');
    for (const l of emu.linkStats().filter((x) => x.from === 'r1')) {
      expect(l.lastLagMs).toBe(LAG_MS);
    }
  });

  it('never lets an older delivery overwrite a newer local write (last writer wins)', async () => {
    await put('r1', 'd', 1);
    clock.advance(20);
    await put('r2', 'd', 2);
    const superseded = () =>
      emu.linkStats().find((l) => l.from === 'r1' && l.to === 'r2')?.superseded;
    const before = superseded();
    clock.advance(LAG_MS);
    await emu.settle();
    for (const region of ['r1', 'r2', 'r3']) expect((await read(region, 'd', 'x'))?.n?.N).toBe('2');
    // r1's older write reached r2 after r2's own and was skipped there.
    expect(superseded()).toBe((before ?? 0) + 1);
  });
});
