/** Bucket ids: normalised, bounded, hashed keys. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketGeneration,
  bucketIdOf,
  KEY_HASH_CHARS,
  normaliseKey,
} from '../../functions/limiter/bucket-id';
import { LimitRequestError } from '../../functions/limiter/errors';

describe('bucketIdOf', () => {
  it('is <policy>#<version>#<22 base64url chars> and never contains the key', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 256 }).filter((k) => k.trim().length > 0),
        (key) => {
          const id = bucketIdOf('api', 3, key);
          expect(id).toMatch(new RegExp(`^api#3#[A-Za-z0-9_-]{${KEY_HASH_CHARS}}$`));
          if (key.trim().length > 3) expect(id).not.toContain(key.trim());
        },
      ),
    );
  });

  it('maps trimmed and NFC-equal keys to one bucket, other keys and versions apart', () => {
    expect(bucketIdOf('p', 1, ' caf\u00e9\n')).toBe(bucketIdOf('p', 1, 'cafe\u0301'));
    expect(bucketIdOf('p', 1, 'a')).not.toBe(bucketIdOf('p', 1, 'b'));
    expect(bucketIdOf('p', 1, 'a')).not.toBe(bucketIdOf('p', 2, 'a'));
    expect(bucketIdOf('p', undefined, 'a')).toBe(bucketIdOf('p', 1, 'a'));
  });

  it('refuses empty and over-long keys with a message naming the bound', () => {
    expect(() => normaliseKey(' \t ')).toThrow(LimitRequestError);
    expect(() => normaliseKey('x'.repeat(11), 10)).toThrow(/longer than 10/);
    expect(normaliseKey('x'.repeat(10), 10)).toBe('x'.repeat(10));
  });
});

describe('bucketGeneration', () => {
  it('is the bare version at the default interval and carries any other interval', () => {
    expect(bucketGeneration(undefined, undefined)).toBe('1');
    expect(bucketGeneration(2, 1000)).toBe('2');
    expect(bucketGeneration(2, 60_000)).toBe('2.i60000');
  });

  it('gives a bucket written under one refill interval a different id under another', () => {
    const ids = [1000, 500, 60_000].map((ms) => bucketIdOf('p', bucketGeneration(1, ms), 'k'));
    expect(new Set(ids).size).toBe(3);
  });
});
