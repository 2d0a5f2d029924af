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
  if (month < 1 || month > 12 || day < 1) return null;
  // Date.UTC rolls 2025-02-29 over to March 1st: a real date survives the round trip unchanged.
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return input as UtcDay;
}

/** The day that `instant` falls on in UTC. */
export function utcDayOf(instant: Date): UtcDay {
  return instant.toISOString().slice(0, 10) as UtcDay;
}

/** Midnight UTC at the start of `day`. */
export function startOfUtcDay(day: UtcDay): Date {
  return new Date(`${day}T00:00:00.000Z`);
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
