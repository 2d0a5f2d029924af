import { dayGeneratedAt, type UtcDay } from '@dcar/domain';
import { createTestDatabase } from '@dcar/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findDayArchives, findLinkedHour } from '../src/index.js';
import { insertArchiveRows } from './fixtures.js';

// The link endpoint reads one hour and its day's figures in one row; the daily endpoint reduces the
// day's rows in JavaScript. Both must say the same of every hour, or a link and its listing disagree.

let database: Awaited<ReturnType<typeof createTestDatabase>>;
const TENANT = 'tenant-linked';
const DAY = '2025-12-12' as UtcDay;
const EXPIRED_DAY = '2025-12-11' as UtcDay;
const EMPTY_DAY = '2025-12-10' as UtcDay;

beforeAll(async () => {
  database = await createTestDatabase();
  await insertArchiveRows(database.knex, [
    { tenant_id: TENANT, utc_day: DAY, hour: 0, status: 'no_data', generated_at: new Date('2025-12-13T02:15:40Z') },
    {
      tenant_id: TENANT,
      utc_day: DAY,
      hour: 1,
      status: 'available',
      generated_at: new Date('2025-12-13T02:15:32Z'),
      object_key: 'k/01.zip',
      sha256: 'a'.repeat(64),
    },
    { tenant_id: TENANT, utc_day: DAY, hour: 2, status: 'failed', generated_at: null },
    { tenant_id: TENANT, utc_day: DAY, hour: 3, status: 'pending', generated_at: null },
    {
      tenant_id: TENANT,
      utc_day: DAY,
      hour: 4,
      status: 'available',
      generated_at: new Date('2025-12-14T09:00:00Z'),
      object_key: 'k/04.zip',
      sha256: 'b'.repeat(64),
    },
    { tenant_id: TENANT, utc_day: EXPIRED_DAY, hour: 7, status: 'expired', generated_at: new Date('2025-12-12T02:15:00Z') },
    { tenant_id: TENANT, utc_day: EXPIRED_DAY, hour: 8, status: 'available', generated_at: new Date('2025-12-12T02:16:00Z'), object_key: 'k/08.zip' },
    { tenant_id: 'another-tenant', utc_day: EMPTY_DAY, hour: 1, status: 'available', generated_at: new Date('2025-12-11T02:16:00Z'), object_key: 'x' },
  ]);
});
afterAll(async () => {
  await database?.drop();
});

it('says of every hour what the day’s rows say: its row, the day’s generatedAt and whether retention expired it', async () => {
  for (const day of [DAY, EXPIRED_DAY, EMPTY_DAY]) {
    const hours = await findDayArchives(database.knex, TENANT, day);
    for (let hour = 0; hour < 24; hour++) {
      const row = hours.find((h) => h.hour === hour);
      expect(await findLinkedHour(database.knex, TENANT, day, hour), `${day} ${String(hour)}`).toEqual({
        hour: row ? { status: row.status, objectKey: row.objectKey, sha256: row.sha256 } : null,
        dayGeneratedAt: dayGeneratedAt(hours),
        dayExpired: hours.some((h) => h.status === 'expired'),
      });
    }
  }
  // And the figures themselves, so that the comparison above cannot pass on two wrong readings.
  expect(await findLinkedHour(database.knex, TENANT, DAY, 4)).toEqual({
    hour: { status: 'available', objectKey: 'k/04.zip', sha256: 'b'.repeat(64) },
    dayGeneratedAt: new Date('2025-12-14T09:00:00Z'),
    dayExpired: false,
  });
  expect(await findLinkedHour(database.knex, TENANT, EXPIRED_DAY, 8)).toMatchObject({ dayExpired: true, dayGeneratedAt: new Date('2025-12-12T02:16:00Z') });
  expect(await findLinkedHour(database.knex, TENANT, EMPTY_DAY, 1)).toEqual({ hour: null, dayGeneratedAt: null, dayExpired: false });
});
