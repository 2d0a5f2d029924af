import { parseUtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import { Counter, type Registry } from 'prom-client';
import type { RunRow } from './model.js';

/** What the hourly retention clean-up removed: tenant-days expired and archive objects deleted from the store. */
export interface RetentionMetrics {
  expiredDays: Counter;
  deletedArchives: Counter;
}

export function createRetentionMetrics(registry: Registry): RetentionMetrics {
  return {
    expiredDays: new Counter({
      name: 'dcar_retention_expired_days_total',
      help: 'Tenant-days whose retention passed and whose hours were marked expired',
      registers: [registry],
    }),
    deletedArchives: new Counter({
      name: 'dcar_retention_deleted_archives_total',
      help: 'Archive objects (hourly ZIPs) deleted from the store by the retention clean-up',
      registers: [registry],
    }),
  };
}

/** A run that is over (its failures, if any, recorded): what "the night is done" means. */
const FINISHED_STATES: RunRow['state'][] = ['completed', 'completed_with_failures'];

/** The nightly runs of the days from `sinceDay` on that have finished, with when they finished. */
export async function findFinishedNightlyRuns(db: Knex, sinceDay: string): Promise<Array<{ utcDay: string; finishedAt: Date }>> {
  if (!parseUtcDay(sinceDay)) throw new Error(`not a UTC day: ${sinceDay}`);
  const rows = (await db('archive_runs')
    .select('utc_day', 'finished_at')
    .where({ trigger: 'nightly' })
    .where('utc_day', '>=', sinceDay)
    .whereIn('state', FINISHED_STATES)
    .whereNotNull('finished_at')
    .orderBy('utc_day')) as Array<Pick<RunRow, 'utc_day' | 'finished_at'>>;
  return rows.map((row) => ({ utcDay: row.utc_day, finishedAt: row.finished_at! }));
}

/** The newest day whose nightly run finished, however long ago; null when none has. */
export async function lastFinishedNightlyDay(db: Knex): Promise<string | null> {
  const row = (await db('archive_runs')
    .where({ trigger: 'nightly' })
    .whereIn('state', FINISHED_STATES)
    .whereNotNull('finished_at')
    .max('utc_day as day')
    .first()) as { day: string | null } | undefined;
  return row?.day ?? null;
}
