import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketTableDefinition } from '../../functions/store/table';
import { localClient, RegionEmulator } from '../../local/emulator';
import { waitFor } from '../helpers/wait-for';

const TABLE = 'buckets';

const key = (pk: string) => ({ pk: { S: pk }, sk: { S: 'r' } });

describe('RegionEmulator.setDown', () => {
  let emu: RegionEmulator;
  beforeAll(async () => {
    emu = await RegionEmulator.start({ regions: ['r1', 'r2'], lagMs: 0 });
    await emu.createTable(bucketTableDefinition(TABLE));
  });
  afterAll(() => emu.stop());

  const get = (region: string, pk: string, signal?: AbortSignal) =>
    emu
      .client(region)
      .send(new GetItemCommand({ TableName: TABLE, Key: key(pk) }), { abortSignal: signal });

  it('fails every call with a 500 in error mode, and recovers when brought back up', async () => {
    emu.setDown('r1', true);
    expect(emu.downMode('r1')).toBe('error');
    const error = await get('r1', 'a').catch((e: unknown) => e);
    expect((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(
      500,
    );
    expect((error as Error).name).toBe('InternalServerError');
    // The other region is unaffected.
    await expect(get('r2', 'a')).resolves.toBeDefined();
    emu.setDown('r1', false);
    expect(emu.downMode('r1')).toBeUndefined();
    await expect(get('r1', 'a')).resolves.toBeDefined();
  });

  it('never answers in hang mode, so clients time out; held calls get a 500 when it ends', async () => {
    emu.setDown('r1', true, 'hang');
    const timedOut = await get('r1', 'b', AbortSignal.timeout(200)).catch((e: unknown) => e);
    expect((timedOut as Error).name).toMatch(/Abort|Timeout/);
    await waitFor(() => emu.heldCalls('r1') === 0);
    const client = localClient(emu.endpoint('r1'), 'r1');
    const held = client.send(new GetItemCommand({ TableName: TABLE, Key: key('b') }));
    await waitFor(() => emu.heldCalls('r1') === 1);
    emu.setDown('r1', false);
    const error = await held.catch((e: unknown) => e);
    expect((error as Error).name).toBe('InternalServerError');
    client.destroy();
  });

  it('keeps replicating into a downed region, readable once it is back', async () => {
    emu.setDown('r2', true);
    await emu
      .client('r1')
      .send(new PutItemCommand({ TableName: TABLE, Item: { ...key('c'), n: { N: '4' } } }));
    await emu.settle();
    const direct = await emu
      .directClient('r2')
      .send(new GetItemCommand({ TableName: TABLE, Key: key('c') }));
    expect(direct.Item?.n?.N).toBe('4');
    emu.setDown('r2', false);
    expect((await get('r2', 'c')).Item?.n?.N).toBe('4');
  });
});
