import type { ArchiveStatus, UtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import { beyondRetentionSql } from './retention.js';
import { tenantHourFingerprintsSql } from './source-files.js';

/**
 * The days of a tenant a reconciliation pass compares: `firstDay` to `lastDay`, both included,
 * except those whose archives have expired under the tenant's `retentionDays`.
 */
export interface ReconciliationScope {
  tenantId: string;
  firstDay: UtcDay;
  lastDay: UtcDay;
  retentionDays: number;
}

/** An hour the pass regenerates: its source rows differ from its archive's fingerprint, or it failed. */
export interface ReconciliationCandidate {
  tenantId: string;
  utcDay: string;
  hour: number;
  status: 'available' | 'no_data' | 'failed';
  reason: 'changed' | 'failed';
}

export interface ReconciliationComparison {
  /** Hours compared: every available, no_data or failed hour of the scope. */
  checkedHours: number;
  /** In (tenant, day, hour) order. */
  candidates: ReconciliationCandidate[];
}

/**
 * Compares each archived hour of the scope with its source rows as they are now (CONTRACT §3.3), in
 * one statement, tenant by tenant: its hours' rows (the unique index on tenant, day, hour) joined
 * to its current fingerprints (one index range scan of its source rows, tenantHourFingerprintsSql).
 * - `available` / `no_data` with a fingerprint: changed when the count or the digest differs
 *   (rows added, removed, or with another path or size);
 * - generated before fingerprints existed: changed when the number of rows differs from the
 *   archive's file count (0 for no_data);
 * - `failed`: always returned, to be retried.
 * `pending` (a run is on it) and `expired` hours, and hours without a row (never run), are left alone,
 * and so is every hour of a day past its expiresAt at `now` (the day's latest generatedAt plus the
 * retention, as the API and the clean-up count it) even before the clean-up has marked it expired:
 * regenerating one of its hours would move its generatedAt and bring back a day the API refuses.
 */
export async function compareWithFingerprints(db: Knex, scope: readonly ReconciliationScope[], now: Date): Promise<ReconciliationComparison> {
  if (scope.length === 0) return { checkedHours: 0, candidates: [] };
  const { rows } = (await comparisonQuery(db, scope, now)) as { rows: Array<{ checked_hours: number; candidates: ReconciliationCandidate[] }> };
  const row = rows[0];
  return { checkedHours: row?.checked_hours ?? 0, candidates: row?.candidates ?? [] };
}

/** compareWithFingerprints' statement, not run: `pnpm bench:reconcile` explains it. */
export function comparisonQuery(db: Knex, scope: readonly ReconciliationScope[], now: Date): Knex.Raw {
  return db.raw(
    `with scope as (
       select * from unnest(:tenants::text[], :firstDays::date[], :lastDays::date[], :retentionDays::int[])
                  as s(tenant_id, first_day, last_day, retention_days)
     ),
     compared as (
       -- Tenant by tenant: its archived hours (an index scan on their unique key) beside its current
       -- fingerprints (an index scan of the source rows), so each join holds one tenant's days.
       select s.tenant_id, x.utc_day, x.hour, x.status, x.reason
         from scope s
         cross join lateral (
           select a.utc_day, a.hour, a.status,
                  case
                    when a.status = 'failed' then 'failed'
                    when a.source_file_count is not null then
                      case when coalesce(c.file_count, 0) <> a.source_file_count or coalesce(c.digest, 0) <> a.source_digest then 'changed' end
                    when coalesce(c.file_count, 0) <> (case when a.status = 'available' then a.file_count else 0 end) then 'changed'
                  end as reason
             from (
                    -- Each hour with its day's generatedAt: the latest of all its hours, whatever their status.
                    select h.*, max(h.generated_at) over (partition by h.utc_day) as day_generated_at
                      from hourly_archives h
                     where h.tenant_id = s.tenant_id and h.utc_day between s.first_day and s.last_day
                  ) a
             left join (${tenantHourFingerprintsSql('s.tenant_id', 's.first_day', 's.last_day')}) c on c.utc_day = a.utc_day and c.hour = a.hour
            where a.status in ('available', 'no_data', 'failed')
              -- A day never generated has no expiresAt: its calendar date decided the scope.
              and not coalesce(${beyondRetentionSql('a.day_generated_at', 's.retention_days', ':now::timestamptz')}, false)
         ) x
     )
     select (select count(*) from compared)::int as checked_hours,
            coalesce(
              (select json_agg(json_build_object('tenantId', tenant_id, 'utcDay', utc_day::text, 'hour', hour, 'status', status, 'reason', reason)
                               order by tenant_id, utc_day, hour)
                 from compared where reason is not null),
              '[]'::json) as candidates`,
    {
      tenants: scope.map((s) => s.tenantId),
      firstDays: scope.map((s) => s.firstDay),
      lastDays: scope.map((s) => s.lastDay),
      retentionDays: scope.map((s) => s.retentionDays),
      now,
    },
  );
}

/** One hour as a run report shows it. */
export interface ListedHourState {
  tenantId: string;
  utcDay: string;
  hour: number;
  status: ArchiveStatus;
  attempts: number;
  lastError: string | null;
}

/** The rows of the given tenant-hours (any days), in no particular order; an hour without one is absent. */
export async function listHourStates(db: Knex, hours: ReadonlyArray<{ tenantId: string; utcDay: string; hour: number }>): Promise<ListedHourState[]> {
  if (hours.length === 0) return [];
  const rows: Array<{ tenant_id: string; utc_day: string; hour: number; status: ArchiveStatus; attempts: number; last_error: string | null }> = await db(
    'hourly_archives as h',
  )
    .select('h.tenant_id', db.raw('h.utc_day::text as utc_day'), 'h.hour', 'h.status', 'h.attempts', 'h.last_error')
    .whereRaw('(h.tenant_id, h.utc_day, h.hour) in (select * from unnest(?::text[], ?::date[], ?::smallint[]))', [
      hours.map((h) => h.tenantId),
      hours.map((h) => h.utcDay),
      hours.map((h) => h.hour),
    ]);
  return rows.map((row) => ({
    tenantId: row.tenant_id,
    utcDay: row.utc_day,
    hour: row.hour,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
  }));
}
