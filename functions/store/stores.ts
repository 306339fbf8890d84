/**
 * The stores a function needs, built the same way by every runtime: the
 * global table's replica for the region the function runs in (the resolved
 * config's rule) and, when a policy needs it, the strong table's; for the
 * reconciler, which reads every replica, the stores of each replica
 * ({@link replicaStores}). One client per replica and container (client.ts),
 * reused by every call.
 *
 * Local runs pass an endpoint per replica (the emulated regions) and static
 * credentials; deployed functions pass nothing and reach the regional
 * DynamoDB endpoints with the function's role.
 */
import type { ResolvedConfig } from '../config/resolve';
import { createDynamoDbClient, type DynamoDbClientOptions, dynamoDbClient } from './client';
import { DynamoDbReplicationStore } from './dynamodb-replication-store';
import { DynamoDbStore } from './dynamodb-store';
import type { ReplicationStore } from './replication-store';
import type { BucketStore } from './types';

/** How the stores are reached. */
export interface StoreAccess {
  /** Endpoint of a replica region (local runs); undefined: the AWS endpoint. */
  readonly endpointOf?: (replicaRegion: string) => string | undefined;
  /** Static credentials for overridden endpoints. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** The stores of one container. */
export interface BucketStores {
  /** The replica the container talks to: the slot it writes. */
  readonly replica: string;
  readonly store: BucketStore;
  /** The strong table's nearest replica, when a policy is strong. */
  readonly strongStore?: BucketStore;
}

/** The stores of a container running in `region`. */
export function bucketStoresFor(
  config: ResolvedConfig,
  region: string | undefined,
  access: StoreAccess = {},
): BucketStores {
  const replica = config.replicaFor(region);
  const strongReplica = config.strongReplicaFor(region);
  const strong = config.config.strong;
  return {
    replica,
    store: new DynamoDbStore({
      client: containerClient(config, replica, access),
      tableName: config.config.tableName,
    }),
    ...(config.usesStrong && strong !== undefined && strongReplica !== undefined
      ? {
          strongStore: new DynamoDbStore({
            client: containerClient(config, strongReplica, access),
            tableName: strong.tableName,
          }),
        }
      : {}),
  };
}

/**
 * The reconciler items (the status `GET /health` shows) of the replica a
 * container running in `region` talks to, on the same client as its bucket
 * store. Apart from {@link bucketStoresFor} so that a bundle that never
 * reads them (the edge) does not carry the adapter.
 */
export function replicationStoreFor(
  config: ResolvedConfig,
  region: string | undefined,
  access: StoreAccess = {},
): ReplicationStore {
  return new DynamoDbReplicationStore({
    client: containerClient(config, config.replicaFor(region), access),
    tableName: config.config.tableName,
  });
}

/** The container's shared client of a replica for a decision-serving function. */
function containerClient(config: ResolvedConfig, replicaRegion: string, access: StoreAccess) {
  return dynamoDbClient(
    clientOptionsOf(replicaRegion, access, {
      // The SDK's own timeouts stop a hung attempt; the limiter's store guard decides how
      // long a decision waits, up to this ceiling.
      budgetMs: config.runtime.maxStoreWaitMs,
    }),
  );
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
        clientOptionsOf(replicaRegion, options.access ?? {}, {
          budgetMs: options.callTimeoutMs,
          maxSockets: options.maxSockets,
        }),
      );
      entry = {
        client,
        bucket: new DynamoDbStore({ client, tableName: options.tableName }),
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

function clientOptionsOf(
  replicaRegion: string,
  access: StoreAccess,
  tuning: Pick<DynamoDbClientOptions, 'budgetMs' | 'maxSockets'>,
): DynamoDbClientOptions {
  const endpoint = access.endpointOf?.(replicaRegion);
  return {
    region: replicaRegion,
    ...tuning,
    ...(endpoint === undefined
      ? {}
      : {
          endpoint,
          ...(access.credentials === undefined ? {} : { credentials: access.credentials }),
        }),
  };
}
