import { listHourStates, type ListedHourState } from '@dcar/archives';
import { emptyStatusCounts, type StatusCounts } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import type { DayHour } from './model.js';

/** `archive_run_hours`: the tenant-hours of a reconciliation run, recorded when its pass creates it. */

export interface ReconcileRunHour extends DayHour {
  reason: 'changed' | 'failed';
}

export async function insertReconcileRunHours(db: Knex, runId: string, hours: readonly ReconcileRunHour[], chunkSize = 1000): Promise<void> {
  for (let start = 0; start < hours.length; start += chunkSize) {
    await db('archive_run_hours')
      .insert(hours.slice(start, start + chunkSize).map((h) => ({ run_id: runId, tenant_id: h.tenantId, utc_day: h.utcDay, hour: h.hour, reason: h.reason })))
      .onConflict(['run_id', 'tenant_id', 'utc_day', 'hour'])
      .ignore();
  }
}

/** The run's hours page by page in (tenant, day, hour) order (keyset paging). */
export async function* reconcileRunHours(db: Knex, runId: string, pageSize: number): AsyncGenerator<ReconcileRunHour[]> {
  let after: DayHour | null = null;
  for (;;) {
    const query = db('archive_run_hours')
      .select('tenant_id', db.raw('utc_day::text as utc_day'), 'hour', 'reason')
      .where({ run_id: runId })
      .orderBy([{ column: 'tenant_id' }, { column: 'utc_day' }, { column: 'hour' }])
      .limit(pageSize);
    if (after) query.whereRaw('(tenant_id, utc_day, hour) > (?, ?::date, ?)', [after.tenantId, after.utcDay, after.hour]);
    const rows = (await query) as Array<{ tenant_id: string; utc_day: string; hour: number; reason: 'changed' | 'failed' }>;
    if (rows.length === 0) return;
    const page = rows.map((row) => ({ tenantId: row.tenant_id, utcDay: row.utc_day, hour: row.hour, reason: row.reason }));
    yield page;
    after = page[page.length - 1] ?? null;
    if (rows.length < pageSize) return;
  }
}

/** Each hour of a reconciliation run with its current state (pending while it has no row), in (tenant, day, hour) order. */
export async function listReconcileRunHours(db: Knex, runId: string): Promise<Array<ReconcileRunHour & Omit<ListedHourState, keyof DayHour>>> {
  const result: Array<ReconcileRunHour & Omit<ListedHourState, keyof DayHour>> = [];
  for await (const page of reconcileRunHours(db, runId, 1000)) {
    const states = new Map((await listHourStates(db, page)).map((s) => [`${s.tenantId}/${s.utcDay}/${s.hour}`, s]));
    for (const h of page) {
      const state = states.get(`${h.tenantId}/${h.utcDay}/${h.hour}`);
      result.push({ ...h, status: state?.status ?? 'pending', attempts: state?.attempts ?? 0, lastError: state?.lastError ?? null });
    }
  }
  return result;
}

export async function countReconcileRunHours(db: Knex, runId: string): Promise<StatusCounts> {
  const counts = emptyStatusCounts();
  for (const h of await listReconcileRunHours(db, runId)) counts[h.status] += 1;
  return counts;
}

/** The hours of reconciliation runs still going: a new pass leaves them to those runs. */
export async function hoursOfUnfinishedReconcileRuns(db: Knex): Promise<Set<string>> {
  const rows: Array<{ tenant_id: string; utc_day: string; hour: number }> = await db('archive_run_hours as h')
    .join('archive_runs as r', 'r.id', 'h.run_id')
    .where('r.kind', 'reconcile')
    .whereNull('r.finished_at')
    .select('h.tenant_id', db.raw('h.utc_day::text as utc_day'), 'h.hour');
  return new Set(rows.map((row) => dayHourKey({ tenantId: row.tenant_id, utcDay: row.utc_day, hour: row.hour })));
}

export function dayHourKey(h: DayHour): string {
  return `${h.tenantId}/${h.utcDay}/${h.hour}`;
}
