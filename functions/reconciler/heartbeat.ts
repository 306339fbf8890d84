/**
 * Heartbeat items: the probe the reconciler uses to measure replication.
 *
 * Each region's reconciler writes one item in its own replica, pk
 * {@link HEARTBEAT_PK}, sk `<region>`, with `at` (write time, ms) and `seq`
 * (`ADD seq 1` on every write). Only that region writes it, so replication's
 * last-writer-wins never drops a heartbeat. The writer then reads the item in
 * every other replica until `seq` reaches the value it wrote: the time that
 * takes is the replication lag, measured on one clock. Every reconciler also
 * reads all heartbeats from its own replica; `now − at` tells whether another
 * region is still writing and replicating here (that one spans two clocks,
 * which Lambda keeps within a few ms; negative ages count as 0).
 *
 * `pk` starts with `__`, which no bucket id can (policy ids are `[a-z0-9-]`).
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | {@link HEARTBEAT_PK} |
 * | `sk` | S | the writing region |
 * | `at` | N | write time (epoch ms, the writer's clock) |
 * | `seq` | N | sequence, +1 per write |
 * | `ttl` | N | epoch seconds, {@link HEARTBEAT_TTL_SECONDS} after `at` |
 */

import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';

/** Partition key of every heartbeat item. */
export const HEARTBEAT_PK = '__heartbeat__';

/** How long a heartbeat outlives its last write (seconds): a retired region's item goes away. */
export const HEARTBEAT_TTL_SECONDS = 24 * 60 * 60;

/** Most heartbeat items one query reads (a bound, far above any real number of regions). */
export const MAX_HEARTBEAT_ITEMS = 100;

/** One region's heartbeat. */
export interface Heartbeat {
  /** The writing region. */
  readonly region: string;
  /** Write time (epoch ms, the writer's clock). */
  readonly atMs: number;
  /** Sequence number of the write. */
  readonly seq: number;
}

/** A heartbeat item that cannot be decoded. */
export class HeartbeatCodecError extends Error {
  override readonly name = 'HeartbeatCodecError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Writes this region's heartbeat (one UpdateItem) and returns it as stored,
 * with the sequence number the write produced.
 */
export async function writeHeartbeat(
  client: DynamoDBClient,
  tableName: string,
  region: string,
  atMs: number,
  abortSignal?: AbortSignal,
): Promise<Heartbeat> {
  const out = await client.send(
    new UpdateItemCommand({
      TableName: tableName,
      Key: keyOf(region),
      UpdateExpression: 'ADD #seq :one SET #at = :at, #ttl = :ttl',
      ExpressionAttributeNames: { '#seq': 'seq', '#at': 'at', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':one': { N: '1' },
        ':at': { N: String(atMs) },
        ':ttl': { N: String(Math.ceil(atMs / 1000) + HEARTBEAT_TTL_SECONDS) },
      },
      ReturnValues: 'ALL_NEW',
    }),
    { abortSignal },
  );
  return decodeHeartbeat(out.Attributes ?? {});
}

/** One region's heartbeat in the replica `client` talks to (strongly consistent), if any. */
export async function readHeartbeat(
  client: DynamoDBClient,
  tableName: string,
  region: string,
  abortSignal?: AbortSignal,
): Promise<Heartbeat | undefined> {
  const out = await client.send(
    new GetItemCommand({ TableName: tableName, Key: keyOf(region), ConsistentRead: true }),
    { abortSignal },
  );
  return out.Item === undefined ? undefined : decodeHeartbeat(out.Item);
}

/** Every heartbeat in the replica `client` talks to (one Query, at most {@link MAX_HEARTBEAT_ITEMS}). */
export async function readHeartbeats(
  client: DynamoDBClient,
  tableName: string,
  abortSignal?: AbortSignal,
): Promise<Heartbeat[]> {
  const out = await client.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': { S: HEARTBEAT_PK } },
      ConsistentRead: true,
      Limit: MAX_HEARTBEAT_ITEMS,
    }),
    { abortSignal },
  );
  return (out.Items ?? []).map(decodeHeartbeat);
}

/**
 * Decodes a heartbeat item.
 *
 * @throws {@link HeartbeatCodecError} when `sk`, `at` or `seq` is missing or malformed.
 */
export function decodeHeartbeat(item: Record<string, AttributeValue>): Heartbeat {
  const region = item.sk?.S;
  const atMs = Number(item.at?.N);
  const seq = Number(item.seq?.N);
  if (region === undefined || !Number.isSafeInteger(atMs) || !Number.isSafeInteger(seq)) {
    throw new HeartbeatCodecError(
      `malformed heartbeat item: sk=${JSON.stringify(item.sk)} at=${JSON.stringify(item.at)} seq=${JSON.stringify(item.seq)}`,
    );
  }
  return { region, atMs, seq };
}

function keyOf(region: string): Record<string, AttributeValue> {
  return { pk: { S: HEARTBEAT_PK }, sk: { S: region } };
}
