/** A calendar day in UTC, written `YYYY-MM-DD`. Only built by `parseUtcDay`, so holding one proves it is real. */
export type UtcDay = string & { readonly __brand: 'UtcDay' };

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const MS_PER_DAY = 86_400_000;

/** Returns the day when `input` is exactly `YYYY-MM-DD` and names a real calendar date, else null. */
export function parseUtcDay(input: string): UtcDay | null {
  const match = DAY_PATTERN.exec(input);
  if (!match) return null;
  const [, y, m, d] = match;
  const year = Number(y);
  const month = Number(m);
  const day = Number(d);
  // There is no year 0 (1 BC precedes AD 1), and PostgreSQL's date type refuses it.
  if (year < 1 || month < 1 || month > 12 || day < 1) return null;
  // A real date survives the round trip through Date unchanged; 2025-02-29 rolls over to March 1st.
  const date = utcMidnight(year, month, day);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return input as UtcDay;
}

/**
 * Midnight UTC of a calendar date. Not `Date.UTC`, which reads years 0-99 as 1900-1999:
 * `setUTCFullYear` takes every year as written.
 */
function utcMidnight(year: number, month: number, day: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date;
}

/** The day that `instant` falls on in UTC (years 1-9999, four digits). */
export function utcDayOf(instant: Date): UtcDay {
  const year = String(instant.getUTCFullYear()).padStart(4, '0');
  const month = String(instant.getUTCMonth() + 1).padStart(2, '0');
  const day = String(instant.getUTCDate()).padStart(2, '0');
  return `${year}-${month}-${day}` as UtcDay;
}

/** Midnight UTC at the start of `day`. */
export function startOfUtcDay(day: UtcDay): Date {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  return utcMidnight(year, month, date);
}

export function addUtcDays(day: UtcDay, days: number): UtcDay {
  return utcDayOf(new Date(startOfUtcDay(day).getTime() + days * MS_PER_DAY));
}

/** The day before the one `now` falls on: the day a nightly run at `now` archives. */
export function previousUtcDay(now: Date): UtcDay {
  return addUtcDays(utcDayOf(now), -1);
}

/** True when `day` is after the UTC day of `now`. Today itself is not in the future. */
export function isFutureUtcDay(day: UtcDay, now: Date): boolean {
  return day > utcDayOf(now);
}

/** True when `day` is today or later: such a day is not over, so it cannot be archived yet. */
export function isUnfinishedUtcDay(day: UtcDay, now: Date): boolean {
  return day >= utcDayOf(now);
}
