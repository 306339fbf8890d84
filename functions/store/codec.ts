/**
 * The codec between slot items and DynamoDB attribute maps (docs/design.md, "Data model").
 *
 * Why a hand-written codec rather than the document client: the item is tiny
 * and fixed, short attribute names keep it far below 1 KB (one write unit),
 * and decoding is strict: a number that is not a safe integer, a missing
 * field or a malformed checkpoint is a {@link CodecError}, never a silently
 * invented value (an invented `n` could raise a bucket's level).
 *
 * Layout, one item per (bucket, slot):
 *
 * | attr | type | meaning |
 * |---|---|---|
 * | `pk` | S | bucket id |
 * | `sk` | S | slot id |
 * | `n`, `v`, `inc`, `at` | N | net tokens, version, incarnation (ms), last write (ms) |
 * | `ct`, `cl` | N | checkpoint time (ms) and level (scaled units) |
 * | `cv` | M | checkpoint view: slot → L [N n, N inc] |
 * | `tk` | N | tokens takes added after the checkpoint (absent: 0) |
 * | `ttl` | N | expiry, epoch seconds |
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { Checkpoint, SeenCount, SlotItem } from '../core';

/** Attribute names, as stored. */
export const ATTR = {
  pk: 'pk',
  sk: 'sk',
  n: 'n',
  v: 'v',
  inc: 'inc',
  at: 'at',
  ct: 'ct',
  cl: 'cl',
  cv: 'cv',
  tk: 'tk',
  ttl: 'ttl',
} as const;

/** A DynamoDB item as the low-level client returns it. */
export type AttributeMap = Record<string, AttributeValue>;

/** An item that is not a well-formed slot item. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `{ N: "<int>" }` for a safe integer. */
export function encodeNumber(value: number): AttributeValue {
  if (!Number.isSafeInteger(value)) throw new CodecError(`not a safe integer: ${value}`);
  return { N: String(value) };
}

/** The attribute map of a checkpoint view (`cv`). */
export function encodeSeenCounts(cv: Readonly<Record<string, SeenCount>>): AttributeValue {
  const m: AttributeMap = {};
  for (const [slot, seen] of Object.entries(cv)) {
    m[slot] = { L: [encodeNumber(seen.n), encodeNumber(seen.inc)] };
  }
  return { M: m };
}

/**
 * A whole item, as a full `PutItem` would store it (tests, seeding, the
 * reconciler's readers). Hot-path writes use `UpdateItem` instead.
 */
export function encodeItem(
  bucketId: string,
  item: SlotItem,
  ttlEpochSeconds?: number,
): AttributeMap {
  const out: AttributeMap = {
    [ATTR.pk]: { S: bucketId },
    [ATTR.sk]: { S: item.slot },
    [ATTR.n]: encodeNumber(item.n),
    [ATTR.v]: encodeNumber(item.v),
    [ATTR.inc]: encodeNumber(item.inc),
    [ATTR.at]: encodeNumber(item.at),
  };
  if (item.checkpoint !== undefined) {
    out[ATTR.ct] = encodeNumber(item.checkpoint.ct);
    out[ATTR.cl] = encodeNumber(item.checkpoint.cl);
    out[ATTR.cv] = encodeSeenCounts(item.checkpoint.cv);
  }
  if (item.tk !== undefined && item.tk > 0) out[ATTR.tk] = encodeNumber(item.tk);
  const ttl = ttlEpochSeconds ?? item.ttl;
  if (ttl !== undefined) out[ATTR.ttl] = encodeNumber(ttl);
  return out;
}

/** A safe integer from `{ N }`. @throws {@link CodecError} when missing or not a safe integer. */
export function decodeNumber(value: AttributeValue | undefined, name: string): number {
  if (value === undefined || value.N === undefined)
    throw new CodecError(`attribute ${name} is missing or not a number`);
  const parsed = Number(value.N);
  if (!Number.isSafeInteger(parsed))
    throw new CodecError(`attribute ${name} is not a safe integer: ${value.N}`);
  return parsed;
}

function decodeSeenCounts(value: AttributeValue | undefined): Record<string, SeenCount> {
  if (value === undefined || value.M === undefined)
    throw new CodecError(`attribute ${ATTR.cv} is missing or not a map`);
  const cv: Record<string, SeenCount> = {};
  const entries = value.M;
  for (const slot in entries) {
    if (!Object.hasOwn(entries, slot)) continue;
    const pair = entries[slot]!.L;
    if (pair === undefined || pair.length !== 2) {
      throw new CodecError(`${ATTR.cv}.${slot} must be a list [n, inc]`);
    }
    cv[slot] = {
      n: decodeNumber(pair[0], `${ATTR.cv}.${slot}[0]`),
      inc: decodeNumber(pair[1], `${ATTR.cv}.${slot}[1]`),
    };
  }
  return cv;
}

/**
 * Decodes one stored item. A checkpoint is all-or-nothing: `ct`, `cl` and `cv`
 * together, or none of them.
 *
 * @throws {@link CodecError} when the item is malformed.
 */
export function decodeItem(attrs: AttributeMap): SlotItem {
  const slot = attrs[ATTR.sk]?.S;
  if (slot === undefined || slot.length === 0)
    throw new CodecError(`attribute ${ATTR.sk} is missing or not a string`);
  const hasCheckpoint =
    attrs[ATTR.ct] !== undefined || attrs[ATTR.cl] !== undefined || attrs[ATTR.cv] !== undefined;
  let checkpoint: Checkpoint | undefined;
  if (hasCheckpoint) {
    checkpoint = {
      ct: decodeNumber(attrs[ATTR.ct], ATTR.ct),
      cl: decodeNumber(attrs[ATTR.cl], ATTR.cl),
      cv: decodeSeenCounts(attrs[ATTR.cv]),
    };
  }
  const n = decodeNumber(attrs[ATTR.n], ATTR.n);
  // Built in place (no spread): the fields in the same order, the optional ones only when set.
  const item: { -readonly [K in keyof SlotItem]: SlotItem[K] } = {
    slot,
    n,
    v: decodeNumber(attrs[ATTR.v], ATTR.v),
    inc: decodeNumber(attrs[ATTR.inc], ATTR.inc),
    at: decodeNumber(attrs[ATTR.at], ATTR.at),
  };
  if (checkpoint !== undefined) item.checkpoint = checkpoint;
  if (attrs[ATTR.tk] !== undefined) {
    const tk = decodeNumber(attrs[ATTR.tk], ATTR.tk);
    // More tokens taken since the checkpoint than in all would invent a checkpoint count below 0.
    if (tk < 0 || tk > n)
      throw new CodecError(`attribute ${ATTR.tk} must be in [0, n] (got ${tk})`);
    if (tk > 0) item.tk = tk;
  }
  if (attrs[ATTR.ttl] !== undefined) item.ttl = decodeNumber(attrs[ATTR.ttl], ATTR.ttl);
  return item;
}

/** The bucket id (`pk`) of a stored item, or `undefined`. */
export function bucketIdOfItem(attrs: AttributeMap): string | undefined {
  return attrs[ATTR.pk]?.S;
}
