import type { UtcDay } from '@dcar/domain';
import { createTestDatabase } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareWithFingerprints, type ReconciliationScope } from '../src/index.js';
import { insertArchiveRows } from './fixtures.js';

// Which hours a reconciliation pass compares (CONTRACT §3.3: "every past day still within
// retention"): a day whose archives have expired (now >= its generatedAt + retention, the API's
// 404) is never compared, even while its calendar date is still within the retention and before
// the hourly clean-up has marked it expired.

let database: Awaited<ReturnType<typeof createTestDatabase>>;
const TENANT = 'tenant-scope';
const DAY = '2025-12-12' as UtcDay;
const GENERATED_AT = new Date('2025-12-13T02:15:32Z');
const RETENTION_DAYS = 3;
const EXPIRES_AT = new Date(GENERATED_AT.getTime() + RETENTION_DAYS * 86_400_000);
const SCOPE: ReconciliationScope[] = [{ tenantId: TENANT, firstDay: DAY, lastDay: DAY, retentionDays: RETENTION_DAYS }];

beforeAll(async () => {
  database = await createTestDatabase();
  // Hour 5 archived with no rows (no_data, an empty fingerprint); hour 9 failed, never generated;
  // a late row has since arrived in hour 5, so it has changed.
  await insertArchiveRows(database.knex, [
    { tenant_id: TENANT, utc_day: DAY, hour: 5, status: 'no_data', generated_at: GENERATED_AT, source_file_count: 0, source_digest: '0' },
    { tenant_id: TENANT, utc_day: DAY, hour: 9, status: 'failed', generated_at: null },
  ]);
  await database.knex('conversation_audio_files').insert({
    tenant_id: TENANT,
    external_conversation_id: 'conv',
    session_id: 's',
    message_id: 1,
    type: 'agent_tts',
    storage_path: `${TENANT}/late.wav`,
    size_bytes: 100,
    recorded_at: new Date(`${DAY}T05:30:00Z`),
  });
});
afterAll(async () => {
  await database?.drop();
});

describe('the hours a reconciliation pass compares', () => {
  it('include a day until its expiresAt', async () => {
    const comparison = await compareWithFingerprints(database.knex, SCOPE, new Date(EXPIRES_AT.getTime() - 1));
    expect(comparison).toEqual({
      checkedHours: 2,
      candidates: [
        { tenantId: TENANT, utcDay: DAY, hour: 5, status: 'no_data', reason: 'changed' },
        { tenantId: TENANT, utcDay: DAY, hour: 9, status: 'failed', reason: 'failed' },
      ],
    });
  });

  it('leave out a day from its expiresAt on: regenerating one of its hours would bring back a day the API already refuses', async () => {
    expect(await compareWithFingerprints(database.knex, SCOPE, EXPIRES_AT)).toEqual({ checkedHours: 0, candidates: [] });
    expect(await compareWithFingerprints(database.knex, SCOPE, new Date(EXPIRES_AT.getTime() + 3_600_000))).toEqual({ checkedHours: 0, candidates: [] });
  });

  it('follow the tenant’s current retention', async () => {
    const longer = SCOPE.map((scope) => ({ ...scope, retentionDays: 4 }));
    expect((await compareWithFingerprints(database.knex, longer, EXPIRES_AT)).checkedHours).toBe(2);
  });
});
