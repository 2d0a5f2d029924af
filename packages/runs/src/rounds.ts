import { countHoursByStatus, markFailed, markPending, summariseTenantDays, withoutAvailableHours } from '@dcar/archives';
import { formatHour, HOURS_PER_DAY, ALL_HOURS } from '@dcar/domain';
import { QueueNames, archiveHourJobId, enqueueRoundJobId, roundParentJobId, type ArchiveHourJobData, type ArchiveRunJobs, type Knex } from '@dcar/platform';
import { emitDaysCompleted, type DayCompletedData } from '@dcar/webhooks';
import type { Job } from 'bullmq';
import { ARCHIVE_HOUR_JOB_OPTIONS, COORDINATION_JOB_OPTIONS, type RunQueues } from './queues.js';
import { MAX_ROUNDS, runScope, type DayHour, type RoundEngineDeps, type RoundRecord, type RunEngineDeps, type RunRow } from './model.js';
import { countReconcileRunHours, reconcileRunHours } from './run-hours.js';

/** Jobs added per `addBulk` call and rows per statement: bounds memory whatever the number of tenants. */
const ENQUEUE_CHUNK_SIZE = 1000;
const TENANTS_PER_CHUNK = Math.max(1, Math.floor(ENQUEUE_CHUNK_SIZE / HOURS_PER_DAY));
const MAX_ERROR_LENGTH = 500;

/**
 * Adds a round: a `round-complete` parent whose first child is the `enqueue-round` job. The parent
 * cannot run before the enqueue job has finished adding every hour job as a further child, and then
 * runs once all of them completed or failed. Ids are deterministic, so adding a round twice adds nothing.
 * With `delayMs`, the enqueue job is a BullMQ delayed job: Redis holds the round back, no process
 * waits for it, and whichever scheduler replica is there when it is due runs it.
 */
export async function addRoundFlow(queues: RunQueues, runId: string, round: number, delayMs = 0): Promise<void> {
  const data: ArchiveRunJobs['round-complete'] = { runId, round };
  await queues.flows.add({
    name: 'round-complete',
    queueName: QueueNames.archiveRun,
    data,
    opts: { ...COORDINATION_JOB_OPTIONS, jobId: roundParentJobId(runId, round) },
    children: [
      {
        name: 'enqueue-round',
        queueName: QueueNames.archiveRun,
        data,
        // A failed enqueue must still let the parent run, which then records the run as failed.
        opts: {
          ...COORDINATION_JOB_OPTIONS,
          jobId: enqueueRoundJobId(runId, round),
          ignoreDependencyOnFailure: true,
          ...(delayMs > 0 ? { delay: delayMs } : {}),
        },
      },
    ],
  });
}

async function loadRun(db: Knex, runId: string): Promise<RunRow> {
  const run = (await db('archive_runs').where({ id: runId }).first()) as RunRow | undefined;
  if (!run) throw new Error(`run ${runId} not found`);
  return run;
}

/** Replaces one round's record on the run, under a row lock so concurrent rounds' updates never lose each other. */
async function updateRound(
  db: Knex,
  runId: string,
  round: number,
  change: (current: RoundRecord | undefined) => RoundRecord,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await db.transaction(async (trx) => {
    const run: Pick<RunRow, 'rounds'> | undefined = await trx('archive_runs').where({ id: runId }).forUpdate().first('rounds');
    if (!run) throw new Error(`run ${runId} not found`);
    const rounds = run.rounds.filter((r) => r.round !== round);
    rounds.push(change(run.rounds.find((r) => r.round === round)));
    rounds.sort((a, b) => a.round - b.round);
    const jobCount = rounds.reduce((sum, r) => sum + (r.jobs ?? 0), 0);
    await trx('archive_runs')
      .where({ id: runId })
      .update({ rounds: JSON.stringify(rounds), job_count: jobCount, ...extra });
  });
}

/** Round 1: every hour of every tenant of the run, in pages of whole tenants. */
function* roundOneHours(run: RunRow): Generator<DayHour[]> {
  for (let start = 0; start < run.tenant_ids.length; start += TENANTS_PER_CHUNK) {
    yield run.tenant_ids.slice(start, start + TENANTS_PER_CHUNK).flatMap((tenantId) => ALL_HOURS.map((hour) => ({ tenantId, utcDay: run.utc_day, hour })));
  }
}

/** The hours of a page by day, for the per-day statements on hourly_archives. */
function byDay<T extends DayHour>(hours: readonly T[]): Map<string, T[]> {
  const days = new Map<string, T[]>();
  for (const h of hours) {
    const day = days.get(h.utcDay);
    if (day) day.push(h);
    else days.set(h.utcDay, [h]);
  }
  return days;
}

/** The run's tenant-hours by status as they are now. */
export async function countRunHours(db: Knex, run: RunRow) {
  return run.kind === 'reconcile' ? countReconcileRunHours(db, run.id) : countHoursByStatus(db, runScope(run));
}

/**
 * The tenant-hours that failed in a round of a run, with their errors, page by page in
 * (tenant, hour) order: each page starts after the last row of the one before (keyset paging).
 */
async function* runFailures(db: Knex, runId: string, round: number): AsyncGenerator<Array<DayHour & { error: string }>> {
  let after: DayHour | null = null;
  for (;;) {
    const query = db('archive_run_failures')
      .select('tenant_id', db.raw('utc_day::text as utc_day'), 'hour', 'error')
      .where({ run_id: runId, round })
      .orderBy([{ column: 'tenant_id' }, { column: 'utc_day' }, { column: 'hour' }])
      .limit(ENQUEUE_CHUNK_SIZE);
    if (after) query.whereRaw('(tenant_id, utc_day, hour) > (?, ?::date, ?)', [after.tenantId, after.utcDay, after.hour]);
    const rows = (await query) as Array<{ tenant_id: string; utc_day: string; hour: number; error: string }>;
    if (rows.length === 0) return;
    const page = rows.map((row) => ({ tenantId: row.tenant_id, utcDay: row.utc_day, hour: row.hour, error: row.error }));
    yield page;
    after = page[page.length - 1] ?? null;
    if (rows.length < ENQUEUE_CHUNK_SIZE) return;
  }
}

/**
 * `enqueue-round`: adds the round's tenant-hour jobs as children of the round's parent, in chunks.
 * A retry after a crash re-adds the same ids, which BullMQ ignores, so nothing is added twice.
 */
export async function processEnqueueRound(deps: RunEngineDeps, job: Job<ArchiveRunJobs['enqueue-round']>): Promise<{ jobs: number }> {
  const { runId, round } = job.data;
  const run = await loadRun(deps.db, runId);
  const log = deps.logger.child({ runId, utcDay: run.utc_day, round, jobId: job.id });
  await updateRound(deps.db, runId, round, (current) => current ?? { round, jobs: null, failed: null, startedAt: deps.now().toISOString(), finishedAt: null }, {
    state: 'running',
    round,
  });

  const parent = { id: roundParentJobId(runId, round), queue: deps.queues.archiveRun.qualifiedName };
  let jobs = 0;
  // Later rounds redo the hours that failed in the round before.
  // A reconciliation run's round 1 is the hours its pass found; its jobs regenerate available hours
  // too (unless their rows turn out unchanged), so they are not filtered here.
  const reconcile = run.kind === 'reconcile';
  const pages = round === 1 ? (reconcile ? reconcileRunHours(deps.db, runId, ENQUEUE_CHUNK_SIZE) : roundOneHours(run)) : runFailures(deps.db, runId, round - 1);
  for await (const page of pages) {
    for (const [utcDay, dayHours] of byDay(page)) {
      const hours = run.force || reconcile ? dayHours : await withoutAvailableHours(deps.db, utcDay, dayHours);
      await markPending(deps.db, utcDay, hours);
      await deps.queues.archiveHour.addBulk(
        hours.map((h) => {
          const data: ArchiveHourJobData = {
            runId,
            tenantId: h.tenantId,
            utcDay,
            hour: h.hour,
            round,
            force: run.force,
            ...(reconcile ? { reconcile: true } : {}),
          };
          return { name: 'archive-hour', data, opts: { ...ARCHIVE_HOUR_JOB_OPTIONS, jobId: archiveHourJobId(data), parent } };
        }),
      );
      jobs += hours.length;
    }
  }
  // The round's size is known now: the run report shows it while the round runs (its end records it again).
  await updateRound(deps.db, runId, round, (current) => ({
    ...(current ?? { round, failed: null, startedAt: deps.now().toISOString(), finishedAt: null }),
    jobs,
  }));
  log.info({ jobs }, 'round enqueued');
  return { jobs };
}

/** Reads a tenant-hour back from its job id `{runId}.{tenantId}.{utcDay}.{HH}.r{round}` (no part contains a dot). */
function parseArchiveHourJobId(jobId: string): { runId: string; tenantId: string; utcDay: string; hour: number; round: number } | null {
  const match = /^([^.]+)\.([^.]+)\.(\d{4}-\d{2}-\d{2})\.(\d{2})\.r(\d+)$/.exec(jobId);
  if (!match) return null;
  const [, runId, tenantId, utcDay, hour, round] = match;
  if (runId === undefined || tenantId === undefined || utcDay === undefined) return null;
  return { runId, tenantId, utcDay, hour: Number(hour), round: Number(round) };
}

/** Pages through the parent's failed children (BullMQ keeps them because of ignoreDependencyOnFailure). */
async function recordFailures(deps: RunEngineDeps, job: Job, run: RunRow, round: number): Promise<{ failed: number; enqueueError: string | null }> {
  const hourKeyPrefix = `${deps.queues.archiveHour.qualifiedName}:`;
  const enqueueKey = `${deps.queues.archiveRun.qualifiedName}:${enqueueRoundJobId(run.id, round)}`;
  let enqueueError: string | null = null;
  let cursor = 0;
  do {
    const page = await job.getDependencies({ ignored: { cursor, count: ENQUEUE_CHUNK_SIZE } });
    cursor = page.nextIgnoredCursor ?? 0;
    const rows: Array<{ run_id: string; round: number; tenant_id: string; utc_day: string; hour: number; error: string }> = [];
    for (const [key, reason] of Object.entries(page.ignored ?? {})) {
      const error = String(reason).slice(0, MAX_ERROR_LENGTH);
      if (key === enqueueKey) {
        enqueueError = error;
        continue;
      }
      const parsed = key.startsWith(hourKeyPrefix) ? parseArchiveHourJobId(key.slice(hourKeyPrefix.length)) : null;
      if (!parsed || parsed.runId !== run.id) {
        deps.logger.warn({ runId: run.id, round, key }, 'ignoring an unexpected failed child');
        continue;
      }
      rows.push({ run_id: run.id, round, tenant_id: parsed.tenantId, utc_day: parsed.utcDay, hour: parsed.hour, error });
    }
    if (rows.length > 0) await deps.db('archive_run_failures').insert(rows).onConflict(['run_id', 'round', 'tenant_id', 'utc_day', 'hour']).ignore();
  } while (cursor !== 0);
  const [row]: Array<{ count: string | number }> = await deps.db('archive_run_failures').where({ run_id: run.id, round }).count('* as count');
  return { failed: Number(row?.count ?? 0), enqueueError };
}

/** After the last round: the hours still failing (and not available from an earlier run) become `failed`, each logged. */
async function markRunFailures(deps: RunEngineDeps, run: RunRow, round: number): Promise<void> {
  for await (const page of runFailures(deps.db, run.id, round)) {
    for (const [utcDay, failures] of byDay(page)) {
      const marked = await markFailed(deps.db, utcDay, failures);
      const errors = new Map(failures.map((f) => [`${f.tenantId}/${f.hour}`, f.error]));
      for (const m of marked) {
        deps.logger.error(
          {
            runId: run.id,
            tenantId: m.tenantId,
            utcDay,
            hour: formatHour(m.hour),
            rounds: round,
            lastError: m.lastError ?? errors.get(`${m.tenantId}/${m.hour}`),
          },
          'tenant-hour failed in every round',
        );
      }
    }
  }
}

/** The tenants a round covered: every tenant of the run in round 1, then those with a failed hour in the previous round. */
async function tenantsOfRound(db: Knex, run: RunRow, round: number): Promise<string[]> {
  if (round === 1) return run.tenant_ids;
  const rows = (await db('archive_run_failures')
    .distinct('tenant_id')
    .where({ run_id: run.id, round: round - 1 })) as Array<{ tenant_id: string }>;
  return rows.map((row) => row.tenant_id);
}

async function tenantsWithFailures(db: Knex, runId: string, round: number): Promise<Set<string>> {
  const rows = (await db('archive_run_failures').distinct('tenant_id').where({ run_id: runId, round })) as Array<{ tenant_id: string }>;
  return new Set(rows.map((row) => row.tenant_id));
}

/** What day.completed tells a tenant: its hours by status and the available hours' totals, as they are now. */
async function daySummaries(db: Knex, run: RunRow, tenantIds: string[]): Promise<DayCompletedData[]> {
  const summaries = await summariseTenantDays(db, { utcDay: run.utc_day, tenantIds });
  return summaries.map((summary) => ({
    tenantId: summary.tenantId,
    utcDay: run.utc_day,
    runId: run.id,
    availableHours: summary.availableHours,
    noDataHours: summary.noDataHours,
    failedHours: summary.failedHours.map(formatHour),
    totalFiles: summary.totalFiles,
    totalSizeBytes: summary.totalSizeBytes,
  }));
}

/**
 * Sends day.completed to the tenants the run has finished with after `round`: all the round's
 * tenants after the run's last round, otherwise those without a failed hour in it (they have no
 * further round). Runs after the round's own work is recorded and never fails it: a problem is
 * logged and archiving carries on. A retried step emits again, which the events' idempotency keys
 * turn into no-ops.
 */
async function notifyDaysCompleted(deps: RunEngineDeps, run: RunRow, round: number, lastRound: boolean): Promise<void> {
  // A reconciliation run announces each regenerated hour instead (hour.regenerated, from the worker).
  if (run.kind === 'reconcile') return;
  const emitDeps = { db: deps.db, queue: deps.queues.webhookDelivery, logger: deps.logger, now: deps.now };
  try {
    const retried = lastRound ? new Set<string>() : await tenantsWithFailures(deps.db, run.id, round);
    const finished = (await tenantsOfRound(deps.db, run, round)).filter((tenantId) => !retried.has(tenantId));
    for (let start = 0; start < finished.length; start += ENQUEUE_CHUNK_SIZE) {
      await emitDaysCompleted(emitDeps, await daySummaries(deps.db, run, finished.slice(start, start + ENQUEUE_CHUNK_SIZE)));
    }
  } catch (error) {
    deps.logger.error({ err: error, runId: run.id, utcDay: run.utc_day, round }, 'could not find the tenants finished for day.completed');
  }
}

/**
 * `round-complete`: runs once every job of the round completed or failed. Records the round, then
 * either adds the next round with the failed tenant-hours or, after the last round, finishes the run.
 */
export async function processRoundComplete(
  deps: RoundEngineDeps,
  job: Job<ArchiveRunJobs['round-complete']>,
): Promise<{ failed: number; nextRound: number | null }> {
  const { runId, round } = job.data;
  const run = await loadRun(deps.db, runId);
  const log = deps.logger.child({ runId, utcDay: run.utc_day, round, jobId: job.id });
  const { failed, enqueueError } = await recordFailures(deps, job, run, round);
  const children = await job.getDependenciesCount({ processed: true, ignored: true });
  const jobs = (children.processed ?? 0) + (children.ignored ?? 0) - 1;
  const finishedAt = deps.now();
  await updateRound(deps.db, runId, round, (current) => ({
    round,
    jobs,
    failed,
    startedAt: current?.startedAt ?? finishedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
  }));

  if (enqueueError !== null) {
    // No day.completed either: the run produced nothing for the round's tenants, there is no day to announce.
    log.error({ err: enqueueError }, 'round could not be enqueued; run failed');
    await deps
      .db('archive_runs')
      .where({ id: runId })
      .update({ state: 'failed', counts: JSON.stringify(await countRunHours(deps.db, run)), finished_at: finishedAt });
    return { failed, nextRound: null };
  }
  if (failed > 0 && round < MAX_ROUNDS) {
    // CONTRACT §1: the next round starts RETRY_ROUND_DELAY_SECONDS after this one ended, so a short
    // outage of the store does not use up every round.
    const nextRoundAt = new Date(finishedAt.getTime() + deps.retryRoundDelayMs).toISOString();
    log.warn({ jobs, failed, nextRound: round + 1, nextRoundAt }, 'round finished with failures; retrying them in the next round');
    await addRoundFlow(deps.queues, runId, round + 1, deps.retryRoundDelayMs);
    await notifyDaysCompleted(deps, run, round, false);
    return { failed, nextRound: round + 1 };
  }

  await markRunFailures(deps, run, round);
  const counts = await countRunHours(deps.db, run);
  // A forced re-run whose hour failed three times leaves the earlier archive available, yet the run did fail there.
  const state = failed > 0 ? 'completed_with_failures' : 'completed';
  await deps
    .db('archive_runs')
    .where({ id: runId })
    .update({ state, counts: JSON.stringify(counts), finished_at: finishedAt });
  log.info({ jobs, failed, counts, state }, 'run finished');
  await notifyDaysCompleted(deps, run, round, true);
  return { failed, nextRound: null };
}
