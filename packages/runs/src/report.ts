import { countHoursByStatus, listRunHours } from '@dcar/archives';
import { listReconcileRunHours } from './run-hours.js';
import { ALL_HOURS, emptyStatusCounts, formatHour, type ArchiveStatus, type StatusCounts } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import { runScope, type RoundRecord, type RunKind, type RunRow, type RunState, type RunTrigger } from './model.js';

export interface RunHourReport {
  tenantId: string;
  /** A reconciliation run's hours lie on several days: each names its own. */
  utcDay?: string;
  hour: string;
  status: ArchiveStatus;
  attempts: number;
  lastError: string | null;
}

/** A run as a list shows it: no per-hour detail (its report has it). */
export interface RunSummary {
  runId: string;
  kind: RunKind;
  utcDay: string;
  trigger: RunTrigger;
  force: boolean;
  state: RunState;
  round: number;
  tenantCount: number;
  jobCount: number;
  startedAt: string;
  finishedAt: string | null;
  rounds: RoundRecord[];
}

export function summarizeRun(run: RunRow): RunSummary {
  return {
    runId: run.id,
    kind: run.kind,
    utcDay: run.utc_day,
    trigger: run.trigger,
    force: run.force,
    state: run.state,
    round: run.round,
    tenantCount: run.tenant_count,
    jobCount: run.job_count,
    startedAt: run.started_at.toISOString(),
    finishedAt: run.finished_at ? run.finished_at.toISOString() : null,
    rounds: run.rounds,
  };
}

export interface RunReport extends RunSummary {
  counts: StatusCounts;
  /** Once the run is finished: the tenant-hours whose job failed in its last round, with the error. */
  failedHours: Array<{ tenantId: string; utcDay?: string; hour: string; error: string }>;
  hours: RunHourReport[];
}

/**
 * A run as the host sees it: its rounds and every tenant-hour's current status. Counts are live while
 * the run is going and as recorded at its end afterwards (later clean-ups do not rewrite history).
 */
export async function getRunReport(db: Knex, runId: string): Promise<RunReport | null> {
  const run = (await db('archive_runs').where({ id: runId }).first()) as RunRow | undefined;
  if (!run) return null;
  const reconcile = run.kind === 'reconcile';
  let hours: RunHourReport[];
  if (reconcile) {
    hours = (await listReconcileRunHours(db, run.id)).map((h) => ({
      tenantId: h.tenantId,
      utcDay: h.utcDay,
      hour: formatHour(h.hour),
      status: h.status,
      attempts: h.attempts,
      lastError: h.lastError,
    }));
  } else {
    const byHour = new Map((await listRunHours(db, runScope(run))).map((row) => [`${row.tenantId}/${row.hour}`, row]));
    hours = [...run.tenant_ids].sort().flatMap((tenantId) =>
      ALL_HOURS.map((hour) => {
        const row = byHour.get(`${tenantId}/${hour}`);
        return { tenantId, hour: formatHour(hour), status: row?.status ?? 'pending', attempts: row?.attempts ?? 0, lastError: row?.lastError ?? null };
      }),
    );
  }
  const finished = run.finished_at !== null;
  const failures = finished
    ? ((await db('archive_run_failures')
        .select('tenant_id', db.raw('utc_day::text as utc_day'), 'hour', 'error')
        .where({ run_id: run.id, round: run.round })
        .orderBy([{ column: 'tenant_id' }, { column: 'utc_day' }, { column: 'hour' }])) as Array<{
        tenant_id: string;
        utc_day: string;
        hour: number;
        error: string;
      }>)
    : [];
  let counts: StatusCounts;
  if (finished) counts = { ...emptyStatusCounts(), ...run.counts };
  else if (!reconcile) counts = await countHoursByStatus(db, runScope(run));
  else {
    // A reconciliation run's hours are spread over days: count the ones just listed.
    counts = emptyStatusCounts();
    for (const h of hours) counts[h.status] += 1;
  }
  return {
    ...summarizeRun(run),
    counts,
    failedHours: failures.map((f) => ({ tenantId: f.tenant_id, ...(reconcile ? { utcDay: f.utc_day } : {}), hour: formatHour(f.hour), error: f.error })),
    hours,
  };
}
