/**
 * The stores only the regional functions use, on the SDK client (client.ts):
 * the reconciler items the API's `GET /health` reads, and, for the
 * reconciler, the stores of every replica. Apart from stores.ts so that the
 * edge bundle, which needs neither, carries no SDK code.
 */

import type { ResolvedConfig } from '../config/resolve';
import { createDynamoDbClient, dynamoDbClient } from './client';
import { DynamoDbReplicationStore } from './dynamodb-replication-store';
import { DynamoDbStore } from './dynamodb-store';
import type { ReplicationStore } from './replication-store';
import { SdkTransport } from './sdk-transport';
import { containerTransportOptions, type StoreAccess, transportOptionsOf } from './stores';
import type { BucketStore } from './types';

/**
 * The reconciler items (the status `GET /health` shows) of the replica a
 * container running in `region` talks to, on the same client as its bucket
 * store when that one is on the SDK transport (sdk-transport.ts).
 */
export function replicationStoreFor(
  config: ResolvedConfig,
  region: string | undefined,
  access: StoreAccess = {},
): ReplicationStore {
  return new DynamoDbReplicationStore({
    client: dynamoDbClient(containerTransportOptions(config, config.replicaFor(region), access)),
    tableName: config.config.tableName,
  });
}

/** The stores of every replica of one table, for a function that reads all of them. */
export interface ReplicaStores {
  /** The bucket store of a replica region (built on first use, then kept). */
  bucketStore(replicaRegion: string): BucketStore;
  /** The reconciler items of a replica region (same client as its bucket store). */
  replicationStore(replicaRegion: string): ReplicationStore;
  /**
   * Destroys the clients built so far, ending their calls in flight and
   * their idle connections (local runs and tests stop with it; a Lambda
   * container never closes).
   */
  close(): void;
}

/** How {@link replicaStores} builds its clients. */
export interface ReplicaStoresOptions {
  /** The table (the global table has the same name in every replica). */
  readonly tableName: string;
  readonly access?: StoreAccess;
  /** Longest single call (ms): the clients' per-attempt timeouts follow it. */
  readonly callTimeoutMs: number;
  /** Most sockets per client. */
  readonly maxSockets: number;
}

/**
 * One client and one pair of stores per replica region, built on first use.
 * The clients are the factory's own (client.ts `createDynamoDbClient`), so
 * {@link ReplicaStores.close} never ends another function's client.
 */
export function replicaStores(options: ReplicaStoresOptions): ReplicaStores {
  const built = new Map<
    string,
    {
      readonly client: ReturnType<typeof createDynamoDbClient>;
      readonly bucket: BucketStore;
      readonly replication: ReplicationStore;
    }
  >();
  const of = (replicaRegion: string) => {
    let entry = built.get(replicaRegion);
    if (entry === undefined) {
      const client = createDynamoDbClient(
        transportOptionsOf(replicaRegion, options.access ?? {}, {
          budgetMs: options.callTimeoutMs,
          maxSockets: options.maxSockets,
        }),
      );
      entry = {
        client,
        bucket: new DynamoDbStore({
          transport: new SdkTransport(client),
          tableName: options.tableName,
        }),
        replication: new DynamoDbReplicationStore({ client, tableName: options.tableName }),
      };
      built.set(replicaRegion, entry);
    }
    return entry;
  };
  return {
    bucketStore: (replicaRegion) => of(replicaRegion).bucket,
    replicationStore: (replicaRegion) => of(replicaRegion).replication,
    close() {
      for (const entry of built.values()) entry.client.destroy();
    },
  };
}
