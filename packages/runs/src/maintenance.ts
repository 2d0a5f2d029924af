import { expireDay, findExpiredDays, findUndeletedExpiredObjects, forgetExpiredObjects } from '@dcar/archives';
import { DEFAULT_RETENTION_DAYS, previousUtcDay } from '@dcar/domain';
import { listRetentionDays } from '@dcar/host';
import type { Knex, Logger, MaintenanceJobs } from '@dcar/platform';
import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import { COORDINATION_JOB_OPTIONS, type RunQueues } from './queues.js';
import type { RetentionMetrics } from './metrics.js';
import type { RunEngineDeps } from './model.js';
import { reconcile, type ReconcileResult } from './reconcile.js';
import { startRun } from './start-run.js';

const NIGHTLY_SCHEDULER_ID = 'nightly';
const RETENTION_SCHEDULER_ID = 'retention';
/** Hourly, so an archive outlives its expiresAt by at most an hour. */
const RETENTION_CRON = '45 * * * *';
const RECONCILE_SCHEDULER_ID = 'reconcile';
/** RECONCILE_CRON's default: hourly at :45 UTC. */
export const DEFAULT_RECONCILE_CRON = '45 * * * *';

/**
 * Registers the nightly trigger and the hourly clean-up. Every replica calls this at start: BullMQ
 * keeps one scheduler per id and one pending job, so replicas never double a run.
 */
export async function upsertSchedules(queues: RunQueues, nightlyCron: string, reconcileCron: string = DEFAULT_RECONCILE_CRON): Promise<void> {
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
  await queues.maintenance.upsertJobScheduler(
    RECONCILE_SCHEDULER_ID,
    { pattern: reconcileCron, tz: 'UTC' },
    { name: 'reconcile', data: {}, opts: COORDINATION_JOB_OPTIONS },
  );
}

/** Told the result of each scheduled reconciliation pass (the scheduler's metrics). */
export type ReconcileListener = (result: ReconcileResult) => void;

/** A scheduled reconciliation pass; its run is named after the instant it was due. */
export async function processReconcile(
  deps: RunEngineDeps & { onReconciled?: ReconcileListener },
  job: Job<MaintenanceJobs['reconcile']>,
): Promise<ReconcileResult> {
  const result = await reconcile(deps, { trigger: 'scheduled', scheduledAt: scheduledAt(job) });
  deps.onReconciled?.(result);
  return result;
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
  /** Counts expired days and deleted objects (the scheduler's registry); none in tests that do not look. */
  retentionMetrics?: RetentionMetrics;
}

const DAYS_PER_PASS = 200;
/** S3's DeleteObjects takes at most 1,000 keys per request. */
const KEYS_PER_DELETE = 1000;

/**
 * Deletes a page of expired objects with one DeleteObjects request, then forgets the keys the store
 * deleted (a key already gone counts as deleted). Keys the store refused stay recorded and fail the
 * pass with the store's reason: the next hourly pass tries them again.
 */
async function deleteObjects(deps: RetentionDeps, objects: ReadonlyArray<{ id: number; objectKey: string }>): Promise<void> {
  const answer = await deps.s3.send(
    new DeleteObjectsCommand({ Bucket: deps.archiveBucket, Delete: { Objects: objects.map((object) => ({ Key: object.objectKey })), Quiet: true } }),
  );
  const refused = new Map((answer.Errors ?? []).map((error) => [error.Key ?? '', `${error.Code ?? 'error'}: ${error.Message ?? ''}`]));
  const deleted = objects.filter((object) => !refused.has(object.objectKey)).map((object) => object.id);
  await forgetExpiredObjects(deps.db, deleted);
  deps.retentionMetrics?.deletedArchives.inc(deleted.length);
  if (refused.size > 0) {
    const [key, reason] = [...refused][0]!;
    throw new Error(`the store refused to delete ${refused.size} expired archive(s), e.g. ${key} (${reason})`);
  }
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
      deps.retentionMetrics?.expiredDays.inc();
      days += 1;
      archives += withObject;
    }
  }
  for (;;) {
    const undeleted = await findUndeletedExpiredObjects(deps.db, KEYS_PER_DELETE);
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
