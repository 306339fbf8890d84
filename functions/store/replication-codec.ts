/**
 * The codec of the reconciler's bookkeeping items in the bucket table: the
 * heartbeat and the status item (replication-store.ts says what they are for).
 *
 * Both partition keys start with `__`, which no bucket id can (policy ids are
 * `[a-z0-9-]`), so they never meet a slot item. Decoding is strict: a missing
 * or malformed attribute is a {@link ReplicationCodecError} naming it, never
 * an invented value; encoding refuses what decoding would refuse, so nothing
 * unreadable is ever written.
 *
 * Heartbeat, one item per region:
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | {@link HEARTBEAT_PK} |
 * | `sk` | S | the writing region |
 * | `at` | N | write time (epoch ms, the writer's clock) |
 * | `seq` | N | sequence, +1 per write (`ADD`) |
 * | `ttl` | N | epoch seconds, {@link HEARTBEAT_TTL_SECONDS} after `at` |
 *
 * Status item, one per region:
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | {@link RECONCILER_STATUS_PK} |
 * | `sk` | S | the region that measured |
 * | `sv` | N | shape version ({@link RECONCILER_STATUS_VERSION}) |
 * | `measuredAtMs` | N | start of the run (epoch ms) |
 * | `durationMs` | N | how long the run took |
 * | `lagMs` | M | other region → N (ms) or NULL (heartbeat not seen within the wait) |
 * | `heartbeatAgeMs` | M | other region → N (ms) or NULL (never seen here) |
 * | `watched` | L of M | `{ policy S, key S, levelRatio N/NULL, divergenceTokens N/NULL, replicas N }` |
 * | `errorCount` | N | store calls that failed during the run |
 * | `ttl` | N | epoch seconds, {@link RECONCILER_STATUS_TTL_SECONDS} after `measuredAtMs` |
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { Heartbeat, ReconcilerStatus } from '../shared/replication-status';
import type { AttributeMap } from './codec';
import { HEARTBEAT_TTL_SECONDS, RECONCILER_STATUS_TTL_SECONDS } from './replication-store';

/** Partition key of every heartbeat item. */
export const HEARTBEAT_PK = '__heartbeat__';

/** Partition key of every reconciler status item. */
export const RECONCILER_STATUS_PK = '__reconciler__';

/** Version of the status item's shape; bumped on an incompatible change. */
export const RECONCILER_STATUS_VERSION = 1;

/** A heartbeat or status item (or a value for one) that is not well formed. */
export class ReplicationCodecError extends Error {
  override readonly name = 'ReplicationCodecError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The key of `region`'s heartbeat item. */
export function heartbeatKey(region: string): AttributeMap {
  return { pk: { S: HEARTBEAT_PK }, sk: { S: region } };
}

/** The key of `region`'s status item. */
export function reconcilerStatusKey(region: string): AttributeMap {
  return { pk: { S: RECONCILER_STATUS_PK }, sk: { S: region } };
}

/**
 * The expiry (epoch seconds) of a heartbeat written at `atMs`.
 *
 * @throws {@link ReplicationCodecError} when `atMs` is not a safe integer (it could not be read back)
 */
export function heartbeatTtlOf(atMs: number): number {
  if (!Number.isSafeInteger(atMs)) {
    throw new ReplicationCodecError(`heartbeat time must be a safe integer (got ${atMs})`);
  }
  return Math.ceil(atMs / 1000) + HEARTBEAT_TTL_SECONDS;
}

/**
 * Decodes a heartbeat item.
 *
 * @throws {@link ReplicationCodecError} when `sk`, `at` or `seq` is missing or malformed.
 */
export function decodeHeartbeat(item: AttributeMap): Heartbeat {
  const region = item.sk?.S;
  const atMs = Number(item.at?.N);
  const seq = Number(item.seq?.N);
  if (region === undefined || !Number.isSafeInteger(atMs) || !Number.isSafeInteger(seq)) {
    throw new ReplicationCodecError(
      `malformed heartbeat item: sk=${JSON.stringify(item.sk)} at=${JSON.stringify(item.at)} seq=${JSON.stringify(item.seq)}`,
    );
  }
  return { region, atMs, seq };
}

/**
 * The item of a status.
 *
 * @throws {@link ReplicationCodecError} naming the first number that is not finite.
 */
export function encodeReconcilerStatus(status: ReconcilerStatus): AttributeMap {
  return {
    ...reconcilerStatusKey(status.region),
    sv: num(RECONCILER_STATUS_VERSION, 'sv'),
    measuredAtMs: num(status.measuredAtMs, 'measuredAtMs'),
    durationMs: num(status.durationMs, 'durationMs'),
    lagMs: { M: nullableMap(status.lagMs, 'lagMs') },
    heartbeatAgeMs: { M: nullableMap(status.heartbeatAgeMs, 'heartbeatAgeMs') },
    watched: {
      L: status.watched.map((w, i) => ({
        M: {
          policy: { S: w.policy },
          key: { S: w.key },
          levelRatio: nullableNum(w.levelRatio, `watched[${i}].levelRatio`),
          divergenceTokens: nullableNum(w.divergenceTokens, `watched[${i}].divergenceTokens`),
          replicas: num(w.replicas, `watched[${i}].replicas`),
        },
      })),
    },
    errorCount: num(status.errorCount, 'errorCount'),
    ttl: num(
      Math.ceil(status.measuredAtMs / 1000) + RECONCILER_STATUS_TTL_SECONDS,
      'ttl (from measuredAtMs)',
    ),
  };
}

/**
 * Decodes a status item.
 *
 * @throws {@link ReplicationCodecError} naming the first malformed attribute,
 *   or the shape version when it is not {@link RECONCILER_STATUS_VERSION}.
 */
export function decodeReconcilerStatus(item: AttributeMap): ReconcilerStatus {
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
    throw new ReplicationCodecError(
      `malformed reconciler status item: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

function num(value: number, name: string): AttributeValue {
  if (!Number.isFinite(value)) {
    throw new ReplicationCodecError(`cannot store ${name}: ${value} is not a finite number`);
  }
  return { N: String(value) };
}

function nullableNum(value: number | null, name: string): AttributeValue {
  return value === null ? { NULL: true } : num(value, name);
}

function nullableMap(
  values: Readonly<Record<string, number | null>>,
  name: string,
): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(values)) out[k] = nullableNum(v, `${name}.${k}`);
  return out;
}

function readStr(item: AttributeMap, name: string): string {
  const value = item[name]?.S;
  if (value === undefined) throw new TypeError(`${name} is not a string`);
  return value;
}

function readNum(item: AttributeMap, name: string): number {
  const value = Number(item[name]?.N);
  if (item[name]?.N === undefined || !Number.isFinite(value)) {
    throw new TypeError(`${name} is not a number`);
  }
  return value;
}

function readNullableNum(item: AttributeMap, name: string): number | null {
  return item[name]?.NULL === true ? null : readNum(item, name);
}

function readNullableMap(item: AttributeMap, name: string): Record<string, number | null> {
  const m = item[name]?.M;
  if (m === undefined) throw new TypeError(`${name} is not a map`);
  const out: Record<string, number | null> = {};
  for (const k of Object.keys(m)) out[k] = readNullableNum(m, k);
  return out;
}

function readList(item: AttributeMap, name: string): AttributeValue[] {
  const l = item[name]?.L;
  if (l === undefined) throw new TypeError(`${name} is not a list`);
  return l;
}
