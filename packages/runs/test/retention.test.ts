import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { findArchiveRow, findArchiveRows, insertArchiveRows } from '@dcar/archives/test-fixtures';
import { archiveKey, type UtcDay } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { createLogger, createMetricsRegistry, createS3Client } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { startS3FaultProxy, type FaultRequest } from '@dcar/testing/s3-fault-proxy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRetentionMetrics, expireArchives } from '../src/index.js';

let env: TestEnvironment;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const generatedAt = new Date('2025-12-13T02:15:32Z');
const day = '2025-12-12' as UtcDay;

async function seedDay(tenantId: string, hours: Array<{ hour: number; status: 'available' | 'no_data'; at: Date }>): Promise<void> {
  for (const { hour, status, at } of hours) {
    const key = status === 'available' ? archiveKey(tenantId, day, hour) : null;
    if (key) await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key, Body: `zip of ${tenantId} ${hour}` }));
    await insertArchiveRows(env.knex, [
      {
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
      },
    ]);
  }
}

async function storedKeys(): Promise<string[]> {
  const listed = await env.s3.send(new ListObjectsV2Command({ Bucket: env.config.s3.archiveBucket }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

const registry = createMetricsRegistry('scheduler');
const retentionMetrics = createRetentionMetrics(registry);
async function counted(): Promise<{ days: number; archives: number }> {
  const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
  return { days: (await value('dcar_retention_expired_days_total'))!, archives: (await value('dcar_retention_deleted_archives_total'))! };
}

function expire(now: Date) {
  return expireArchives({
    db: env.knex,
    s3: env.s3,
    archiveBucket: env.config.s3.archiveBucket,
    logger: createLogger({ service: 'test', level: 'silent' }),
    now: () => now,
    retentionMetrics,
  });
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
  it("deletes exactly the archives past expiresAt, keeps a disabled tenant's until its retention passes, and keeps the audit fields", async () => {
    expect(await expire(new Date(generatedAt.getTime() + DAY - 1))).toEqual({ days: 0, archives: 0 });
    // Present at 0 before the first deletion, so an alert on their rate sees the first one.
    expect(await counted()).toEqual({ days: 0, archives: 0 });
    expect(await registry.metrics()).toContain('dcar_retention_deleted_archives_total{service="scheduler"} 0');
    expect(await storedKeys()).toHaveLength(5);

    expect(await expire(new Date(generatedAt.getTime() + DAY + HOUR))).toEqual({ days: 1, archives: 2 });
    expect(await counted()).toEqual({ days: 1, archives: 2 });
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

  it('deletes a pass of expired objects with one DeleteObjects request, and keeps the keys the store refused for the next pass', async () => {
    const oldDay = '2025-11-20' as UtcDay;
    const keys = Array.from({ length: 30 }, (_, hour) => archiveKey('short', oldDay, hour % 24).replace(/\.zip$/, `-${hour}.zip`));
    for (const key of keys) await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key, Body: 'old' }));
    await insertArchiveRows(
      env.knex,
      keys.map((key, index) => ({
        tenant_id: 'short',
        utc_day: index < 24 ? oldDay : '2025-11-21',
        hour: index % 24,
        status: 'expired',
        object_key: key,
        generated_at: generatedAt,
      })),
    );
    const proxy = await startS3FaultProxy(env.config.s3.endpoint);
    const seen: FaultRequest[] = [];
    proxy.onRequest = (request) => seen.push(request);
    const s3 = createS3Client({ ...env.config.s3, endpoint: proxy.endpoint });
    const viaProxy = (now: Date) =>
      expireArchives({
        db: env.knex,
        s3,
        archiveBucket: env.config.s3.archiveBucket,
        logger: createLogger({ service: 'test', level: 'silent' }),
        now: () => now,
      });
    try {
      // The store refuses the whole batch once: nothing is forgotten, the pass fails with the reason.
      proxy.failWhen = (request) => request.method === 'POST' && request.query.has('delete');
      await expect(viaProxy(new Date(generatedAt.getTime() + 5 * DAY))).rejects.toThrow();
      expect(await env.knex('hourly_archives').where({ status: 'expired' }).whereNotNull('object_key').count('* as n').first()).toEqual({ n: 30 });
      proxy.failWhen = () => false;
      seen.length = 0;
      await viaProxy(new Date(generatedAt.getTime() + 5 * DAY));
      // One request for the 30 keys, never one per object (the SDK may resend it once when the store drops a kept-alive connection).
      const kinds = seen.map((request) => `${request.method} ${request.query.has('delete') ? 'delete' : request.path}`);
      expect(kinds.length).toBeGreaterThanOrEqual(1);
      expect(new Set(kinds)).toEqual(new Set(['POST delete']));
      expect(await storedKeys()).toEqual([]);
      expect(await env.knex('hourly_archives').where({ status: 'expired' }).whereNotNull('object_key').count('* as n').first()).toEqual({ n: 0 });
    } finally {
      s3.destroy();
      await proxy.close();
    }
  });
});
