/**
 * The DynamoDB adapter of {@link ReplicationStore}: the reconciler's
 * heartbeat and status items in one replica of the bucket table
 * (replication-codec.ts has their layout).
 *
 * - heartbeat write: ONE UpdateItem, `ADD seq :one SET at = :at, ttl = :ttl`,
 *   `ALL_NEW`, so the answer carries the sequence number the write produced
 *   without a read;
 * - heartbeat read: GetItem, strongly consistent (the probe asks whether a
 *   write has reached this replica *now*);
 * - all heartbeats: one strongly consistent Query of the heartbeat partition;
 * - status: PutItem (replace) and an eventually consistent GetItem.
 *
 * Every failure becomes a {@link StoreError} (errors.ts): SDK errors by kind,
 * malformed items and unstorable values as `invalid` with the
 * {@link ReplicationCodecError} as `cause`, an aborted signal as `timeout`.
 */
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import type { Heartbeat, ReconcilerStatus } from '../shared/replication-status';
import { withAbortSignal } from './call-signal';
import type { AttributeMap } from './codec';
import { storeCall } from './errors';
import {
  decodeHeartbeat,
  decodeReconcilerStatus,
  encodeReconcilerStatus,
  HEARTBEAT_PK,
  heartbeatKey,
  heartbeatTtlOf,
  ReplicationCodecError,
  reconcilerStatusKey,
} from './replication-codec';
import {
  MAX_HEARTBEAT_ITEMS,
  type ReplicationCallOptions,
  type ReplicationStore,
} from './replication-store';
import { StoreError } from './types';

/** How a {@link DynamoDbReplicationStore} is built. */
export interface DynamoDbReplicationStoreOptions {
  /** A client of the replica (client.ts). */
  readonly client: DynamoDBClient;
  /** The bucket table (the global table has the same name in every replica). */
  readonly tableName: string;
}

/** {@link ReplicationStore} on one replica of the bucket table. */
export class DynamoDbReplicationStore implements ReplicationStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;

  constructor(options: DynamoDbReplicationStoreOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
  }

  async writeHeartbeat(
    region: string,
    atMs: number,
    options: ReplicationCallOptions = {},
  ): Promise<Heartbeat> {
    const operation = `writeHeartbeat(${region})`;
    const input = encoded(operation, () => heartbeatUpdateInputOf(this.#table, region, atMs));
    const out = await storeCall(operation, options.abortSignal, () =>
      withAbortSignal(options.abortSignal, (abortSignal) =>
        this.#client.send(new UpdateItemCommand(input), { abortSignal }),
      ),
    );
    return decoded(operation, () => decodeHeartbeat(out.Attributes ?? {}));
  }

  async readHeartbeat(
    region: string,
    options: ReplicationCallOptions = {},
  ): Promise<Heartbeat | undefined> {
    const operation = `readHeartbeat(${region})`;
    const out = await storeCall(operation, options.abortSignal, () =>
      withAbortSignal(options.abortSignal, (abortSignal) =>
        this.#client.send(
          new GetItemCommand({
            TableName: this.#table,
            Key: heartbeatKey(region),
            ConsistentRead: true,
          }),
          { abortSignal },
        ),
      ),
    );
    const item = out.Item;
    return item === undefined ? undefined : decoded(operation, () => decodeHeartbeat(item));
  }

  async readHeartbeats(options: ReplicationCallOptions = {}): Promise<Heartbeat[]> {
    const operation = 'readHeartbeats';
    const out = await storeCall(operation, options.abortSignal, () =>
      withAbortSignal(options.abortSignal, (abortSignal) =>
        this.#client.send(new QueryCommand(heartbeatsQueryInputOf(this.#table)), { abortSignal }),
      ),
    );
    return decoded(operation, () => (out.Items ?? []).map(decodeHeartbeat));
  }

  async writeStatus(status: ReconcilerStatus, options: ReplicationCallOptions = {}): Promise<void> {
    const operation = `writeStatus(${status.region})`;
    const input: PutItemCommandInput = {
      TableName: this.#table,
      Item: encoded(operation, () => encodeReconcilerStatus(status)),
    };
    await storeCall(operation, options.abortSignal, () =>
      withAbortSignal(options.abortSignal, (abortSignal) =>
        this.#client.send(new PutItemCommand(input), { abortSignal }),
      ),
    );
  }

  async readStatus(
    region: string,
    options: ReplicationCallOptions = {},
  ): Promise<ReconcilerStatus | undefined> {
    const operation = `readStatus(${region})`;
    const out = await storeCall(operation, options.abortSignal, () =>
      withAbortSignal(options.abortSignal, (abortSignal) =>
        this.#client.send(
          new GetItemCommand({ TableName: this.#table, Key: reconcilerStatusKey(region) }),
          { abortSignal },
        ),
      ),
    );
    const item: AttributeMap | undefined = out.Item;
    return item === undefined ? undefined : decoded(operation, () => decodeReconcilerStatus(item));
  }
}

/**
 * The UpdateItem input of a heartbeat write (exported for tests and for
 * reading the exact shape that reaches DynamoDB).
 *
 * @throws {@link ReplicationCodecError} when `atMs` is not a safe integer.
 */
export function heartbeatUpdateInputOf(
  tableName: string,
  region: string,
  atMs: number,
): UpdateItemCommandInput {
  const ttl = heartbeatTtlOf(atMs);
  return {
    TableName: tableName,
    Key: heartbeatKey(region),
    UpdateExpression: 'ADD #seq :one SET #at = :at, #ttl = :ttl',
    ExpressionAttributeNames: { '#seq': 'seq', '#at': 'at', '#ttl': 'ttl' },
    ExpressionAttributeValues: {
      ':one': { N: '1' },
      ':at': { N: String(atMs) },
      ':ttl': { N: String(ttl) },
    },
    ReturnValues: 'ALL_NEW',
  };
}

/** The Query input that reads every heartbeat of a replica. */
export function heartbeatsQueryInputOf(tableName: string): QueryCommandInput {
  return {
    TableName: tableName,
    KeyConditionExpression: '#pk = :pk',
    ExpressionAttributeNames: { '#pk': 'pk' },
    ExpressionAttributeValues: { ':pk': { S: HEARTBEAT_PK } },
    ConsistentRead: true,
    Limit: MAX_HEARTBEAT_ITEMS,
  };
}

/** Runs an encoder; a value it refuses becomes an `invalid` StoreError (nothing is sent). */
function encoded<T>(operation: string, encode: () => T): T {
  try {
    return encode();
  } catch (error) {
    throw invalid(operation, 'refused a value', error);
  }
}

/** Runs a decoder; a malformed item becomes an `invalid` StoreError. */
function decoded<T>(operation: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    throw invalid(operation, 'read a malformed item', error);
  }
}

function invalid(operation: string, what: string, error: unknown): unknown {
  if (!(error instanceof ReplicationCodecError)) return error;
  return new StoreError(`${operation} ${what}: ${error.message}`, 'invalid', { cause: error });
}
