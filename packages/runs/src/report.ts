import { countHoursByStatus, listRunHours } from '@dcar/archives';
import { ALL_HOURS, emptyStatusCounts, formatHour, type ArchiveStatus, type StatusCounts } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import { runScope, type RoundRecord, type RunRow, type RunState, type RunTrigger } from './model.js';

export interface RunHourReport {
  tenantId: string;
  hour: string;
  status: ArchiveStatus;
  attempts: number;
  lastError: string | null;
}

export interface RunReport {
  runId: string;
  utcDay: string;
  trigger: RunTrigger;
  force: boolean;
  state: RunState;
  round: number;
  startedAt: string;
  finishedAt: string | null;
  tenantCount: number;
  jobCount: number;
  counts: StatusCounts;
  rounds: RoundRecord[];
  /** Once the run is finished: the tenant-hours whose job failed in its last round, with the error. */
  failedHours: Array<{ tenantId: string; hour: string; error: string }>;
  hours: RunHourReport[];
}

/**
 * A run as the host sees it: its rounds and every tenant-hour's current status. Counts are live while
 * the run is going and as recorded at its end afterwards (later clean-ups do not rewrite history).
 */
export async function getRunReport(db: Knex, runId: string): Promise<RunReport | null> {
  const run = (await db('archive_runs').where({ id: runId }).first()) as RunRow | undefined;
  if (!run) return null;
  const byHour = new Map((await listRunHours(db, runScope(run))).map((row) => [`${row.tenantId}/${row.hour}`, row]));
  const hours: RunHourReport[] = [...run.tenant_ids].sort().flatMap((tenantId) =>
    ALL_HOURS.map((hour) => {
      const row = byHour.get(`${tenantId}/${hour}`);
      return { tenantId, hour: formatHour(hour), status: row?.status ?? 'pending', attempts: row?.attempts ?? 0, lastError: row?.lastError ?? null };
    }),
  );
  const finished = run.finished_at !== null;
  const failures = finished
    ? ((await db('archive_run_failures')
        .select('tenant_id', 'hour', 'error')
        .where({ run_id: run.id, round: run.round })
        .orderBy([{ column: 'tenant_id' }, { column: 'hour' }])) as Array<{ tenant_id: string; hour: number; error: string }>)
    : [];
  return {
    runId: run.id,
    utcDay: run.utc_day,
    trigger: run.trigger,
    force: run.force,
    state: run.state,
    round: run.round,
    startedAt: run.started_at.toISOString(),
    finishedAt: run.finished_at ? run.finished_at.toISOString() : null,
    tenantCount: run.tenant_count,
    jobCount: run.job_count,
    counts: finished ? { ...emptyStatusCounts(), ...run.counts } : await countHoursByStatus(db, runScope(run)),
    rounds: run.rounds,
    failedHours: failures.map((f) => ({ tenantId: f.tenant_id, hour: formatHour(f.hour), error: f.error })),
    hours,
  };
}
