import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BucketPolicy,
  calendarPeriodAt,
  decide,
  EMPTY_VIEW,
  isKnownTimeZone,
  levelTokensAt,
  ttlEpochSeconds,
  validateBucketPolicy,
  withItem,
} from '../../functions/core';

const utc = (iso: string) => Date.parse(iso);

describe('calendar periods', () => {
  it.each([
    ['hour', '2026-12-01T15:42:10Z', '2026-12-01T15:00:00Z', '2026-12-01T16:00:00Z'],
    ['day', '2026-12-01T15:42:10Z', '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z'],
    ['month', '2026-12-31T23:59:59.999Z', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z'],
    ['month', '2028-02-10T00:00:00Z', '2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z'],
    ['day', '2026-12-02T00:00:00Z', '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z'],
  ] as const)('UTC %s of %s is [%s, %s)', (kind, now, start, end) => {
    expect(calendarPeriodAt(utc(now), kind)).toEqual({ startMs: utc(start), endMs: utc(end) });
  });

  it.each([
    // São Paulo: UTC-3 all year (no daylight saving since 2019).
    [
      'day',
      'America/Sao_Paulo',
      '2026-12-01T02:00:00Z',
      '2026-11-30T03:00:00Z',
      '2026-12-01T03:00:00Z',
    ],
    // Kolkata: UTC+5:30, hours start at :30 in UTC.
    [
      'hour',
      'Asia/Kolkata',
      '2026-12-01T10:10:00Z',
      '2026-12-01T09:30:00Z',
      '2026-12-01T10:30:00Z',
    ],
    // Paris, the day clocks go forward (23 hours) and back (25 hours).
    ['day', 'Europe/Paris', '2026-03-29T12:00:00Z', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z'],
    ['day', 'Europe/Paris', '2026-10-25T12:00:00Z', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z'],
    // Sydney's month starts the previous day in UTC.
    [
      'month',
      'Australia/Sydney',
      '2026-12-15T00:00:00Z',
      '2026-11-30T13:00:00Z',
      '2026-12-31T13:00:00Z',
    ],
  ] as const)('%s in %s of %s is [%s, %s)', (kind, zone, now, start, end) => {
    expect(calendarPeriodAt(utc(now), kind, zone)).toEqual({
      startMs: utc(start),
      endMs: utc(end),
    });
  });

  it('refuses an unknown time zone, and says which are known', () => {
    expect(isKnownTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isKnownTimeZone('Europe/Paris')).toBe(true);
    expect(() => calendarPeriodAt(0, 'day', 'Mars/Olympus_Mons')).toThrow(RangeError);
  });

  it('every instant lies in its period, and the next period starts where it ends', () => {
    const zones = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney'];
    fc.assert(
      fc.property(
        fc.integer({ min: utc('2020-01-01T00:00:00Z'), max: utc('2035-01-01T00:00:00Z') }),
        fc.constantFrom('hour', 'day', 'month' as const),
        fc.constantFrom(...zones),
        (now, kind, zone) => {
          const p = calendarPeriodAt(now, kind, zone);
          expect(p.startMs).toBeLessThanOrEqual(now);
          expect(now).toBeLessThan(p.endMs);
          expect(calendarPeriodAt(p.endMs, kind, zone).startMs).toBe(p.endMs);
          expect(calendarPeriodAt(p.startMs, kind, zone)).toEqual(p);
        },
      ),
    );
  });
});

describe('a quota period bucket (no refill)', () => {
  const endsAtMs = utc('2026-12-02T00:00:00Z');
  const quota: BucketPolicy = { capacityTokens: 5, refillTokens: 0, refillIntervalMs: 1, endsAtMs };

  it('is valid only with the instant it ends', () => {
    expect(validateBucketPolicy(quota)).toEqual([]);
    expect(validateBucketPolicy({ ...quota, endsAtMs: undefined }).join()).toMatch(
      /needs endsAtMs/,
    );
    expect(
      validateBucketPolicy({
        capacityTokens: 5,
        refillTokens: 1,
        refillIntervalMs: 1000,
        endsAtMs,
      }).join(),
    ).toMatch(/only for a bucket that never refills/);
  });

  it('admits its capacity and then refuses for good, and its items expire an hour after its end', () => {
    let view = EMPTY_VIEW;
    let now = utc('2026-12-01T08:00:00Z');
    const answers: boolean[] = [];
    for (let i = 0; i < 7; i++) {
      const d = decide({ policy: quota, view, slot: 'us-east-1', costTokens: 1, nowMs: now });
      answers.push(d.allowed);
      if (d.allowed) {
        view = withItem(view, d.write.expected);
        expect(d.write.ttlEpochSeconds).toBe(endsAtMs / 1000 + 3600);
      } else {
        expect(d.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
      }
      now += 3_600_000;
    }
    expect(answers).toEqual([true, true, true, true, true, false, false]);
    expect(levelTokensAt(quota, view, now + 86_400_000)).toBe(0);
    expect(ttlEpochSeconds(quota, now)).toBe(endsAtMs / 1000 + 3600);
  });
});
