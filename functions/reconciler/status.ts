/**
 * The reconciler's status item: its last findings, kept in the table so that
 * the regional API's `GET /health` can show them without CloudWatch access.
 *
 * Why in the table: /health runs in the same region as the reconciler and
 * already reads this replica; one GetItem is cheap and needs no extra IAM.
 * One item per region, written only by that region's reconciler (single
 * writer, so last-writer-wins replication cannot lose anything):
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | always {@link RECONCILER_STATUS_PK} |
 * | `sk` | S | the region that measured |
 * | `sv` | N | shape version ({@link RECONCILER_STATUS_VERSION}) |
 * | `measuredAtMs` | N | start of the run (epoch ms) |
 * | `durationMs` | N | how long the run took |
 * | `lagMs` | M | other region → N (ms) or NULL (heartbeat not seen within the wait) |
 * | `heartbeatAgeMs` | M | other region → N (ms) or NULL (never seen here) |
 * | `watched` | L of M | `{ policy S, key S, levelRatio N/NULL, divergenceTokens N/NULL, replicas N }` |
 * | `errorCount` | N | store calls that failed during the run |
 * | `ttl` | N | epoch seconds, a day after `measuredAtMs` (a retired region's item goes away) |
 *
 * `pk` starts with `__`, which no bucket id can (policy ids are `[a-z0-9-]`).
 */

import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';

/** Partition key of every reconciler status item. */
export const RECONCILER_STATUS_PK = '__reconciler__';

/** Version of the item's shape; bumped on an incompatible change. */
export const RECONCILER_STATUS_VERSION = 1;

/** How long a status item lives after its run (seconds). */
export const RECONCILER_STATUS_TTL_SECONDS = 24 * 60 * 60;

/** A watched bucket as the last run saw it. */
export interface WatchedBucketStatus {
  /** Policy id. */
  readonly policy: string;
  /** The watched key, as configured (not hashed: it is config, not caller data). */
  readonly key: string;
  /** Level / capacity in this region's replica, 0..1 (below 0 after over-admission); null when unread. */
  readonly levelRatio: number | null;
  /** Max − min level across the replicas that answered (tokens); null when fewer than one answered. */
  readonly divergenceTokens: number | null;
  /** How many replicas answered. */
  readonly replicas: number;
}

/** What one reconciler run found, as `GET /health` reports it. */
export interface ReconcilerStatus {
  /** The region whose reconciler measured (and whose replica holds its heartbeat). */
  readonly region: string;
  /** When the run started (epoch ms). */
  readonly measuredAtMs: number;
  /** How long the run took (ms). */
  readonly durationMs: number;
  /**
   * Replication lag from this region to each other region (ms): how long this
   * run's heartbeat took to appear in that region's replica. `null` when it
   * did not appear within the wait or the replica could not be read.
   */
  readonly lagMs: Readonly<Record<string, number | null>>;
  /**
   * Age of each other region's newest heartbeat as seen in this region's
   * replica (ms); `null` when none was ever seen. A large age means that
   * region stopped writing or stopped replicating here.
   */
  readonly heartbeatAgeMs: Readonly<Record<string, number | null>>;
  /** Watched buckets, in config order. */
  readonly watched: readonly WatchedBucketStatus[];
  /** Store calls that failed during the run. */
  readonly errorCount: number;
}

/** Reading or decoding the status item failed; `cause` carries the SDK or decode error. */
export class ReconcilerStatusError extends Error {
  override readonly name = 'ReconcilerStatusError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Options of {@link readReconcilerStatus} and {@link writeReconcilerStatus}. */
export interface StatusCallOptions {
  /** Aborts the call (time budget). */
  readonly abortSignal?: AbortSignal;
}

/**
 * Reads the status item of `region` from the replica `client` talks to.
 *
 * @returns the status, or `undefined` when that region's reconciler never ran
 *   (or its item expired).
 * @throws {@link ReconcilerStatusError} when the call fails or the item is malformed.
 */
export async function readReconcilerStatus(
  client: DynamoDBClient,
  tableName: string,
  region: string,
  options: StatusCallOptions = {},
): Promise<ReconcilerStatus | undefined> {
  let item: Record<string, AttributeValue> | undefined;
  try {
    const out = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: RECONCILER_STATUS_PK }, sk: { S: region } },
      }),
      { abortSignal: options.abortSignal },
    );
    item = out.Item;
  } catch (error) {
    throw new ReconcilerStatusError(`reading the reconciler status of ${region} failed`, {
      cause: error,
    });
  }
  return item === undefined ? undefined : decodeReconcilerStatus(item);
}

/** Writes (replaces) the status item of `status.region`. */
export async function writeReconcilerStatus(
  client: DynamoDBClient,
  tableName: string,
  status: ReconcilerStatus,
  options: StatusCallOptions = {},
): Promise<void> {
  await client.send(
    new PutItemCommand({ TableName: tableName, Item: encodeReconcilerStatus(status) }),
    { abortSignal: options.abortSignal },
  );
}

/** Whether a status is older than `maxAgeMs` at `nowMs` (the reconciler stopped running). */
export function isReconcilerStatusStale(
  status: ReconcilerStatus,
  nowMs: number,
  maxAgeMs: number,
): boolean {
  return nowMs - status.measuredAtMs > maxAgeMs;
}

/** The DynamoDB item of a status. */
export function encodeReconcilerStatus(status: ReconcilerStatus): Record<string, AttributeValue> {
  return {
    pk: { S: RECONCILER_STATUS_PK },
    sk: { S: status.region },
    sv: num(RECONCILER_STATUS_VERSION),
    measuredAtMs: num(status.measuredAtMs),
    durationMs: num(status.durationMs),
    lagMs: { M: nullableMap(status.lagMs) },
    heartbeatAgeMs: { M: nullableMap(status.heartbeatAgeMs) },
    watched: {
      L: status.watched.map((w) => ({
        M: {
          policy: { S: w.policy },
          key: { S: w.key },
          levelRatio: nullableNum(w.levelRatio),
          divergenceTokens: nullableNum(w.divergenceTokens),
          replicas: num(w.replicas),
        },
      })),
    },
    errorCount: num(status.errorCount),
    ttl: num(Math.ceil(status.measuredAtMs / 1000) + RECONCILER_STATUS_TTL_SECONDS),
  };
}

/**
 * Decodes a status item.
 *
 * @throws {@link ReconcilerStatusError} naming the first malformed attribute.
 */
export function decodeReconcilerStatus(item: Record<string, AttributeValue>): ReconcilerStatus {
  try {
    const version = readNum(item, 'sv');
    if (version !== RECONCILER_STATUS_VERSION) {
      throw new TypeError(`sv is ${version}, expected ${RECONCILER_STATUS_VERSION}`);
    }
    return {
      region: readStr(item, 'sk'),
      measuredAtMs: readNum(item, 'measuredAtMs'),
      durationMs: readNum(item, 'durationMs'),
      lagMs: readNullableMap(item, 'lagMs'),
      heartbeatAgeMs: readNullableMap(item, 'heartbeatAgeMs'),
      watched: readList(item, 'watched').map((entry, i) => {
        const m = entry.M;
        if (m === undefined) throw new TypeError(`watched[${i}] is not a map`);
        return {
          policy: readStr(m, 'policy'),
          key: readStr(m, 'key'),
          levelRatio: readNullableNum(m, 'levelRatio'),
          divergenceTokens: readNullableNum(m, 'divergenceTokens'),
          replicas: readNum(m, 'replicas'),
        };
      }),
      errorCount: readNum(item, 'errorCount'),
    };
  } catch (error) {
    throw new ReconcilerStatusError('malformed reconciler status item', { cause: error });
  }
}

function num(value: number): AttributeValue {
  if (!Number.isFinite(value)) throw new RangeError(`cannot store non-finite number ${value}`);
  return { N: String(value) };
}

function nullableNum(value: number | null): AttributeValue {
  return value === null ? { NULL: true } : num(value);
}

function nullableMap(
  values: Readonly<Record<string, number | null>>,
): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(values)) out[k] = nullableNum(v);
  return out;
}

function readStr(item: Record<string, AttributeValue>, name: string): string {
  const value = item[name]?.S;
  if (value === undefined) throw new TypeError(`${name} is not a string`);
  return value;
}

function readNum(item: Record<string, AttributeValue>, name: string): number {
  const value = Number(item[name]?.N);
  if (item[name]?.N === undefined || !Number.isFinite(value)) {
    throw new TypeError(`${name} is not a number`);
  }
  return value;
}

function readNullableNum(item: Record<string, AttributeValue>, name: string): number | null {
  return item[name]?.NULL === true ? null : readNum(item, name);
}

function readNullableMap(
  item: Record<string, AttributeValue>,
  name: string,
): Record<string, number | null> {
  const m = item[name]?.M;
  if (m === undefined) throw new TypeError(`${name} is not a map`);
  const out: Record<string, number | null> = {};
  for (const k of Object.keys(m)) out[k] = readNullableNum(m, k);
  return out;
}

function readList(item: Record<string, AttributeValue>, name: string): AttributeValue[] {
  const l = item[name]?.L;
  if (l === undefined) throw new TypeError(`${name} is not a list`);
  return l;
}
