import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketTableDefinition } from '../../functions/store/table';
import { RegionEmulator } from '../../local/emulator';

const TABLE = 'buckets';
const key = { pk: { S: 'hot' }, sk: { S: 'r1' } };

describe('RegionEmulator replication under a stream of writes', () => {
  let emu: RegionEmulator;
  beforeAll(async () => {
    emu = await RegionEmulator.start({ regions: ['r1', 'r2', 'r3'], lagMs: 5, jitterMs: 5 });
    await emu.createTable(bucketTableDefinition(TABLE));
  });
  afterAll(() => emu.stop());

  // New writes land while earlier deliveries are being applied; every
  // delivery must be applied once, in order, none skipped.
  it('ends with the last version in every replica', async () => {
    const writes = 150;
    const client = emu.client('r1');
    for (let i = 0; i < writes; i++) {
      await client.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: key,
          UpdateExpression: 'ADD #n :one',
          ExpressionAttributeNames: { '#n': 'n' },
          ExpressionAttributeValues: { ':one': { N: '1' } },
        }),
      );
    }
    await emu.settle();
    for (const region of ['r1', 'r2', 'r3']) {
      const got = await emu
        .directClient(region)
        .send(new GetItemCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
      expect(got.Item?.n?.N, region).toBe(String(writes));
    }
    const fromR1 = emu.linkStats().filter((l) => l.from === 'r1');
    for (const l of fromR1) expect(l.delivered + l.superseded).toBe(writes);
  });
});
