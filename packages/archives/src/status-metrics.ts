import { emptyStatusCounts, type ArchiveStatus, type StatusCounts } from '@dcar/domain';
import type { Knex } from '@dcar/platform';

/** Tenant-hours by status, of the UTC days from `daysBack` days before today on, for the operator's dashboards. */
export async function countRecentHoursByStatus(db: Knex, daysBack: number): Promise<StatusCounts> {
  const rows: Array<{ status: ArchiveStatus; count: string | number }> = await db('hourly_archives')
    .select('status')
    .count('* as count')
    .where('utc_day', '>=', db.raw("(now() at time zone 'utc')::date - ?::int", [daysBack]))
    .groupBy('status');
  const counts = emptyStatusCounts();
  for (const row of rows) counts[row.status] = Number(row.count);
  return counts;
}
