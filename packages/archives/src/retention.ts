import { GENERATED_STATUSES } from '@dcar/domain';
import type { Knex } from '@dcar/platform';

/**
 * The retention rule in SQL, the same as the domain's `isBeyondRetention` for a generated day:
 * expired once `now >= generatedAt + retentionDays × 24 h`, generatedAt taken to its whole second
 * (as the API shows it and the domain's `dayExpiresAt` counts). Whole 24-hour days, as the domain
 * counts them: a calendar-day interval would follow the session's time zone and be 23 or 25 hours
 * long across a daylight-saving change. A test keeps the two in step.
 */
export function beyondRetentionSql(generatedAt: string, retentionDays: string, now: string): string {
  return `${now} >= date_trunc('second', ${generatedAt}) + make_interval(hours => 24 * ${retentionDays})`;
}

export interface ExpiredDay {
  tenantId: string;
  utcDay: string;
  generatedAt: Date;
}

/**
 * Tenant-days with at least one generated hour whose retention has passed: the day's latest
 * generatedAt plus the tenant's current retention (`retentionDays`, else `defaultRetentionDays`).
 * Oldest days first, at most `limit`.
 */
export async function findExpiredDays(
  db: Knex,
  input: { now: Date; retentionDays: ReadonlyMap<string, number>; defaultRetentionDays: number; limit: number },
): Promise<ExpiredDay[]> {
  const { rows }: { rows: Array<{ tenant_id: string; utc_day: string; generated_at: Date }> } = await db.raw(
    `select h.tenant_id, h.utc_day, max(h.generated_at) as generated_at
       from hourly_archives h
       left join unnest(:tenants::text[], :retention::int[]) as r(tenant_id, retention_days) on r.tenant_id = h.tenant_id
      group by h.tenant_id, h.utc_day, r.retention_days
     having count(*) filter (where h.status = any(:generated::text[])) > 0
        and ${beyondRetentionSql('max(h.generated_at)', 'coalesce(r.retention_days, :defaultRetention::int)', ':now::timestamptz')}
      order by h.utc_day, h.tenant_id
      limit :limit`,
    {
      tenants: [...input.retentionDays.keys()],
      retention: [...input.retentionDays.values()],
      generated: GENERATED_STATUSES,
      defaultRetention: input.defaultRetentionDays,
      now: input.now,
      limit: input.limit,
    },
  );
  return rows.map((row) => ({ tenantId: row.tenant_id, utcDay: row.utc_day, generatedAt: row.generated_at }));
}

/**
 * Marks a day's generated hours `expired`, keeping generatedAt and counts for audit, and keeping
 * each row's object_key until its object is deleted. Returns how many of them have an object.
 */
export async function expireDay(db: Knex, day: { tenantId: string; utcDay: string }): Promise<{ withObject: number }> {
  const marked: Array<{ object_key: string | null }> = await db('hourly_archives')
    .where({ tenant_id: day.tenantId, utc_day: day.utcDay })
    .whereIn('status', GENERATED_STATUSES)
    .update({ status: 'expired', updated_at: db.fn.now() })
    .returning('object_key');
  return { withObject: marked.filter((row) => row.object_key !== null).length };
}

/** Expired hours whose object is not deleted yet, at most `limit`. */
export async function findUndeletedExpiredObjects(db: Knex, limit: number): Promise<Array<{ id: number; objectKey: string }>> {
  const rows = (await db('hourly_archives')
    .select('id', 'object_key')
    .where({ status: 'expired' })
    .whereNotNull('object_key')
    .orderBy('id')
    .limit(limit)) as Array<{ id: number; object_key: string }>;
  return rows.map((row) => ({ id: row.id, objectKey: row.object_key }));
}

/** Records that expired hours' objects are deleted. */
export async function forgetExpiredObjects(db: Knex, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db('hourly_archives').whereIn('id', ids).where({ status: 'expired' }).update({ object_key: null, updated_at: db.fn.now() });
}
