/** The slot-item codec: lossless round trips, strict refusal of malformed items. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SlotItem } from '../../functions/core';
import { CodecError, decodeItem, encodeItem } from '../../functions/store/codec';

const int = fc.integer({ min: -1e13, max: 1e13 });
const slotId = fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-1', 'global', 'us-east-1#2');
const item: fc.Arbitrary<SlotItem> = fc
  .record(
    {
      slot: slotId,
      n: fc.nat({ max: 1e13 }),
      v: fc.nat(),
      inc: fc.nat(),
      at: fc.nat(),
      checkpoint: fc.record({
        ct: fc.nat(),
        cl: int,
        cv: fc.dictionary(slotId, fc.record({ n: int, inc: fc.nat() })),
      }),
      tk: fc.nat({ max: 1e13 }),
    },
    { requiredKeys: ['slot', 'n', 'v', 'inc', 'at'] },
  )
  // Tokens taken after the checkpoint are part of n, and 0 is stored as no attribute.
  .map(({ tk, ...rest }) => (tk === undefined || tk === 0 || tk > rest.n ? rest : { ...rest, tk }));

describe('codec', () => {
  it('round-trips every slot item exactly', () => {
    fc.assert(
      fc.property(item, (i) => {
        expect(decodeItem(encodeItem('b#1#h', i, 42))).toEqual({ ...i, ttl: 42 });
      }),
    );
  });

  const valid = encodeItem('b', {
    slot: 's',
    n: 1,
    v: 1,
    inc: 1,
    at: 1,
    checkpoint: { ct: 1, cl: 1, cv: { s: { n: 0, inc: 1 } } },
  });
  const broken: [string, Record<string, unknown>, RegExp][] = [
    ['missing sk', { sk: undefined }, /sk/],
    ['n as a string', { n: { S: '1' } }, /attribute n/],
    ['n not an integer', { n: { N: '1.5' } }, /safe integer/],
    ['n beyond 2^53', { n: { N: '9007199254740993' } }, /safe integer/],
    ['checkpoint without cv', { cv: undefined }, /cv/],
    ['tk above n', { tk: { N: '2' } }, /tk must be in \[0, n\]/],
    ['tk negative', { tk: { N: '-1' } }, /tk must be in \[0, n\]/],
    ['cv entry not a pair', { cv: { M: { s: { L: [{ N: '1' }] } } } }, /\[n, inc\]/],
    ['missing version', { v: undefined }, /attribute v/],
  ];
  for (const [label, patch, message] of broken) {
    it(`refuses an item with ${label}`, () => {
      const attrs = Object.fromEntries(
        Object.entries({ ...valid, ...patch }).filter(([, value]) => value !== undefined),
      );
      expect(() => decodeItem(attrs as typeof valid)).toThrow(CodecError);
      expect(() => decodeItem(attrs as typeof valid)).toThrow(message);
    });
  }

  it('refuses to encode a number that is not a safe integer', () => {
    expect(() => encodeItem('b', { slot: 's', n: 0.5, v: 1, inc: 1, at: 1 })).toThrow(CodecError);
  });
});
