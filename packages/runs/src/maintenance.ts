import { expireDay, findExpiredDays, findUndeletedExpiredObjects, forgetExpiredObject } from '@dcar/archives';
import { DEFAULT_RETENTION_DAYS, previousUtcDay } from '@dcar/domain';
import { listRetentionDays } from '@dcar/host';
import type { Knex, Logger, MaintenanceJobs } from '@dcar/platform';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import { COORDINATION_JOB_OPTIONS, type RunQueues } from './queues.js';
import type { RunEngineDeps } from './model.js';
import { startRun } from './start-run.js';

const NIGHTLY_SCHEDULER_ID = 'nightly';
const RETENTION_SCHEDULER_ID = 'retention';
/** Hourly, so an archive outlives its expiresAt by at most an hour. */
const RETENTION_CRON = '45 * * * *';

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
function scheduledAt(job: Pick<Job, 'opts' | 'timestamp' | 'delay'>): Date {
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

async function deleteObjects(deps: RetentionDeps, objects: Array<{ id: number; objectKey: string }>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(DELETE_CONCURRENCY, objects.length) }, async () => {
    while (next < objects.length) {
      const object = objects[next++];
      if (!object) return;
      await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.archiveBucket, Key: object.objectKey }));
      await forgetExpiredObject(deps.db, object.id);
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
  const retentionDays = await listRetentionDays(deps.db);
  let days = 0;
  let archives = 0;
  for (;;) {
    const expiredDays = await findExpiredDays(deps.db, { now, retentionDays, defaultRetentionDays: DEFAULT_RETENTION_DAYS, limit: DAYS_PER_PASS });
    if (expiredDays.length === 0) break;
    for (const day of expiredDays) {
      const { withObject } = await expireDay(deps.db, day);
      deps.logger.info({ tenantId: day.tenantId, utcDay: day.utcDay, generatedAt: day.generatedAt.toISOString(), archives: withObject }, 'day expired');
      days += 1;
      archives += withObject;
    }
  }
  for (;;) {
    const undeleted = await findUndeletedExpiredObjects(deps.db, DAYS_PER_PASS);
    if (undeleted.length === 0) break;
    await deleteObjects(deps, undeleted);
  }
  return { days, archives };
}

export async function processRetention(deps: RetentionDeps): Promise<{ days: number; archives: number }> {
  const result = await expireArchives(deps);
  if (result.days > 0) deps.logger.info(result, 'retention clean-up done');
  return result;
}
