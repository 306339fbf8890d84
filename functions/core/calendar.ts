/**
 * Calendar periods of quotas: the hour, day or month an instant falls in, in
 * UTC or in an IANA time zone, as the instants where it starts and ends.
 *
 * Why instants: a quota's bucket lives for one period (its id names the
 * period's start), so every container, in every region, must cut time at the
 * same instants. They are computed from the time zone's rules (`Intl`, the
 * tz database Node ships with), not from the machine's zone, so a container
 * in Sydney and one in Virginia agree on when a `Europe/Paris` day ends.
 *
 * Local times that do not exist or exist twice (daylight-saving changes)
 * follow the usual rule: a period starts at the first instant whose local
 * time is at or after the period's local start. A day of 23 or 25 hours is a
 * day. Pure: no clock, no environment.
 */

/** The length of a quota period. */
export type QuotaPeriod = 'hour' | 'day' | 'month';

/** The period kinds, in order. */
export const QUOTA_PERIODS: readonly QuotaPeriod[] = ['hour', 'day', 'month'];

/** One calendar period. */
export interface CalendarPeriod {
  /** Its first instant (ms since the epoch). */
  readonly startMs: number;
  /** The first instant of the next period (ms since the epoch). */
  readonly endMs: number;
}

/** The wall-clock fields of an instant in a time zone. */
interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is `UTC` or an IANA zone this runtime knows. */
export function isKnownTimeZone(timeZone: string): boolean {
  if (timeZone === 'UTC') return true;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

function wallTime(ms: number, timeZone: string): WallTime {
  if (timeZone === 'UTC') {
    const d = new Date(ms);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    };
  }
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(ms)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? 0,
    month: fields.month ?? 1,
    day: fields.day ?? 1,
    hour: fields.hour ?? 0,
    minute: fields.minute ?? 0,
    second: fields.second ?? 0,
  };
}

/** The wall time as if it were UTC (ms): the zone's offset at `ms` is this minus `ms`. */
function wallAsUtc(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/**
 * The first instant whose local time in `timeZone` is at or after the given
 * local time (`Date.UTC` fields, normalised: month 13 is next January).
 */
function instantOfLocal(
  timeZone: string,
  year: number,
  monthIndex: number,
  day: number,
  hour: number,
): number {
  const target = Date.UTC(year, monthIndex, day, hour);
  if (timeZone === 'UTC') return target;
  // Two passes of "subtract the offset found at the guess" settle any zone whose offset
  // changes at most once in a day; the scan below handles a target inside a gap.
  let guess = target;
  for (let i = 0; i < 3; i++) {
    const offset = wallAsUtc(wallTime(guess, timeZone)) - guess;
    guess = target - offset;
  }
  // Step back while an earlier instant still reads as the target or later (an ambiguous
  // hour: take its first occurrence), forward while the guess reads as earlier (a gap).
  const STEP_MS = 15 * 60 * 1000;
  while (wallAsUtc(wallTime(guess - STEP_MS, timeZone)) >= target) guess -= STEP_MS;
  while (wallAsUtc(wallTime(guess, timeZone)) < target) guess += STEP_MS;
  return guess;
}

/**
 * The period of `kind` that `nowMs` falls in, in `timeZone` (`UTC` or an
 * IANA name, e.g. `America/Sao_Paulo`).
 *
 * @throws RangeError for a time zone the runtime does not know, or a time that is not finite.
 */
export function calendarPeriodAt(
  nowMs: number,
  kind: QuotaPeriod,
  timeZone = 'UTC',
): CalendarPeriod {
  if (!Number.isFinite(nowMs)) throw new RangeError(`not a time: ${nowMs}`);
  const w = wallTime(nowMs, timeZone);
  const bounds = (startOffset: number): CalendarPeriod => {
    switch (kind) {
      case 'hour':
        return {
          startMs: instantOfLocal(timeZone, w.year, w.month - 1, w.day, w.hour + startOffset),
          endMs: instantOfLocal(timeZone, w.year, w.month - 1, w.day, w.hour + startOffset + 1),
        };
      case 'day':
        return {
          startMs: instantOfLocal(timeZone, w.year, w.month - 1, w.day + startOffset, 0),
          endMs: instantOfLocal(timeZone, w.year, w.month - 1, w.day + startOffset + 1, 0),
        };
      case 'month':
        return {
          startMs: instantOfLocal(timeZone, w.year, w.month - 1 + startOffset, 1, 0),
          endMs: instantOfLocal(timeZone, w.year, w.month + startOffset, 1, 0),
        };
    }
  };
  const period = bounds(0);
  // An hour that does not exist locally (a gap) starts after it: `nowMs` then belongs
  // to the period before, whose end is that start.
  if (nowMs < period.startMs) return bounds(-1);
  return period;
}
