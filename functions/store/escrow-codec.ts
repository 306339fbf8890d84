/**
 * The codec between escrow items (core escrow.ts, docs/escrow.md) and
 * DynamoDB attribute maps, and the one conditional write that stores them.
 *
 * Why hand-written and strict, as codec.ts: the item is small and fixed, short
 * attribute names keep it small, and an invented or corrupt value would move
 * rights that the bounded counter must conserve (a `level` above `cap`, or a
 * transfer counted from nothing, would admit tokens nobody holds). So a
 * missing field, a number that is not a non-negative safe integer, a
 * malformed transfer or a broken documented bound is a {@link CodecError},
 * on the way in (nothing corrupt is ever written) and on the way out.
 *
 * Layout, one item per (bucket, region), beside the bucket's slot items:
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | bucket id |
 * | `sk` | S | `e#<region>` ({@link escrowSortKey}); the item's region is what follows the prefix |
 * | `v` | N | version (+1 on every write; the write's condition) |
 * | `at` | N | time of the level (ms) |
 * | `lv` | N | level at `at` (scaled units, `0 ≤ lv ≤ cap`) |
 * | `rem` | N | refill accrued below one unit (`0 ≤ rem < ESCROW_RATE_PARTS`) |
 * | `cap` | N | capacity right (scaled units) |
 * | `rt` | N | refill right (parts of `ESCROW_RATE_PARTS`) |
 * | `n` | N | tokens consumed |
 * | `g` | M | given: receiver region → L [N tokens, N cap, N rate] (`tokens ≤ cap`) |
 * | `r` | M | counted: giver region → L [N tokens, N cap, N rate] (`tokens ≤ cap`) |
 * | `dm` | N | published demand (milli-tokens per second) |
 * | `ttl` | N | expiry, epoch seconds (absent: never expires) |
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ESCROW_RATE_PARTS, type EscrowItem, type EscrowTransfer } from '../core';
import { ATTR, type AttributeMap, CodecError, decodeNumber } from './codec';
import type { UpdateItemRequest } from './transport';
import type { EscrowAsk } from './types';

/** Prefix of every escrow item's sort key: no slot id starts with it. */
export const ESCROW_SORT_KEY_PREFIX = 'e#';

/** Attribute names of an escrow item, as stored. */
export const ESCROW_ATTR = {
  pk: ATTR.pk,
  sk: ATTR.sk,
  v: 'v',
  at: 'at',
  level: 'lv',
  rem: 'rem',
  cap: 'cap',
  rate: 'rt',
  n: 'n',
  given: 'g',
  recv: 'r',
  dm: 'dm',
  ttl: ATTR.ttl,
} as const;

/** The numeric fields of an item, in the order they are stored. */
const NUMBER_FIELDS = ['v', 'at', 'level', 'rem', 'cap', 'rate', 'n', 'dm'] as const;

/** The sort key of `region`'s escrow item. */
export function escrowSortKey(region: string): string {
  return `${ESCROW_SORT_KEY_PREFIX}${region}`;
}

/**
 * The region of an escrow sort key.
 *
 * @throws {@link CodecError} when `sk` lacks the prefix or names no region.
 */
export function regionOfEscrowSortKey(sk: string): string {
  if (!sk.startsWith(ESCROW_SORT_KEY_PREFIX)) {
    throw new CodecError(`sort key ${sk} is not an escrow key (no ${ESCROW_SORT_KEY_PREFIX})`);
  }
  const region = sk.slice(ESCROW_SORT_KEY_PREFIX.length);
  if (region.length === 0) throw new CodecError(`sort key ${sk} names no region`);
  return region;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function transferProblems(
  where: string,
  transfers: Readonly<Record<string, EscrowTransfer>> | undefined,
): string[] {
  if (typeof transfers !== 'object' || transfers === null) return [`${where} must be a map`];
  const problems: string[] = [];
  for (const [region, t] of Object.entries(transfers)) {
    const at = `${where}.${region}`;
    if (region.length === 0) problems.push(`${where} has an empty region`);
    if (typeof t !== 'object' || t === null) {
      problems.push(`${at} must be a transfer {tokens, cap, rate}`);
      continue;
    }
    for (const field of ['tokens', 'cap', 'rate'] as const) {
      if (!isCount(t[field]))
        problems.push(`${at}.${field} must be a non-negative safe integer (got ${t[field]})`);
    }
    if (isCount(t.tokens) && isCount(t.cap) && t.tokens > t.cap)
      problems.push(`${at}.tokens (${t.tokens}) must not exceed its cap (${t.cap})`);
  }
  return problems;
}

/**
 * Every problem of an item that must not be stored or believed (empty when it
 * is well formed): each number a non-negative safe integer, `level ≤ cap`,
 * `rem < ESCROW_RATE_PARTS`, every transfer's `tokens ≤ cap`.
 */
export function escrowItemProblems(item: EscrowItem): string[] {
  const problems: string[] = [];
  if (typeof item.region !== 'string' || item.region.length === 0)
    problems.push('region must be a non-empty string');
  for (const field of NUMBER_FIELDS) {
    if (!isCount(item[field]))
      problems.push(`${field} must be a non-negative safe integer (got ${item[field]})`);
  }
  if (isCount(item.level) && isCount(item.cap) && item.level > item.cap)
    problems.push(`level (${item.level}) must not exceed cap (${item.cap})`);
  if (isCount(item.rem) && item.rem >= ESCROW_RATE_PARTS)
    problems.push(`rem (${item.rem}) must be below ${ESCROW_RATE_PARTS}`);
  problems.push(...transferProblems('given', item.given), ...transferProblems('recv', item.recv));
  return problems;
}

function checkedItem(item: EscrowItem): EscrowItem {
  const problems = escrowItemProblems(item);
  if (problems.length > 0) {
    throw new CodecError(`malformed escrow item of ${item.region}: ${problems.join('; ')}`);
  }
  return item;
}

function checkedTtl(ttl: number | undefined): number | undefined {
  if (ttl !== undefined && !isCount(ttl))
    throw new CodecError(`ttl must be a non-negative safe integer (got ${ttl})`);
  return ttl;
}

function num(value: number): AttributeValue {
  return { N: String(value) };
}

function encodeTransfers(transfers: Readonly<Record<string, EscrowTransfer>>): AttributeValue {
  // fromEntries, not assignment: a region named `__proto__` stays an entry of the map.
  return {
    M: Object.fromEntries(
      Object.entries(transfers).map(([region, t]) => [
        region,
        { L: [num(t.tokens), num(t.cap), num(t.rate)] },
      ]),
    ),
  };
}

/** The stored attributes of an item's fields (no key, no ttl), by attribute name. */
function fieldsOf(item: EscrowItem): AttributeMap {
  return {
    [ESCROW_ATTR.v]: num(item.v),
    [ESCROW_ATTR.at]: num(item.at),
    [ESCROW_ATTR.level]: num(item.level),
    [ESCROW_ATTR.rem]: num(item.rem),
    [ESCROW_ATTR.cap]: num(item.cap),
    [ESCROW_ATTR.rate]: num(item.rate),
    [ESCROW_ATTR.n]: num(item.n),
    [ESCROW_ATTR.given]: encodeTransfers(item.given),
    [ESCROW_ATTR.recv]: encodeTransfers(item.recv),
    [ESCROW_ATTR.dm]: num(item.dm),
  };
}

/**
 * A whole escrow item, as a full `PutItem` would store it (tests, seeding, a
 * reader's fixtures); writes go through {@link escrowUpdateInputOf}.
 *
 * @throws {@link CodecError} listing every problem of a malformed item or ttl.
 */
export function encodeEscrowItem(
  bucketId: string,
  item: EscrowItem,
  ttlEpochSeconds?: number,
): AttributeMap {
  checkedItem(item);
  const ttl = checkedTtl(ttlEpochSeconds);
  return {
    [ESCROW_ATTR.pk]: { S: bucketId },
    [ESCROW_ATTR.sk]: { S: escrowSortKey(item.region) },
    ...fieldsOf(item),
    ...(ttl === undefined ? {} : { [ESCROW_ATTR.ttl]: num(ttl) }),
  };
}

function decodeTransfers(
  value: AttributeValue | undefined,
  name: string,
): Record<string, EscrowTransfer> {
  if (value === undefined || value.M === undefined)
    throw new CodecError(`attribute ${name} is missing or not a map`);
  const entries: [string, EscrowTransfer][] = [];
  for (const [region, entry] of Object.entries(value.M)) {
    const list = entry.L;
    if (list === undefined || list.length !== 3)
      throw new CodecError(`${name}.${region} must be a list [tokens, cap, rate]`);
    entries.push([
      region,
      {
        tokens: decodeNumber(list[0], `${name}.${region}[0]`),
        cap: decodeNumber(list[1], `${name}.${region}[1]`),
        rate: decodeNumber(list[2], `${name}.${region}[2]`),
      },
    ]);
  }
  // fromEntries: every region an own property, whatever its name.
  return Object.fromEntries(entries);
}

/**
 * Decodes one stored escrow item; its region is the sort key's. A `ttl`, when
 * present, must be well formed too, but is not part of the item.
 *
 * @throws {@link CodecError} when the item is malformed.
 */
export function decodeEscrowItem(attrs: AttributeMap): EscrowItem {
  const sk = attrs[ESCROW_ATTR.sk]?.S;
  if (sk === undefined)
    throw new CodecError(`attribute ${ESCROW_ATTR.sk} is missing or not a string`);
  const item: EscrowItem = {
    region: regionOfEscrowSortKey(sk),
    v: decodeNumber(attrs[ESCROW_ATTR.v], ESCROW_ATTR.v),
    at: decodeNumber(attrs[ESCROW_ATTR.at], ESCROW_ATTR.at),
    level: decodeNumber(attrs[ESCROW_ATTR.level], ESCROW_ATTR.level),
    rem: decodeNumber(attrs[ESCROW_ATTR.rem], ESCROW_ATTR.rem),
    cap: decodeNumber(attrs[ESCROW_ATTR.cap], ESCROW_ATTR.cap),
    rate: decodeNumber(attrs[ESCROW_ATTR.rate], ESCROW_ATTR.rate),
    n: decodeNumber(attrs[ESCROW_ATTR.n], ESCROW_ATTR.n),
    given: decodeTransfers(attrs[ESCROW_ATTR.given], ESCROW_ATTR.given),
    recv: decodeTransfers(attrs[ESCROW_ATTR.recv], ESCROW_ATTR.recv),
    dm: decodeNumber(attrs[ESCROW_ATTR.dm], ESCROW_ATTR.dm),
  };
  if (attrs[ESCROW_ATTR.ttl] !== undefined) {
    checkedTtl(decodeNumber(attrs[ESCROW_ATTR.ttl], ESCROW_ATTR.ttl));
  }
  return checkedItem(item);
}

/**
 * The UpdateItem input of one escrow write (exported for tests and for
 * reading the exact shape that reaches DynamoDB): every field SET (a write
 * replaces the whole item: the region is its only writer), `ttl` SET or
 * REMOVEd, on the condition that the stored version is `item.v - 1`, no item
 * counting as version 0:
 *
 *     SET v = :v, at = :at, lv = :lv, ... [, ttl = :ttl]   [REMOVE ttl]
 *     IF v = :prev            (item.v > 1)
 *     IF attribute_not_exists(v)   (item.v = 1)
 *
 * @throws {@link CodecError} listing every problem of a malformed item, a
 *   version that is not a positive safe integer, or a malformed ttl.
 */
export function escrowUpdateInputOf(
  tableName: string,
  bucketId: string,
  item: EscrowItem,
  ttlEpochSeconds?: number,
): UpdateItemRequest {
  const problems = escrowItemProblems(item);
  if (isCount(item.v) && item.v === 0) problems.push('v must be positive: a write stores v ≥ 1');
  if (ttlEpochSeconds !== undefined && !isCount(ttlEpochSeconds))
    problems.push(`ttl must be a non-negative safe integer (got ${ttlEpochSeconds})`);
  if (problems.length > 0) {
    throw new CodecError(`refusing to write escrow item of ${item.region}: ${problems.join('; ')}`);
  }
  const names: Record<string, string> = {};
  const values: AttributeMap = {};
  const sets: string[] = [];
  for (const [attr, value] of Object.entries(fieldsOf(item))) {
    names[`#${attr}`] = attr;
    values[`:${attr}`] = value;
    sets.push(`#${attr} = :${attr}`);
  }
  names[`#${ESCROW_ATTR.ttl}`] = ESCROW_ATTR.ttl;
  let update = `SET ${sets.join(', ')}`;
  if (ttlEpochSeconds === undefined) {
    update += ` REMOVE #${ESCROW_ATTR.ttl}`;
  } else {
    update += `, #${ESCROW_ATTR.ttl} = :${ESCROW_ATTR.ttl}`;
    values[`:${ESCROW_ATTR.ttl}`] = num(ttlEpochSeconds);
  }
  let condition: string;
  if (item.v === 1) {
    condition = `attribute_not_exists(#${ESCROW_ATTR.v})`;
  } else {
    condition = `#${ESCROW_ATTR.v} = :prev`;
    values[':prev'] = num(item.v - 1);
  }
  return {
    TableName: tableName,
    Key: { [ESCROW_ATTR.pk]: { S: bucketId }, [ESCROW_ATTR.sk]: { S: escrowSortKey(item.region) } },
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValues: 'NONE',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/**
 * Asks (docs/escrow.md, "Idle regions"): one item per (bucket, asking
 * region) in one partition every region's reconciler reads.
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | {@link ESCROW_ASKS_PK} |
 * | `sk` | S | `<bucket id>|<region>` |
 * | `c`, `rf`, `ri` | N | capacity, refill tokens, refill interval (ms) |
 * | `end` | N | a quota period's end (ms), absent for a token bucket |
 * | `at` | N | when it asked (ms) |
 * | `ttl` | N | expiry, epoch seconds |
 */
export const ESCROW_ASKS_PK = '#escrow-asks';

function askNumber(attrs: AttributeMap, name: string, positive: boolean): number {
  const raw = attrs[name]?.N;
  const value = raw === undefined ? Number.NaN : Number(raw);
  if (!Number.isSafeInteger(value) || value < (positive ? 1 : 0)) {
    throw new CodecError(
      `escrow ask: ${name} is not a ${positive ? 'positive' : 'non-negative'} integer (${raw})`,
    );
  }
  return value;
}

/** The attribute map of an ask. @throws {@link CodecError} for a field out of range. */
export function encodeEscrowAsk(ask: EscrowAsk, ttlEpochSeconds: number): AttributeMap {
  const problems: string[] = [];
  if (ask.bucketId.length === 0 || ask.region.length === 0 || ask.region.includes('|')) {
    problems.push('bucket id and region must be non-empty, the region without "|"');
  }
  for (const [name, value, min] of [
    ['capacityTokens', ask.capacityTokens, 1],
    ['refillTokens', ask.refillTokens, 0],
    ['refillIntervalMs', ask.refillIntervalMs, 1],
    ['atMs', ask.atMs, 0],
    ['ttl', ttlEpochSeconds, 1],
    ...(ask.endsAtMs === undefined ? [] : [['endsAtMs', ask.endsAtMs, 0] as const]),
  ] as const) {
    if (!Number.isSafeInteger(value) || value < min)
      problems.push(`${name} must be an integer ≥ ${min} (got ${value})`);
  }
  if (problems.length > 0) throw new CodecError(`escrow ask: ${problems.join('; ')}`);
  return {
    [ATTR.pk]: { S: ESCROW_ASKS_PK },
    [ATTR.sk]: { S: `${ask.bucketId}|${ask.region}` },
    c: { N: String(ask.capacityTokens) },
    rf: { N: String(ask.refillTokens) },
    ri: { N: String(ask.refillIntervalMs) },
    ...(ask.endsAtMs === undefined ? {} : { end: { N: String(ask.endsAtMs) } }),
    at: { N: String(ask.atMs) },
    [ATTR.ttl]: { N: String(ttlEpochSeconds) },
  };
}

/** An ask from its attribute map. @throws {@link CodecError} when malformed. */
export function decodeEscrowAsk(attrs: AttributeMap): EscrowAsk {
  const sk = attrs[ATTR.sk]?.S ?? '';
  const bar = sk.lastIndexOf('|');
  if (attrs[ATTR.pk]?.S !== ESCROW_ASKS_PK || bar <= 0 || bar === sk.length - 1) {
    throw new CodecError(`escrow ask: malformed key ${JSON.stringify(sk)}`);
  }
  return {
    bucketId: sk.slice(0, bar),
    region: sk.slice(bar + 1),
    capacityTokens: askNumber(attrs, 'c', true),
    refillTokens: askNumber(attrs, 'rf', false),
    refillIntervalMs: askNumber(attrs, 'ri', true),
    ...(attrs.end === undefined ? {} : { endsAtMs: askNumber(attrs, 'end', false) }),
    atMs: askNumber(attrs, 'at', false),
  };
}

/** The UpdateItem input storing an ask (unconditional: the newest ask of a region wins). */
export function escrowAskInputOf(
  table: string,
  ask: EscrowAsk,
  ttlEpochSeconds: number,
): UpdateItemRequest {
  const { pk, sk, ...fields } = encodeEscrowAsk(ask, ttlEpochSeconds);
  const names: Record<string, string> = {};
  const values: AttributeMap = {};
  const sets: string[] = [];
  for (const [name, value] of Object.entries(fields)) {
    names[`#${name}`] = name;
    values[`:${name}`] = value as AttributeValue;
    sets.push(`#${name} = :${name}`);
  }
  const removes = ask.endsAtMs === undefined ? ' REMOVE #end' : '';
  if (ask.endsAtMs === undefined) names['#end'] = 'end';
  return {
    TableName: table,
    Key: { [ATTR.pk]: pk as AttributeValue, [ATTR.sk]: sk as AttributeValue },
    UpdateExpression: `SET ${sets.join(', ')}${removes}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}
