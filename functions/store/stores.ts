/**
 * The bucket stores a decision-serving function needs, built the same way by
 * every runtime: the global table's replica for the region the function runs
 * in (the resolved config's rule) and, when a policy needs it, the strong
 * table's. The caller chooses the transport (transport.ts): the edge passes
 * the light one (http-transport.ts), the regional API the SDK's
 * (sdk-transport.ts), so that this module carries neither and an edge bundle
 * no SDK code. One transport per replica and container, reused by every call.
 * The regional functions' other stores (reconciler items, every replica at
 * once) are in regional-stores.ts.
 *
 * Local runs pass an endpoint per replica (the emulated regions) and static
 * credentials; deployed functions pass nothing and reach the regional
 * DynamoDB endpoints with the function's role.
 */
import type { ResolvedEdgeConfig } from '../config/resolve';
import { DynamoDbStore } from './dynamodb-store';
import type { StaticCredentials, TransportFactory, TransportOptions } from './transport';
import type { BucketStore } from './types';

/** How the stores are reached. */
export interface StoreAccess {
  /** Endpoint of a replica region (local runs); undefined: the AWS endpoint. */
  readonly endpointOf?: (replicaRegion: string) => string | undefined;
  /** Static credentials for overridden endpoints. */
  readonly credentials?: StaticCredentials;
}

/** The stores of one container. */
export interface BucketStores {
  /** The replica the container talks to: the slot it writes. */
  readonly replica: string;
  readonly store: BucketStore;
  /** The strong table's nearest replica, when a policy is strong. */
  readonly strongStore?: BucketStore;
}

/** The stores of a container running in `region`, on transports from `transportOf`. */
export function bucketStoresFor(
  config: ResolvedEdgeConfig,
  region: string | undefined,
  transportOf: TransportFactory,
  access: StoreAccess = {},
): BucketStores {
  const replica = config.replicaFor(region);
  const strongReplica = config.strongReplicaFor(region);
  const strong = config.config.strong;
  return {
    replica,
    store: new DynamoDbStore({
      transport: transportOf(containerTransportOptions(config, replica, access)),
      tableName: config.config.tableName,
    }),
    ...(config.usesStrong && strong !== undefined && strongReplica !== undefined
      ? {
          strongStore: new DynamoDbStore({
            transport: transportOf(containerTransportOptions(config, strongReplica, access)),
            tableName: strong.tableName,
          }),
        }
      : {}),
  };
}

/**
 * The transport options of a decision-serving container's replica: the
 * transport's own timeouts stop a hung attempt; the limiter's store guard
 * decides how long a decision waits, up to this ceiling.
 */
export function containerTransportOptions(
  config: ResolvedEdgeConfig,
  replicaRegion: string,
  access: StoreAccess,
): TransportOptions {
  return transportOptionsOf(replicaRegion, access, { budgetMs: config.runtime.maxStoreWaitMs });
}

/** The transport options of a replica under `access`. */
export function transportOptionsOf(
  replicaRegion: string,
  access: StoreAccess,
  tuning: Pick<TransportOptions, 'budgetMs' | 'maxSockets'>,
): TransportOptions {
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
