import { ARCHIVE_STATUS_SOURCES, emptyStatusCounts, type ArchiveStatus, type StatusCounts } from '@dcar/domain';
import type { Knex } from '@dcar/platform';

/** The run engine's reads and writes of a day's tenant-hours. Days are `YYYY-MM-DD` as runs store them. */

export interface TenantHour {
  tenantId: string;
  hour: number;
}

/** The tenants of a run on its day. */
export interface RunScope {
  utcDay: string;
  tenantIds: readonly string[];
}

function inScope(db: Knex, scope: RunScope) {
  return db('hourly_archives')
    .where('utc_day', scope.utcDay)
    .whereRaw('tenant_id = any(?::text[])', [[...scope.tenantIds]]);
}

/** The hours that are not available yet: unless forced, a run never generates an available hour again. */
export async function withoutAvailableHours(db: Knex, utcDay: string, hours: readonly TenantHour[]): Promise<TenantHour[]> {
  const tenantIds = [...new Set(hours.map((h) => h.tenantId))];
  const available = (await inScope(db, { utcDay, tenantIds }).select('tenant_id', 'hour').where('status', 'available')) as Array<{
    tenant_id: string;
    hour: number;
  }>;
  const skip = new Set(available.map((row) => `${row.tenant_id}/${row.hour}`));
  return hours.filter((h) => !skip.has(`${h.tenantId}/${h.hour}`));
}

/** Shows the hours as pending: a new hour starts so, a failed or expired hour being redone goes back to it, any other stays as it is. */
export async function markPending(db: Knex, utcDay: string, hours: readonly TenantHour[]): Promise<void> {
  if (hours.length === 0) return;
  await db('hourly_archives')
    .insert(hours.map((h) => ({ tenant_id: h.tenantId, utc_day: utcDay, hour: h.hour, status: 'pending' })))
    .onConflict(['tenant_id', 'utc_day', 'hour'])
    .merge({ status: 'pending', updated_at: db.fn.now() })
    .whereIn('hourly_archives.status', ARCHIVE_STATUS_SOURCES.pending);
}

/**
 * After a run's last round: the hours still failing become `failed`, except an available archive
 * (a forced re-run that failed leaves the earlier archive in place). Returns the hours it marked,
 * with the last error their worker recorded.
 */
export async function markFailed(db: Knex, utcDay: string, hours: readonly TenantHour[]): Promise<Array<TenantHour & { lastError: string | null }>> {
  if (hours.length === 0) return [];
  const marked: Array<{ tenant_id: string; hour: number; last_error: string | null }> = await db('hourly_archives as h')
    .update({ status: 'failed', updated_at: db.fn.now() })
    .where('h.utc_day', utcDay)
    .whereIn('h.status', ARCHIVE_STATUS_SOURCES.failed)
    .whereRaw('(h.tenant_id, h.hour) in (select * from unnest(?::text[], ?::smallint[]))', [hours.map((h) => h.tenantId), hours.map((h) => h.hour)])
    .returning(['tenant_id', 'hour', 'last_error']);
  return marked.map((row) => ({ tenantId: row.tenant_id, hour: row.hour, lastError: row.last_error }));
}

/** Per-status counts of the run's tenant-hours as they are now. */
export async function countHoursByStatus(db: Knex, scope: RunScope): Promise<StatusCounts> {
  const rows: Array<{ status: ArchiveStatus; count: string | number }> = await inScope(db, scope).select('status').count('* as count').groupBy('status');
  const counts = emptyStatusCounts();
  for (const row of rows) counts[row.status] = Number(row.count);
  return counts;
}

export interface RunHourState extends TenantHour {
  status: ArchiveStatus;
  attempts: number;
  lastError: string | null;
}

/** The run's tenant-hours that have a row, in no particular order: an hour without one has not been queued yet. */
export async function listRunHours(db: Knex, scope: RunScope): Promise<RunHourState[]> {
  const rows: Array<{
    tenant_id: string;
    hour: number;
    status: ArchiveStatus;
    attempts: number;
    last_error: string | null;
  }> = await inScope(db, scope).select('tenant_id', 'hour', 'status', 'attempts', 'last_error');
  return rows.map((row) => ({ tenantId: row.tenant_id, hour: row.hour, status: row.status, attempts: row.attempts, lastError: row.last_error }));
}

/** A tenant's day as a run leaves it: hours by status, and what its available hours hold. */
export interface TenantDaySummary {
  tenantId: string;
  availableHours: number;
  noDataHours: number;
  /** 0-23, ascending. */
  failedHours: number[];
  totalFiles: number;
  totalSizeBytes: number;
}

/** One summary per tenant of the scope, in its order; a tenant without rows has zeros. */
export async function summariseTenantDays(db: Knex, scope: RunScope): Promise<TenantDaySummary[]> {
  const rows: Array<{
    tenant_id: string;
    available: number;
    no_data: number;
    failed_hours: number[];
    total_files: string | number;
    total_size_bytes: string | number;
  }> = await inScope(db, scope)
    .select('tenant_id')
    .select(db.raw("count(*) filter (where status = 'available') as available"))
    .select(db.raw("count(*) filter (where status = 'no_data') as no_data"))
    .select(db.raw("coalesce(array_agg(hour order by hour) filter (where status = 'failed'), '{}') as failed_hours"))
    .select(db.raw("coalesce(sum(file_count) filter (where status = 'available'), 0) as total_files"))
    .select(db.raw("coalesce(sum(size_bytes) filter (where status = 'available'), 0) as total_size_bytes"))
    .groupBy('tenant_id');
  const byTenant = new Map(rows.map((row) => [row.tenant_id, row]));
  return scope.tenantIds.map((tenantId) => {
    const row = byTenant.get(tenantId);
    return {
      tenantId,
      availableHours: Number(row?.available ?? 0),
      noDataHours: Number(row?.no_data ?? 0),
      failedHours: row?.failed_hours ?? [],
      // Sums of bigint columns come back as numeric strings.
      totalFiles: Number(row?.total_files ?? 0),
      totalSizeBytes: Number(row?.total_size_bytes ?? 0),
    };
  });
}
