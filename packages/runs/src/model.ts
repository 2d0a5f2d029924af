import type { Knex, Logger } from '@dcar/platform';
import type { RunQueues } from './queues.js';

export interface RunEngineDeps {
  db: Knex;
  queues: RunQueues;
  logger: Logger;
  now: () => Date;
}

export type RunTrigger = 'nightly' | 'manual';

/** `queued`: recorded, round 1 not yet added; `failed`: a round could not be enqueued at all. */
export type RunState = 'queued' | 'running' | 'completed' | 'completed_with_failures' | 'failed';

export const ARCHIVE_STATUSES = ['pending', 'available', 'no_data', 'failed', 'expired'] as const;
export type ArchiveStatus = (typeof ARCHIVE_STATUSES)[number];
export type StatusCounts = Record<ArchiveStatus, number>;

/** A round as recorded on the run: `jobs` and `failed` are known once the round is over. */
export interface RoundRecord {
  round: number;
  jobs: number | null;
  failed: number | null;
  startedAt: string;
  finishedAt: string | null;
}

/** The spec's "retry up to two additional times": three rounds in all. */
export const MAX_ROUNDS = 3;

export interface RunRow {
  id: string;
  utc_day: string;
  trigger: RunTrigger;
  force: boolean;
  requested_tenant_ids: string[] | null;
  tenant_ids: string[];
  state: RunState;
  round: number;
  tenant_count: number;
  job_count: number;
  counts: Partial<StatusCounts>;
  rounds: RoundRecord[];
  started_at: Date;
  finished_at: Date | null;
}

export function emptyCounts(): StatusCounts {
  return { pending: 0, available: 0, no_data: 0, failed: 0, expired: 0 };
}

/** Per-status counts of the run's tenant-hours as they are now. */
export async function countRunHours(db: Knex, run: Pick<RunRow, 'utc_day' | 'tenant_ids'>): Promise<StatusCounts> {
  const rows = (await db('hourly_archives')
    .select('status')
    .count<Array<{ status: ArchiveStatus; count: string | number }>>('* as count')
    .where('utc_day', run.utc_day)
    .whereRaw('tenant_id = any(?::text[])', [run.tenant_ids])
    .groupBy('status')) as Array<{ status: ArchiveStatus; count: string | number }>;
  const counts = emptyCounts();
  for (const row of rows) counts[row.status] = Number(row.count);
  return counts;
}
