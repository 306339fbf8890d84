/** The escrow-item codec: lossless round trips, strict refusal of malformed items, the write's shape. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ESCROW_RATE_PARTS, type EscrowItem, type EscrowTransfer } from '../../functions/core';
import { CodecError } from '../../functions/store/codec';
import {
  decodeEscrowAsk,
  decodeEscrowItem,
  ESCROW_SORT_KEY_PREFIX,
  encodeEscrowAsk,
  encodeEscrowItem,
  escrowItemProblems,
  escrowSortKey,
  escrowUpdateInputOf,
  regionOfEscrowSortKey,
} from '../../functions/store/escrow-codec';

const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const region = fc.oneof(
  fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-1', 'e#odd', '__proto__'),
  fc.string({ minLength: 1, maxLength: 12 }),
);
const transfer: fc.Arbitrary<EscrowTransfer> = fc
  .record({ cap: count, rate: count, share: fc.double({ min: 0, max: 1, noNaN: true }) })
  .map(({ cap, rate, share }) => ({ tokens: Math.floor(cap * share), cap, rate }));
// Object.fromEntries: an arbitrary region name (even `__proto__`) is an own key, as decoding gives.
const transfers = fc
  .array(fc.tuple(region, transfer), { maxLength: 5 })
  .map((entries) => Object.fromEntries(entries) as Record<string, EscrowTransfer>);
const item: fc.Arbitrary<EscrowItem> = fc
  .record({
    region,
    v: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    at: count,
    cap: count,
    fill: fc.double({ min: 0, max: 1, noNaN: true }),
    rem: fc.nat({ max: ESCROW_RATE_PARTS - 1 }),
    rate: count,
    n: count,
    given: transfers,
    recv: transfers,
    dm: count,
  })
  .map(({ fill, ...rest }) => ({ ...rest, level: Math.floor(rest.cap * fill) }));

const VALID: EscrowItem = {
  region: 'eu-west-1',
  v: 3,
  at: 1_700_000_000_000,
  level: 500,
  rem: 7,
  cap: 1000,
  rate: 333_334,
  n: 12,
  given: { 'us-east-1': { tokens: 10, cap: 20, rate: 30 } },
  recv: { 'ap-southeast-1': { tokens: 1, cap: 2, rate: 3 } },
  dm: 1500,
};

describe('escrow codec', () => {
  it('round-trips every valid escrow item exactly, with or without a ttl', () => {
    fc.assert(
      fc.property(item, fc.option(count, { nil: undefined }), (i, ttl) => {
        const attrs = encodeEscrowItem('b#1#h', i, ttl);
        expect(attrs.pk).toEqual({ S: 'b#1#h' });
        expect(attrs.sk).toEqual({ S: `e#${i.region}` });
        expect(attrs.ttl).toEqual(ttl === undefined ? undefined : { N: String(ttl) });
        expect(decodeEscrowItem(attrs)).toEqual(i);
      }),
    );
  });

  it('stores the layout of the header: short names, transfers as [tokens, cap, rate]', () => {
    expect(encodeEscrowItem('b', VALID, 99)).toEqual({
      pk: { S: 'b' },
      sk: { S: 'e#eu-west-1' },
      v: { N: '3' },
      at: { N: '1700000000000' },
      lv: { N: '500' },
      rem: { N: '7' },
      cap: { N: '1000' },
      rt: { N: '333334' },
      n: { N: '12' },
      g: { M: { 'us-east-1': { L: [{ N: '10' }, { N: '20' }, { N: '30' }] } } },
      r: { M: { 'ap-southeast-1': { L: [{ N: '1' }, { N: '2' }, { N: '3' }] } } },
      dm: { N: '1500' },
      ttl: { N: '99' },
    });
  });

  it('names the region after the prefix of the sort key, whatever it contains', () => {
    expect(ESCROW_SORT_KEY_PREFIX).toBe('e#');
    expect(escrowSortKey('us-east-1')).toBe('e#us-east-1');
    expect(regionOfEscrowSortKey('e#a#b')).toBe('a#b');
    expect(() => regionOfEscrowSortKey('us-east-1')).toThrow(CodecError);
    expect(() => regionOfEscrowSortKey('e#')).toThrow(/names no region/);
  });

  const valid = encodeEscrowItem('b', VALID);
  const broken: [string, Record<string, unknown>, RegExp][] = [
    ['missing sk', { sk: undefined }, /attribute sk/],
    ['a slot sort key (no prefix)', { sk: { S: 'eu-west-1' } }, /not an escrow key/],
    ['an empty region', { sk: { S: 'e#' } }, /names no region/],
    ['missing version', { v: undefined }, /attribute v is missing/],
    ['missing level', { lv: undefined }, /attribute lv is missing/],
    ['missing demand', { dm: undefined }, /attribute dm is missing/],
    ['missing given', { g: undefined }, /attribute g is missing or not a map/],
    ['recv not a map', { r: { L: [] } }, /attribute r is missing or not a map/],
    ['cap as a string', { cap: { S: '1000' } }, /attribute cap is missing or not a number/],
    ['n not an integer', { n: { N: '1.5' } }, /attribute n is not a safe integer/],
    ['at beyond 2^53', { at: { N: '9007199254740993' } }, /attribute at is not a safe integer/],
    ['a negative consumption', { n: { N: '-1' } }, /n must be a non-negative/],
    ['level above cap', { lv: { N: '1001' } }, /level \(1001\) must not exceed cap \(1000\)/],
    ['rem of a whole part', { rem: { N: String(ESCROW_RATE_PARTS) } }, /rem .* must be below/],
    ['a malformed ttl', { ttl: { N: '1.5' } }, /attribute ttl is not a safe integer/],
    [
      'a transfer of two numbers',
      { g: { M: { x: { L: [{ N: '1' }, { N: '2' }] } } } },
      /g\.x must be a list \[tokens, cap, rate\]/,
    ],
    ['a transfer that is no list', { g: { M: { x: { N: '1' } } } }, /g\.x must be a list/],
    [
      'a transfer with a fractional rate',
      { r: { M: { x: { L: [{ N: '1' }, { N: '2' }, { N: '0.5' }] } } } },
      /r\.x\[2\] is not a safe integer/,
    ],
    [
      'a transfer of more tokens than cap',
      { g: { M: { x: { L: [{ N: '3' }, { N: '2' }, { N: '0' }] } } } },
      /given\.x\.tokens \(3\) must not exceed its cap \(2\)/,
    ],
  ];
  for (const [label, patch, message] of broken) {
    it(`refuses an item with ${label}`, () => {
      const attrs = Object.fromEntries(
        Object.entries({ ...valid, ...patch }).filter(([, value]) => value !== undefined),
      );
      expect(() => decodeEscrowItem(attrs as never)).toThrow(CodecError);
      expect(() => decodeEscrowItem(attrs as never)).toThrow(message);
    });
  }

  it('lists every problem of an item at once, and encodes none of them', () => {
    const bad = {
      ...VALID,
      region: '',
      at: 1.5,
      level: -1,
      rem: ESCROW_RATE_PARTS,
      dm: Number.NaN,
      given: { x: { tokens: 1, cap: 0, rate: -2 } },
    };
    expect(escrowItemProblems(bad)).toEqual([
      'region must be a non-empty string',
      'at must be a non-negative safe integer (got 1.5)',
      'level must be a non-negative safe integer (got -1)',
      'dm must be a non-negative safe integer (got NaN)',
      `rem (${ESCROW_RATE_PARTS}) must be below ${ESCROW_RATE_PARTS}`,
      'given.x.rate must be a non-negative safe integer (got -2)',
      'given.x.tokens (1) must not exceed its cap (0)',
    ]);
    expect(escrowItemProblems(VALID)).toEqual([]);
    expect(() => encodeEscrowItem('b', bad)).toThrow(CodecError);
  });
});

describe('escrowUpdateInputOf', () => {
  it('sets every field and the ttl, conditioned on the previous version', () => {
    expect(escrowUpdateInputOf('buckets', 'b#1#h', VALID, 1234)).toEqual({
      TableName: 'buckets',
      Key: { pk: { S: 'b#1#h' }, sk: { S: 'e#eu-west-1' } },
      UpdateExpression:
        'SET #v = :v, #at = :at, #lv = :lv, #rem = :rem, #cap = :cap, #rt = :rt, #n = :n, #g = :g, #r = :r, #dm = :dm, #ttl = :ttl',
      ConditionExpression: '#v = :prev',
      ExpressionAttributeNames: {
        '#v': 'v',
        '#at': 'at',
        '#lv': 'lv',
        '#rem': 'rem',
        '#cap': 'cap',
        '#rt': 'rt',
        '#n': 'n',
        '#g': 'g',
        '#r': 'r',
        '#dm': 'dm',
        '#ttl': 'ttl',
      },
      ExpressionAttributeValues: {
        ':v': { N: '3' },
        ':at': { N: '1700000000000' },
        ':lv': { N: '500' },
        ':rem': { N: '7' },
        ':cap': { N: '1000' },
        ':rt': { N: '333334' },
        ':n': { N: '12' },
        ':g': { M: { 'us-east-1': { L: [{ N: '10' }, { N: '20' }, { N: '30' }] } } },
        ':r': { M: { 'ap-southeast-1': { L: [{ N: '1' }, { N: '2' }, { N: '3' }] } } },
        ':dm': { N: '1500' },
        ':ttl': { N: '1234' },
        ':prev': { N: '2' },
      },
      ReturnValues: 'NONE',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('writes the first version only where no item is, and removes the ttl when none is given', () => {
    const input = escrowUpdateInputOf('buckets', 'b', { ...VALID, v: 1 });
    expect(input.ConditionExpression).toBe('attribute_not_exists(#v)');
    expect(input.ExpressionAttributeValues).not.toHaveProperty(':prev');
    expect(input.ExpressionAttributeValues).not.toHaveProperty(':ttl');
    expect(input.UpdateExpression).toMatch(/ REMOVE #ttl$/);
    expect(input.UpdateExpression).not.toMatch(/#ttl = /);
  });

  const refused: [string, EscrowItem, number | undefined, RegExp][] = [
    ['version 0', { ...VALID, v: 0 }, undefined, /v must be positive/],
    ['a negative version', { ...VALID, v: -1 }, undefined, /v must be a non-negative/],
    ['a fractional version', { ...VALID, v: 1.5 }, undefined, /v must be a non-negative/],
    ['an unsafe version', { ...VALID, v: 2 ** 53 }, undefined, /v must be a non-negative/],
    ['a negative level', { ...VALID, level: -3 }, undefined, /level must be a non-negative/],
    ['a fractional ttl', VALID, 1.5, /ttl must be a non-negative safe integer/],
  ];
  for (const [label, bad, ttl, message] of refused) {
    it(`refuses ${label}`, () => {
      expect(() => escrowUpdateInputOf('buckets', 'b', bad, ttl)).toThrow(CodecError);
      expect(() => escrowUpdateInputOf('buckets', 'b', bad, ttl)).toThrow(message);
    });
  }
});

describe('escrow asks', () => {
  const ask = {
    bucketId: 'plan#1.eAbCdEfGh#key',
    region: 'eu-west-1',
    capacityTokens: 30,
    refillTokens: 0,
    refillIntervalMs: 1000,
    endsAtMs: 1_764_633_600_000,
    atMs: 1_764_600_000_000,
  };

  it('round-trips, the region after the last "|" of the sort key', () => {
    const attrs = encodeEscrowAsk(ask, 1_764_600_600);
    expect(attrs.sk).toEqual({ S: 'plan#1.eAbCdEfGh#key|eu-west-1' });
    expect(decodeEscrowAsk(attrs)).toEqual(ask);
    const { endsAtMs: _, ...bucket } = ask;
    expect(decodeEscrowAsk(encodeEscrowAsk(bucket, 1_764_600_600))).toEqual(bucket);
  });

  it('refuses to encode sizes out of range, listing every problem', () => {
    expect(() =>
      encodeEscrowAsk({ ...ask, capacityTokens: 0, refillIntervalMs: 1.5, region: 'a|b' }, 1),
    ).toThrow(/region.*capacityTokens.*refillIntervalMs/);
  });

  it('refuses to decode a malformed ask', () => {
    const good = encodeEscrowAsk(ask, 1_764_600_600);
    for (const bad of [
      { ...good, pk: { S: 'other' } },
      { ...good, sk: { S: 'no-region|' } },
      { ...good, c: { N: '0' } },
      { ...good, rf: { N: '-1' } },
      { ...good, at: { N: 'x' } },
      { ...good, end: { N: '1.5' } },
    ]) {
      expect(() => decodeEscrowAsk(bad)).toThrow(CodecError);
    }
  });
});
