import { addUtcDays, utcDayOf, type UtcDay } from './utc-day.js';

const MS_PER_DAY = 86_400_000;

const MS_PER_SECOND = 1000;

/**
 * When a day's archives expire: the day's generatedAt plus the tenant's current retention. Counted
 * from generatedAt's whole second, as the API shows both (`2025-12-13T02:15:32Z`): the day answers
 * 404 from the very instant its shown expiresAt names, never a fraction of a second later.
 */
export function dayExpiresAt(generatedAt: Date, retentionDays: number): Date {
  const wholeSecond = Math.floor(generatedAt.getTime() / MS_PER_SECOND) * MS_PER_SECOND;
  return new Date(wholeSecond + retentionDays * MS_PER_DAY);
}

/**
 * A day's generatedAt: the latest generatedAt of its hours (an hour regenerated later moves it),
 * null when none has one. Retention counts from it.
 */
export function dayGeneratedAt(hours: readonly { generatedAt: Date | null }[]): Date | null {
  let latest: Date | null = null;
  for (const { generatedAt } of hours) {
    if (generatedAt && (!latest || generatedAt > latest)) latest = generatedAt;
  }
  return latest;
}

/** The oldest day that may still be served (or generated) without a generatedAt: today - retentionDays. */
export function oldestDayWithinRetention(now: Date, retentionDays: number): UtcDay {
  return addUtcDays(utcDayOf(now), -retentionDays);
}

/**
 * True when a day can no longer be served (CONTRACT §4.2, 404): its archives expired
 * (now >= expiresAt), or it was never generated and lies before today - retentionDays.
 */
export function isBeyondRetention(input: { day: UtcDay; generatedAt: Date | null; retentionDays: number; now: Date }): boolean {
  if (input.generatedAt) return input.now.getTime() >= dayExpiresAt(input.generatedAt, input.retentionDays).getTime();
  return input.day < oldestDayWithinRetention(input.now, input.retentionDays);
}
