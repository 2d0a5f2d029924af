import { DEFAULT_RETENTION_DAYS, previousUtcDay } from '@dcar/domain';
import type { Knex, Logger, MaintenanceJobs } from '@dcar/platform';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import { COORDINATION_JOB_OPTIONS, type RunQueues } from './queues.js';
import type { RunEngineDeps } from './model.js';
import { startRun } from './start-run.js';

export const NIGHTLY_SCHEDULER_ID = 'nightly';
export const RETENTION_SCHEDULER_ID = 'retention';
/** Hourly, so an archive outlives its expiresAt by at most an hour. */
export const RETENTION_CRON = '45 * * * *';

/**
 * Registers the nightly trigger and the hourly clean-up. Every replica calls this at start: BullMQ
 * keeps one scheduler per id and one pending job, so replicas never double a run.
 */
export async function upsertSchedules(queues: RunQueues, nightlyCron: string): Promise<void> {
  await queues.maintenance.upsertJobScheduler(
    NIGHTLY_SCHEDULER_ID,
    { pattern: nightlyCron, tz: 'UTC' },
    { name: 'nightly', data: {}, opts: COORDINATION_JOB_OPTIONS },
  );
  await queues.maintenance.upsertJobScheduler(
    RETENTION_SCHEDULER_ID,
    { pattern: RETENTION_CRON, tz: 'UTC' },
    { name: 'retention', data: {}, opts: COORDINATION_JOB_OPTIONS },
  );
}

/**
 * The instant a scheduler job was due. The day to archive follows from it, not from the wall clock,
 * so a job that runs late (scheduler down at midnight) still archives the day it was meant for.
 */
export function scheduledAt(job: Pick<Job, 'opts' | 'timestamp' | 'delay'>): Date {
  return new Date(job.opts.prevMillis ?? job.timestamp + job.delay);
}

export async function processNightly(deps: RunEngineDeps, job: Job<MaintenanceJobs['nightly']>): Promise<{ runId: string; created: boolean }> {
  const utcDay = previousUtcDay(scheduledAt(job));
  return startRun(deps, { utcDay, trigger: 'nightly' });
}

export interface RetentionDeps {
  db: Knex;
  s3: S3Client;
  archiveBucket: string;
  logger: Logger;
  now: () => Date;
}

const DAYS_PER_PASS = 200;
const DELETE_CONCURRENCY = 8;

async function deleteObjects(deps: RetentionDeps, rows: Array<{ id: number; object_key: string }>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(DELETE_CONCURRENCY, rows.length) }, async () => {
    while (next < rows.length) {
      const row = rows[next++];
      if (!row) return;
      await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.archiveBucket, Key: row.object_key }));
      await deps.db('hourly_archives').where({ id: row.id, status: 'expired' }).update({ object_key: null, updated_at: deps.db.fn.now() });
    }
  });
  await Promise.all(workers);
}

/**
 * Deletes every archive whose day has passed its expiresAt (the day's latest generatedAt plus the
 * tenant's current retention) and marks its rows `expired`, keeping generatedAt and counts for audit.
 * It looks at the retention only, never at the feature flag: disabling the feature keeps the archives
 * until their retention passes. Rows are marked before their objects are deleted, and an expired row
 * keeps its object_key until the object is gone, so a crash in between is finished by the next pass.
 */
export async function expireArchives(deps: RetentionDeps): Promise<{ days: number; archives: number }> {
  const now = deps.now();
  let days = 0;
  let archives = 0;
  for (;;) {
    const expiredDays = (await deps.db('hourly_archives as h')
      .leftJoin('tenant_feature_settings as f', 'f.tenant_id', 'h.tenant_id')
      .select('h.tenant_id', 'h.utc_day')
      .max('h.generated_at as generated_at')
      .groupBy('h.tenant_id', 'h.utc_day', 'f.retention_days')
      .havingRaw("count(*) filter (where h.status in ('available', 'no_data')) > 0")
      .havingRaw(`max(h.generated_at) + make_interval(days => coalesce(f.retention_days, ${DEFAULT_RETENTION_DAYS})) <= ?`, [now])
      .orderBy(['h.utc_day', 'h.tenant_id'])
      .limit(DAYS_PER_PASS)) as Array<{ tenant_id: string; utc_day: string; generated_at: Date }>;
    if (expiredDays.length === 0) break;
    for (const day of expiredDays) {
      const marked = (await deps.db('hourly_archives')
        .where({ tenant_id: day.tenant_id, utc_day: day.utc_day })
        .whereIn('status', ['available', 'no_data'])
        .update({ status: 'expired', updated_at: deps.db.fn.now() })
        .returning('object_key')) as Array<{ object_key: string | null }>;
      const withObject = marked.filter((row) => row.object_key !== null).length;
      deps.logger.info({ tenantId: day.tenant_id, utcDay: day.utc_day, generatedAt: day.generated_at.toISOString(), archives: withObject }, 'day expired');
      days += 1;
      archives += withObject;
    }
  }
  for (;;) {
    const pending = (await deps.db('hourly_archives')
      .select('id', 'object_key')
      .where({ status: 'expired' })
      .whereNotNull('object_key')
      .orderBy('id')
      .limit(DAYS_PER_PASS)) as Array<{ id: number; object_key: string }>;
    if (pending.length === 0) break;
    await deleteObjects(deps, pending);
  }
  return { days, archives };
}

export async function processRetention(deps: RetentionDeps): Promise<{ days: number; archives: number }> {
  const result = await expireArchives(deps);
  if (result.days > 0) deps.logger.info(result, 'retention clean-up done');
  return result;
}
