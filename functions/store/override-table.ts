/**
 * The overrides partition of the bucket table (docs/design.md, "Overrides"):
 * one item per run-time override, in the same global table as the buckets so
 * that DynamoDB replicates it to every region and every container reads it
 * from the replica it already talks to.
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | {@link OVERRIDES_PK} |
 * | `sk` | S | `<policy>` (policy level) or `<policy>#<key>` |
 * | `o` | S | the settings, JSON ({@link OverrideSettings}) |
 * | `by`, `at` | S, N | who wrote the item and when (ms) |
 * | `why` | S | the reason given (absent: none) |
 * | `del` | BOOL | a deletion (tombstone): who deleted it and when stay readable |
 * | `ttl` | N | tombstones only: expiry (epoch seconds), a day after the deletion |
 *
 * No bucket id can equal the partition key: bucket ids start with a policy
 * id (`[a-z0-9]`), this one with `#`; the reconciler reads only its own
 * partitions and the watched buckets by id, and nothing scans the table.
 *
 * Writes come from operators through the regional API of any region; a
 * global table settles concurrent writes of one item by last writer wins.
 * Deleting writes a tombstone rather than removing the item, so a deletion
 * is as visible (who, when) as a change, and replicates the same way.
 *
 * Only the transport port is used (no SDK code): the edge bundle reads
 * overrides with the light transport.
 */
import {
  normaliseOverrideKey,
  type OverrideRecord,
  type OverrideSettings,
  type OverrideTarget,
  overrideSortKey,
  overrideTargetOf,
} from '../config/overrides';
import type { ResolvedEdgeConfig } from '../config/resolve';
import { ATTR, type AttributeMap } from './codec';
import { containerTransportOptions, type StoreAccess } from './stores';
import type { CallOptions, DynamoDbTransport, TransportFactory } from './transport';

/** Partition key of the overrides. */
export const OVERRIDES_PK = '#overrides';

/** How long a tombstone stays readable (s). */
export const TOMBSTONE_TTL_SECONDS = 86_400;

/** Most pages one read follows (1 MB each): a bound on a runaway partition. */
const MAX_PAGES = 10;

/** An override item as read: a record, or a tombstone when `deleted`. */
export interface StoredOverride extends OverrideRecord {
  readonly deleted: boolean;
}

/** An item of the partition that could not be read, and why. */
export interface UnreadableOverride {
  readonly sortKey: string;
  readonly reason: string;
}

/** One read of the partition. */
export interface OverridesRead {
  readonly overrides: StoredOverride[];
  readonly unreadable: UnreadableOverride[];
}

/** Reads and writes the overrides partition of one replica. */
export class OverrideTable {
  readonly #transport: DynamoDbTransport;
  readonly #table: string;

  constructor(options: { readonly transport: DynamoDbTransport; readonly tableName: string }) {
    this.#transport = options.transport;
    this.#table = options.tableName;
  }

  /** Every item of the partition (tombstones included), in sort-key order. */
  async read(
    options: CallOptions & { readonly consistent?: boolean } = {},
  ): Promise<OverridesRead> {
    const overrides: StoredOverride[] = [];
    const unreadable: UnreadableOverride[] = [];
    let startKey: AttributeMap | undefined;
    let pages = 0;
    do {
      const page = await this.#transport.query(
        {
          TableName: this.#table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': ATTR.pk },
          ExpressionAttributeValues: { ':pk': { S: OVERRIDES_PK } },
          ConsistentRead: options.consistent === true,
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        },
        { abortSignal: options.abortSignal },
      );
      for (const raw of page.Items ?? []) {
        const decoded = decodeOverride(raw);
        if ('settings' in decoded) overrides.push(decoded);
        else unreadable.push(decoded);
      }
      startKey = page.LastEvaluatedKey;
      pages += 1;
    } while (startKey !== undefined && pages < MAX_PAGES);
    if (startKey !== undefined) {
      unreadable.push({
        sortKey: '',
        reason: `more than ${MAX_PAGES} pages: the rest was not read`,
      });
    }
    return { overrides, unreadable };
  }

  /** Writes (creates or replaces) one override. */
  async put(record: OverrideRecord, options: CallOptions = {}): Promise<void> {
    await this.#transport.updateItem(
      {
        TableName: this.#table,
        Key: keyOf(record),
        UpdateExpression:
          record.reason === undefined
            ? 'SET #o = :o, #by = :by, #at = :at REMOVE #del, #ttl, #why'
            : 'SET #o = :o, #by = :by, #at = :at, #why = :why REMOVE #del, #ttl',
        ExpressionAttributeNames: {
          '#o': 'o',
          '#by': 'by',
          '#at': 'at',
          '#del': 'del',
          '#ttl': ATTR.ttl,
          '#why': 'why',
        },
        ExpressionAttributeValues: {
          ':o': { S: JSON.stringify(record.settings) },
          ':by': { S: record.updatedBy },
          ':at': { N: String(record.updatedAtMs) },
          ...(record.reason === undefined ? {} : { ':why': { S: record.reason } }),
        },
      },
      options,
    );
  }

  /**
   * Deletes one override: a tombstone recording who deleted it and when,
   * expiring a day later. Resolves to false when there was no live override.
   */
  async delete(
    target: OverrideTarget,
    by: { readonly updatedBy: string; readonly updatedAtMs: number; readonly reason?: string },
    options: CallOptions = {},
  ): Promise<boolean> {
    try {
      await this.#transport.updateItem(
        {
          TableName: this.#table,
          Key: keyOf(target),
          UpdateExpression: `SET #del = :true, #by = :by, #at = :at, #ttl = :ttl${by.reason === undefined ? ' REMOVE #why' : ', #why = :why'}`,
          ConditionExpression: 'attribute_exists(#o) AND attribute_not_exists(#del)',
          ExpressionAttributeNames: {
            '#o': 'o',
            '#del': 'del',
            '#by': 'by',
            '#at': 'at',
            '#ttl': ATTR.ttl,
            '#why': 'why',
          },
          ExpressionAttributeValues: {
            ':true': { BOOL: true },
            ':by': { S: by.updatedBy },
            ':at': { N: String(by.updatedAtMs) },
            ':ttl': { N: String(Math.floor(by.updatedAtMs / 1000) + TOMBSTONE_TTL_SECONDS) },
            ...(by.reason === undefined ? {} : { ':why': { S: by.reason } }),
          },
        },
        options,
      );
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }
}

function keyOf(target: OverrideTarget): AttributeMap {
  return {
    [ATTR.pk]: { S: OVERRIDES_PK },
    [ATTR.sk]: {
      S: overrideSortKey(
        target.key === undefined ? target : { ...target, key: normaliseOverrideKey(target.key) },
      ),
    },
  };
}

/** One item of the partition, or why it cannot be read (never a guessed value). */
export function decodeOverride(item: AttributeMap): StoredOverride | UnreadableOverride {
  const sortKey = item[ATTR.sk]?.S;
  if (sortKey === undefined) return { sortKey: '', reason: 'no sort key' };
  const raw = item.o?.S;
  const by = item.by?.S;
  const at = Number(item.at?.N);
  if (raw === undefined || by === undefined || !Number.isSafeInteger(at)) {
    return { sortKey, reason: 'missing o, by or at' };
  }
  let settings: unknown;
  try {
    settings = JSON.parse(raw);
  } catch {
    return { sortKey, reason: 'o is not JSON' };
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    return { sortKey, reason: 'o is not an object' };
  }
  const why = item.why?.S;
  return {
    ...overrideTargetOf(sortKey),
    settings: settings as OverrideSettings,
    updatedBy: by,
    updatedAtMs: at,
    ...(why === undefined ? {} : { reason: why }),
    deleted: item.del?.BOOL === true,
  };
}

/**
 * The overrides of the global table's replica a container in `region` talks
 * to, on the transport its bucket store uses (the factory returns the same
 * instance for the same options).
 */
export function overrideTableFor(
  config: ResolvedEdgeConfig,
  region: string | undefined,
  transportOf: TransportFactory,
  access: StoreAccess = {},
): OverrideTable {
  const replica = config.replicaFor(region);
  return new OverrideTable({
    transport: transportOf(containerTransportOptions(config, replica, access)),
    tableName: config.config.tableName,
  });
}
