/**
 * The bucket stores a function needs, built the same way by every runtime:
 * the global table's replica for the region the function runs in (the
 * resolved config's rule) and, when a policy needs it, the strong table's.
 * One client per replica and container (client.ts), reused by every call.
 *
 * Local runs pass an endpoint per replica (the emulated regions) and static
 * credentials; deployed functions pass nothing and reach the regional
 * DynamoDB endpoints with the function's role.
 */
import type { ResolvedConfig } from '../config/resolve';
import { dynamoDbClient } from './client';
import { DynamoDbStore } from './dynamodb-store';
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
  const storeOf = (replicaRegion: string, tableName: string) => {
    const endpoint = access.endpointOf?.(replicaRegion);
    const client = dynamoDbClient({
      region: replicaRegion,
      // The SDK's own timeouts stop a hung attempt; the limiter's store guard decides how
      // long a decision waits, up to this ceiling.
      budgetMs: config.runtime.maxStoreWaitMs,
      ...(endpoint === undefined
        ? {}
        : {
            endpoint,
            ...(access.credentials === undefined ? {} : { credentials: access.credentials }),
          }),
    });
    return new DynamoDbStore({ client, tableName });
  };
  const strongReplica = config.strongReplicaFor(region);
  const strong = config.config.strong;
  return {
    replica,
    store: storeOf(replica, config.config.tableName),
    ...(config.usesStrong && strong !== undefined && strongReplica !== undefined
      ? { strongStore: storeOf(strongReplica, strong.tableName) }
      : {}),
  };
}
