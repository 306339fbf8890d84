/**
 * The bucket tables, deployed from one region: CloudFormation creates every
 * replica from there.
 *
 * - The eventual table (every policy by default): a `TableV2` global table
 *   with a replica in every configured region, one slot item per region and
 *   bucket. On-demand, TTL on `ttl`, point-in-time recovery, deletion
 *   protection and RETAIN: losing it resets every bucket to full. Deletion
 *   protection is set per replica, so one replica can be unprotected for its
 *   removal while the others stay protected.
 * - The strong table (only when a policy uses `strong`): a multi-Region
 *   strongly consistent table over exactly three regions of one region set
 *   (validated with the config), without TTL, which MRSC does not support.
 *
 * Streams come with replicas (global tables replicate through them). Replicas
 * are listed in alphabetical order, so reordering `regions` changes nothing.
 *
 * The logical id of each table (`Buckets` + hash) is pinned by the tests: a
 * new logical id would make CloudFormation create a second table under the
 * same name, which fails, and orphan the retained one.
 */

import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';

/** Partition key: the bucket id. */
export const PARTITION_KEY = 'pk';
/** Sort key: the slot id. */
export const SORT_KEY = 'sk';
/** Expiry attribute (epoch seconds). */
export const TTL_ATTRIBUTE = 'ttl';

/** Properties of {@link TableStack}. */
export interface TableStackProps extends StackProps {
  readonly tableName: string;
  /** Replica regions other than this stack's. */
  readonly replicaRegions: readonly string[];
  /** MRSC table: exactly three regions of one region set, yes or no. */
  readonly consistency: 'eventual' | 'strong';
  /** Replica regions whose deletion protection is off, for their removal. @default none */
  readonly unprotectedReplicas?: readonly string[];
}

/** One global bucket table. */
export class TableStack extends Stack {
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: TableStackProps) {
    super(scope, id, props);
    const strong = props.consistency === 'strong';
    this.table = new dynamodb.TableV2(this, 'Buckets', {
      tableName: props.tableName,
      partitionKey: { name: PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      sortKey: { name: SORT_KEY, type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      replicas: [...props.replicaRegions].sort().map((region) => ({
        region,
        deletionProtection: !(props.unprotectedReplicas ?? []).includes(region),
      })),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      ...(strong
        ? { multiRegionConsistency: dynamodb.MultiRegionConsistency.STRONG }
        : { timeToLiveAttribute: TTL_ATTRIBUTE }),
    });
  }
}
