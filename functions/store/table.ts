/**
 * The bucket table's key schema, in one place: the CDK table, the local
 * runtime and the tests create the same table from it. Only the key
 * attributes are declared; everything else is schemaless (codec.ts).
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { ATTR } from './codec';

/** Partition key: the bucket id. */
export const PARTITION_KEY = ATTR.pk;
/** Sort key: the slot id. */
export const SORT_KEY = ATTR.sk;
/** TTL attribute (epoch seconds). */
export const TTL_ATTRIBUTE = ATTR.ttl;

/** A `CreateTable` input for a bucket table (on-demand billing). */
export function bucketTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: PARTITION_KEY, AttributeType: 'S' },
      { AttributeName: SORT_KEY, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: SORT_KEY, KeyType: 'RANGE' },
    ],
  };
}
