import { startOfUtcDay, type UtcDay } from './utc-day.js';

export const HOURS_PER_DAY = 24;
const MS_PER_HOUR = 3_600_000;

/** The 24 hours of a day, 0 to 23. */
export const ALL_HOURS: readonly number[] = Array.from({ length: HOURS_PER_DAY }, (_, hour) => hour);

export function isHour(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < HOURS_PER_DAY;
}

/** Two-digit hour as it appears in keys, metadata and the API: 7 becomes "07". */
export function formatHour(hour: number): string {
  if (!isHour(hour)) throw new RangeError(`hour must be an integer 0-23, got ${String(hour)}`);
  return String(hour).padStart(2, '0');
}

/** The half-open window `[HH:00, HH+1:00)` in UTC: 13:59:59.999 is in hour 13, 14:00:00.000 in hour 14. */
export function hourWindow(day: UtcDay, hour: number): { start: Date; end: Date } {
  formatHour(hour);
  const start = new Date(startOfUtcDay(day).getTime() + hour * MS_PER_HOUR);
  return { start, end: new Date(start.getTime() + MS_PER_HOUR) };
}

/** The UTC hour (0-23) that `instant` falls in. */
export function hourOf(instant: Date): number {
  return instant.getUTCHours();
}
