import { countRecentHoursByStatus } from '@dcar/archives';
import { ARCHIVE_STATUSES, addUtcDays, parseUtcDay, startOfUtcDay, utcDayOf, type UtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import { findFinishedNightlyRuns, lastFinishedNightlyDay, type ReconcileResult, type RunQueues } from '@dcar/runs';
import { Counter, Gauge, type Registry } from 'prom-client';

/** Days counted back from today by the archive status gauge. */
const RECENT_DAYS = 8;
const JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'waiting-children', 'prioritized'] as const;

/** How long a scrape waits for Redis or PostgreSQL before it answers without their figures. */
const COLLECT_TIMEOUT_MS = 2000;

/**
 * A figure read at scrape time, or undefined when its store does not answer in time: a Redis or
 * PostgreSQL that is away must not keep /metrics from answering (the scheduler's consumer
 * connections wait for Redis without a limit), and the gauges keep their last values meanwhile.
 */
async function readWithin<T>(read: () => Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      read(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), COLLECT_TIMEOUT_MS);
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What an operator watches, read at scrape time: queue depth per queue and state (from Redis), and
 * the tenant-hours of the last eight days per status (from PostgreSQL), so `failed` can be alerted on.
 */
export function registerSchedulerMetrics(registry: Registry, deps: { queues: RunQueues; db: Knex; now?: () => Date }): void {
  const now = deps.now ?? (() => new Date());
  new Gauge({
    name: 'dcar_queue_jobs',
    help: 'Jobs in each BullMQ queue by state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      const queues = [deps.queues.archiveHour, deps.queues.archiveRun, deps.queues.maintenance];
      const counts = await Promise.all(queues.map((queue) => readWithin(() => queue.getJobCounts(...JOB_STATES))));
      queues.forEach((queue, index) => {
        const queueCounts = counts[index];
        if (queueCounts) for (const state of JOB_STATES) this.set({ queue: queue.name, state }, queueCounts[state] ?? 0);
      });
    },
  });
  new Gauge({
    name: 'dcar_archive_hours',
    help: 'Tenant-hours of the last 8 UTC days by archive status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await readWithin(() => countRecentHoursByStatus(deps.db, RECENT_DAYS));
      if (!counts) return;
      this.reset();
      for (const status of ARCHIVE_STATUSES) this.set({ status }, counts[status]);
    },
  });
  // When yesterday's night is done. Per day for the dashboards (0: not finished, or no nightly run yet),
  // and the newest finished day for the alert (see docs/operations.md): at 06:00 it must be yesterday.
  new Gauge({
    name: 'dcar_nightly_run_finished_timestamp_seconds',
    help: 'When the nightly run of each of the last 8 UTC days finished (Unix seconds; 0 while it has not)',
    labelNames: ['utc_day'],
    registers: [registry],
    async collect() {
      const today = utcDayOf(now());
      const days: UtcDay[] = Array.from({ length: RECENT_DAYS }, (_, i) => addUtcDays(today, i - RECENT_DAYS));
      const runs = await readWithin(() => findFinishedNightlyRuns(deps.db, days[0]!));
      if (!runs) return;
      const finished = new Map(runs.map((run) => [run.utcDay, run.finishedAt]));
      this.reset();
      for (const day of days) this.set({ utc_day: day }, (finished.get(day)?.getTime() ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'dcar_nightly_run_last_finished_day_timestamp_seconds',
    help: 'Start (00:00 UTC, Unix seconds) of the newest UTC day whose nightly run finished; 0 when none has',
    registers: [registry],
    async collect() {
      const day = await readWithin(() => lastFinishedNightlyDay(deps.db));
      if (day === undefined) return;
      const parsed = day ? parseUtcDay(day) : null;
      this.set(parsed ? startOfUtcDay(parsed).getTime() / 1000 : 0);
    },
  });
}

/**
 * The scheduled reconciliation passes' results (CONTRACT §3.3), counted by the replica that ran
 * each pass, all present at zero: hours compared, hours whose source rows changed, failed hours
 * retried, and passes. Sum them over replicas.
 */
export function registerReconcileMetrics(registry: Registry): { record: (result: ReconcileResult) => void } {
  const passes = new Counter({ name: 'dcar_reconcile_passes_total', help: 'Scheduled reconciliation passes run', registers: [registry] });
  const checked = new Counter({
    name: 'dcar_reconcile_checked_hours_total',
    help: 'Archived tenant-hours compared with their source rows',
    registers: [registry],
  });
  const changed = new Counter({
    name: 'dcar_reconcile_changed_hours_total',
    help: 'Tenant-hours found changed and queued for regeneration',
    registers: [registry],
  });
  const retried = new Counter({
    name: 'dcar_reconcile_retried_hours_total',
    help: 'Failed tenant-hours queued again by reconciliation',
    registers: [registry],
  });
  return {
    record: (result) => {
      passes.inc();
      checked.inc(result.checkedHours);
      changed.inc(result.changedHours.length);
      retried.inc(result.retriedHours.length);
    },
  };
}
