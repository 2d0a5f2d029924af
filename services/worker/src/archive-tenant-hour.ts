import { rm } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { findArchiveStatus, findHourFiles, lockHour, recordFailure, recordResult, type HourKey } from '@dcar/archives';
import { archiveKey, formatHour, GENERATED_STATUSES, isHour, parseUtcDay } from '@dcar/domain';
import type { ArchiveHourJobData, Knex, Logger } from '@dcar/platform';
import { buildArchive, DEFAULT_BATCH_LIMITS, type BatchLimits } from './archive-builder.js';
import { archiveObject } from './archive-object.js';
import type { WorkerMetrics } from './metrics.js';
import type { Transcoder } from './transcoder.js';
import { createWorkDirectory } from './work-directories.js';

export interface TenantHourArchiverDeps {
  db: Knex;
  s3: S3Client;
  buckets: { source: string; archive: string };
  logger: Logger;
  metrics: WorkerMetrics;
  transcoder: Transcoder;
  now: () => Date;
  /** Parent of the per-job spool directories. */
  tempDirectory: string;
  transcodeConcurrency: number;
  downloadConcurrency?: number;
  batchLimits?: BatchLimits;
  partSizeBytes?: number;
}

export interface TenantHourContext {
  jobId: string;
  /** Aborted when the process must stop: the job is then left for another worker, not failed. */
  signal: AbortSignal;
}

export type ArchiveHourSummary =
  | {
      outcome: 'available';
      objectKey: string;
      sha256: string;
      sizeBytes: number;
      fileCount: number;
      sessionCount: number;
      files: { converted: number; missing: number; unconvertible: number };
    }
  | { outcome: 'no_data' }
  | { outcome: 'skipped'; status: string };

export class InvalidJobError extends Error {
  override name = 'InvalidJobError';
}

function hourKeyOf(data: ArchiveHourJobData): HourKey {
  const utcDay = typeof data.utcDay === 'string' ? parseUtcDay(data.utcDay) : null;
  if (!utcDay || !isHour(data.hour) || typeof data.tenantId !== 'string' || data.tenantId === '' || typeof data.runId !== 'string') {
    throw new InvalidJobError('job data is not a valid ArchiveHourJobData');
  }
  return { tenantId: data.tenantId, utcDay, hour: data.hour };
}

/** The one line stored in `last_error`: the error's kind and message, bounded, without query strings. */
export function shortErrorMessage(error: unknown): string {
  const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
  return `${name}: ${message}`.replace(/\?\S*/g, '?…').replace(/\s+/g, ' ').slice(0, 500);
}

/**
 * The tenant-hour's work (CONTRACT §3.2): archive every source file of the hour into one ZIP, or
 * record `no_data`, and record the outcome with the hour's archive state. Holding the hour's lock
 * for the whole run makes concurrent runs of one hour queue up instead of racing on the object.
 */
export function createTenantHourArchiver(deps: TenantHourArchiverDeps) {
  const batchLimits = deps.batchLimits ?? DEFAULT_BATCH_LIMITS;
  const downloadConcurrency = deps.downloadConcurrency ?? Math.max(4, deps.transcodeConcurrency * 2);
  const store = { s3: deps.s3, bucket: deps.buckets.archive, partSizeBytes: deps.partSizeBytes };

  return async function archiveTenantHour(data: ArchiveHourJobData, context: TenantHourContext): Promise<ArchiveHourSummary> {
    const key = hourKeyOf(data);
    const logger = deps.logger.child({
      tenantId: key.tenantId,
      utcDay: key.utcDay,
      hour: formatHour(key.hour),
      jobId: context.jobId,
      runId: data.runId,
      round: data.round,
    });
    const started = performance.now();
    const finish = (outcome: string) => {
      deps.metrics.jobs.inc({ outcome });
      deps.metrics.jobSeconds.observe({ outcome }, (performance.now() - started) / 1000);
    };

    try {
      const summary = await deps.db.transaction(async (trx): Promise<ArchiveHourSummary> => {
        await lockHour(trx, key);
        if (!data.force) {
          const status = await findArchiveStatus(trx, key);
          if (status !== null && GENERATED_STATUSES.includes(status)) return { outcome: 'skipped', status };
        }
        const files = await findHourFiles(trx, key);
        const archive = archiveObject(store, archiveKey(key.tenantId, key.utcDay, key.hour));
        const staleUploads = await archive.abortStaleUploads();
        if (staleUploads > 0) logger.info({ staleUploads }, 'aborted multipart uploads left by an interrupted run');
        // Whole seconds: the row's generated_at then equals metadata.json's generatedAt.
        const generatedAt = new Date(Math.floor(deps.now().getTime() / 1000) * 1000);

        if (files.length === 0) {
          await archive.delete();
          await recordResult(trx, key, { status: 'no_data' }, { runId: data.runId, generatedAt });
          return { outcome: 'no_data' };
        }

        const workDirectory = await createWorkDirectory(deps.tempDirectory);
        try {
          const built = await buildArchive({
            files,
            s3: deps.s3,
            sourceBucket: deps.buckets.source,
            archive,
            transcoder: deps.transcoder,
            metrics: deps.metrics,
            logger,
            workDirectory,
            transcodeConcurrency: deps.transcodeConcurrency,
            downloadConcurrency,
            batchLimits,
            generatedAt,
            utcDay: key.utcDay,
            hour: key.hour,
            signal: context.signal,
          });
          const counts = { converted: 0, missing: 0, unconvertible: 0 };
          for (const file of built.files) counts[file.status]++;
          const result = { objectKey: archive.key, sha256: built.sha256, sizeBytes: built.sizeBytes, fileCount: built.files.length, sessionCount: built.sessionCount };
          await recordResult(trx, key, { status: 'available', ...result }, { runId: data.runId, generatedAt });
          return { outcome: 'available', ...result, files: counts };
        } finally {
          await rm(workDirectory, { recursive: true, force: true });
        }
      });
      finish(summary.outcome);
      logger.info({ summary, seconds: (performance.now() - started) / 1000 }, 'tenant-hour done');
      return summary;
    } catch (error) {
      if (context.signal.aborted) {
        finish('interrupted');
        logger.warn('tenant-hour interrupted by shutdown, leaving it for another worker');
        throw error;
      }
      finish('failed');
      const message = shortErrorMessage(error);
      await recordFailure(deps.db, key, message).catch((recordError: unknown) => {
        logger.error({ err: recordError }, 'could not record the failure');
      });
      logger.error({ err: error }, 'tenant-hour failed');
      throw error;
    }
  };
}

export type ArchiveTenantHour = ReturnType<typeof createTenantHourArchiver>;
