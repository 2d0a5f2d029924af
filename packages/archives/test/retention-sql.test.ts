import { isBeyondRetention, type UtcDay } from '@dcar/domain';
import { createTestDatabase } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExpiredDays } from '../src/index.js';
import { insertArchiveRows } from './fixtures.js';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
const DEFAULT_RETENTION_DAYS = 3;
const DAY = '2025-01-01' as UtcDay;

/** generatedAt, the tenant's retention (undefined: no settings, the default applies) and the clock. */
const CASES: Array<{ name: string; generatedAt: string; retentionDays: number | undefined; now: string }> = [
  { name: '1 ms before expiresAt', generatedAt: '2025-12-13T02:15:32Z', retentionDays: 3, now: '2025-12-16T02:15:31.999Z' },
  { name: 'at expiresAt', generatedAt: '2025-12-13T02:15:32Z', retentionDays: 3, now: '2025-12-16T02:15:32.000Z' },
  { name: 'after expiresAt', generatedAt: '2025-12-13T02:15:32Z', retentionDays: 3, now: '2025-12-16T02:15:32.001Z' },
  { name: 'default retention, before', generatedAt: '2025-12-13T02:15:32Z', retentionDays: undefined, now: '2025-12-16T02:15:31Z' },
  { name: 'default retention, at', generatedAt: '2025-12-13T02:15:32Z', retentionDays: undefined, now: '2025-12-16T02:15:32Z' },
  { name: 'retention 1, across spring-forward (Europe)', generatedAt: '2025-03-29T12:00:00Z', retentionDays: 1, now: '2025-03-30T11:30:00Z' },
  { name: 'retention 1, across spring-forward, at', generatedAt: '2025-03-29T12:00:00Z', retentionDays: 1, now: '2025-03-30T12:00:00Z' },
  { name: 'retention 2, across fall-back (Europe)', generatedAt: '2025-10-25T12:00:00Z', retentionDays: 2, now: '2025-10-27T12:30:00Z' },
  { name: 'retention 2, across fall-back, before', generatedAt: '2025-10-25T12:00:00Z', retentionDays: 2, now: '2025-10-27T11:59:59Z' },
  { name: 'retention 7, across a leap day, before', generatedAt: '2024-02-27T23:59:59.999Z', retentionDays: 7, now: '2024-03-05T23:59:58.999Z' },
  { name: 'retention 7, across a leap day, at', generatedAt: '2024-02-27T23:59:59.999Z', retentionDays: 7, now: '2024-03-05T23:59:59.999Z' },
  { name: 'retention 7, long past', generatedAt: '2024-02-27T00:00:00Z', retentionDays: 7, now: '2025-01-01T00:00:00Z' },
  { name: 'retention 1, just generated', generatedAt: '2025-06-01T00:00:00Z', retentionDays: 1, now: '2025-06-01T00:00:01Z' },
  {
    name: 'sub-second generatedAt, before its whole second + retention',
    generatedAt: '2025-12-13T02:15:32.700Z',
    retentionDays: 3,
    now: '2025-12-16T02:15:31.999Z',
  },
  {
    name: 'sub-second generatedAt, at its whole second + retention',
    generatedAt: '2025-12-13T02:15:32.700Z',
    retentionDays: 3,
    now: '2025-12-16T02:15:32.200Z',
  },
];

const tenantOf = (index: number) => `case-${index}`;

beforeAll(async () => {
  database = await createTestDatabase();
  await insertArchiveRows(
    database.knex,
    CASES.map((c, index) => ({ tenant_id: tenantOf(index), utc_day: DAY, hour: 0, status: 'available' as const, generated_at: new Date(c.generatedAt) })),
  );
});
afterAll(async () => {
  await database?.drop();
});

describe('the retention rule in SQL', () => {
  // The database's session time zone must not matter: the domain counts whole 24-hour days.
  it.each(['UTC', 'Europe/Berlin', 'America/New_York'])('agrees with isBeyondRetention on every case (session time zone %s)', async (timeZone) => {
    const retentionDays = new Map(CASES.flatMap((c, index) => (c.retentionDays === undefined ? [] : [[tenantOf(index), c.retentionDays] as const])));
    const fromSql: Record<string, boolean> = {};
    const fromDomain: Record<string, boolean> = {};
    await database.knex.transaction(async (trx) => {
      await trx.raw(`set local time zone '${timeZone}'`);
      for (const [index, c] of CASES.entries()) {
        const now = new Date(c.now);
        const expired = await findExpiredDays(trx, { now, retentionDays, defaultRetentionDays: DEFAULT_RETENTION_DAYS, limit: CASES.length });
        fromSql[c.name] = expired.some((day) => day.tenantId === tenantOf(index));
        fromDomain[c.name] = isBeyondRetention({
          day: DAY,
          generatedAt: new Date(c.generatedAt),
          retentionDays: c.retentionDays ?? DEFAULT_RETENTION_DAYS,
          now,
        });
      }
    });
    expect(fromSql).toEqual(fromDomain);
    // The table holds both answers, so neither side can agree by always saying the same.
    expect(new Set(Object.values(fromDomain))).toEqual(new Set([true, false]));
  });
});
