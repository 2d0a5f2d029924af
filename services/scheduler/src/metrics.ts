import { countRecentHoursByStatus } from '@dcar/archives';
import { ARCHIVE_STATUSES } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import type { RunQueues } from '@dcar/runs';
import { Gauge, type Registry } from 'prom-client';

/** Days counted back from today by the archive status gauge. */
const RECENT_DAYS = 8;
const JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'waiting-children', 'prioritized'] as const;

/**
 * What an operator watches, read at scrape time: queue depth per queue and state (from Redis), and
 * the tenant-hours of the last eight days per status (from PostgreSQL), so `failed` can be alerted on.
 */
export function registerSchedulerMetrics(registry: Registry, deps: { queues: RunQueues; db: Knex }): void {
  new Gauge({
    name: 'dcar_queue_jobs',
    help: 'Jobs in each BullMQ queue by state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const queue of [deps.queues.archiveHour, deps.queues.archiveRun, deps.queues.maintenance]) {
        const counts = await queue.getJobCounts(...JOB_STATES);
        for (const state of JOB_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      }
    },
  });
  new Gauge({
    name: 'dcar_archive_hours',
    help: 'Tenant-hours of the last 8 UTC days by archive status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await countRecentHoursByStatus(deps.db, RECENT_DAYS);
      this.reset();
      for (const status of ARCHIVE_STATUSES) this.set({ status }, counts[status]);
    },
  });
}
