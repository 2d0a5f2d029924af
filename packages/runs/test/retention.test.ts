import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { findArchiveRow, findArchiveRows, insertArchiveRows } from '@dcar/archives/test-fixtures';
import { archiveKey, type UtcDay } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { createLogger } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireArchives } from '../src/index.js';

let env: TestEnvironment;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const generatedAt = new Date('2025-12-13T02:15:32Z');
const day = '2025-12-12' as UtcDay;

async function seedDay(tenantId: string, hours: Array<{ hour: number; status: 'available' | 'no_data'; at: Date }>): Promise<void> {
  for (const { hour, status, at } of hours) {
    const key = status === 'available' ? archiveKey(tenantId, day, hour) : null;
    if (key) await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key, Body: `zip of ${tenantId} ${hour}` }));
    await insertArchiveRows(env.knex, [{
      tenant_id: tenantId,
      utc_day: day,
      hour,
      status,
      object_key: key,
      sha256: key ? 'cd'.repeat(32) : null,
      size_bytes: key ? 100 : 0,
      file_count: key ? 5 : 0,
      session_count: key ? 2 : 0,
      generated_at: at,
      attempts: 1,
    }]);
  }
}

async function storedKeys(): Promise<string[]> {
  const listed = await env.s3.send(new ListObjectsV2Command({ Bucket: env.config.s3.archiveBucket }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

function expire(now: Date) {
  return expireArchives({ db: env.knex, s3: env.s3, archiveBucket: env.config.s3.archiveBucket, logger: createLogger({ service: 'test', level: 'silent' }), now: () => now });
}

beforeAll(async () => {
  env = await createTestEnvironment();
  for (const [id, enabled, retentionDays] of [
    ['short', true, 1],
    ['disabled', false, 3],
    ['late', true, 1],
  ] as const) {
    await putTenant(env.knex, id, { name: id });
    await setDailyAudioFeature(env.knex, id, { enabled, retentionDays });
  }
  await seedDay('short', [
    { hour: 0, status: 'available', at: generatedAt },
    { hour: 1, status: 'no_data', at: generatedAt },
    { hour: 2, status: 'available', at: generatedAt },
  ]);
  await seedDay('disabled', [{ hour: 0, status: 'available', at: generatedAt }]);
  // One hour of this day was regenerated later: the day's expiry follows its latest generatedAt.
  await seedDay('late', [
    { hour: 0, status: 'available', at: generatedAt },
    { hour: 5, status: 'available', at: new Date(generatedAt.getTime() + 6 * HOUR) },
  ]);
});

afterAll(async () => {
  await env?.close();
});

describe('retention clean-up', () => {
  it('deletes exactly the archives past expiresAt, keeps a disabled tenant\'s until its retention passes, and keeps the audit fields', async () => {
    expect(await expire(new Date(generatedAt.getTime() + DAY - 1))).toEqual({ days: 0, archives: 0 });
    expect(await storedKeys()).toHaveLength(5);

    expect(await expire(new Date(generatedAt.getTime() + DAY + HOUR))).toEqual({ days: 1, archives: 2 });
    expect(await storedKeys()).toEqual([archiveKey('disabled', day, 0), archiveKey('late', day, 0), archiveKey('late', day, 5)]);
    const short = await findArchiveRows(env.knex, { tenantId: 'short' });
    expect(short.map((r) => [r.hour, r.status, r.object_key, r.file_count, r.generated_at?.toISOString()])).toEqual([
      [0, 'expired', null, 5, generatedAt.toISOString()],
      [1, 'expired', null, 0, generatedAt.toISOString()],
      [2, 'expired', null, 5, generatedAt.toISOString()],
    ]);

    expect(await expire(new Date(generatedAt.getTime() + DAY + 6 * HOUR))).toEqual({ days: 1, archives: 2 });
    expect(await storedKeys()).toEqual([archiveKey('disabled', day, 0)]);
    const kept = await env.s3.send(new GetObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: archiveKey('disabled', day, 0) }));
    expect(await kept.Body?.transformToString()).toBe('zip of disabled 0');
    expect((await findArchiveRows(env.knex, { tenantId: 'disabled' })).map((r) => r.status)).toEqual(['available']);

    expect(await expire(new Date(generatedAt.getTime() + 3 * DAY))).toEqual({ days: 1, archives: 1 });
    expect(await storedKeys()).toEqual([]);
  });

  it('finishes deleting objects of rows already marked expired, as after a crash between the two steps', async () => {
    const key = archiveKey('short', '2025-12-11' as UtcDay, 3);
    await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key, Body: 'left behind' }));
    await insertArchiveRows(env.knex, [{ tenant_id: 'short', utc_day: '2025-12-11', hour: 3, status: 'expired', object_key: key, generated_at: generatedAt }]);
    await expire(new Date(generatedAt.getTime() + 4 * DAY));
    expect(await storedKeys()).toEqual([]);
    expect(await findArchiveRow(env.knex, { tenantId: 'short', utcDay: '2025-12-11', hour: 3 })).toMatchObject({ status: 'expired', object_key: null });
  });
});
