import { rm } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  findArchiveState,
  findHourSource,
  holdsHourLease,
  nextRevision,
  recordFailure,
  recordResult,
  type ArchiveResult,
  type ArchiveState,
  type HourKey,
  type SourceFingerprint,
} from '@dcar/archives';
import { archiveKey, formatHour, GENERATED_STATUSES, isHour, parseUtcDay } from '@dcar/domain';
import type { ArchiveHourJobData, Knex, Logger, ServerSideEncryption } from '@dcar/platform';
import { emitHourRegenerated, type WebhookEmitDeps } from '@dcar/webhooks';
import { buildArchive, DEFAULT_BATCH_LIMITS, type BatchLimits } from './archive-builder.js';
import { archiveObject } from './archive-object.js';
import type { WorkerMetrics } from './metrics.js';
import type { Transcoder } from './transcoder.js';
import { DEFAULT_HOUR_LEASE, HourLeaseLostError, holdHourLease, type HourLeaseOptions } from './hour-lease.js';
import { createWorkDirectory } from './work-directories.js';

export interface TenantHourArchiverDeps {
  db: Knex;
  s3: S3Client;
  buckets: { source: string; archive: string };
  /** S3_SSE: how the store encrypts every archive this worker uploads. */
  archiveEncryption: ServerSideEncryption | null;
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
  /** Where hour.regenerated is sent from after a reconciliation job regenerated its hour; none: not sent. */
  events?: WebhookEmitDeps;
  /** The tenant-hour's lease; tests shorten it. */
  hourLease?: HourLeaseOptions;
}

export interface TenantHourContext {
  jobId: string;
  /** Aborted when the process must stop: the job is then left for another worker, not failed. */
  signal: AbortSignal;
}

export type ArchiveHourSummary =
  | {
      outcome: 'available';
      revision: number;
      objectKey: string;
      sha256: string;
      sizeBytes: number;
      fileCount: number;
      sessionCount: number;
      files: { converted: number; missing: number; unconvertible: number };
    }
  | { outcome: 'no_data'; revision: number }
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

/** True when the hour's archive was built from exactly the rows it has now (CONTRACT §3.3). */
function unchangedSince(state: ArchiveState | null, current: SourceFingerprint): boolean {
  if (!state || !GENERATED_STATUSES.includes(state.status) || !state.fingerprint) return false;
  return state.fingerprint.fileCount === current.fileCount && state.fingerprint.digest === current.digest;
}

/**
 * The tenant-hour's work (CONTRACT §3.2): archive every source file of the hour into one ZIP, or
 * record `no_data`, and record the outcome with the hour's archive state. Holding the hour's lease
 * (`hourly_archive_leases`, renewed while the job runs) makes concurrent runs of one hour queue up
 * instead of racing on the object, without a PostgreSQL connection pinned for the job's duration;
 * the result is recorded only while the lease is still held.
 */
export function createTenantHourArchiver(deps: TenantHourArchiverDeps) {
  const batchLimits = deps.batchLimits ?? DEFAULT_BATCH_LIMITS;
  const downloadConcurrency = deps.downloadConcurrency ?? Math.max(4, deps.transcodeConcurrency * 2);
  const store = { s3: deps.s3, bucket: deps.buckets.archive, encryption: deps.archiveEncryption, partSizeBytes: deps.partSizeBytes };

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
      const lease = await holdHourLease(deps.db, key, { ...(deps.hourLease ?? DEFAULT_HOUR_LEASE), jobId: context.jobId, logger, signal: context.signal });
      // Stops the work when the process stops or the lease is lost.
      const signal = AbortSignal.any([context.signal, lease.signal]);
      const record = (result: ArchiveResult, generatedAt: Date, revision: number, fingerprint: SourceFingerprint) =>
        deps.db.transaction(async (trx) => {
          if (!(await holdsHourLease(trx, key, lease.holder))) throw new HourLeaseLostError('the hour’s lease was lost before its result was recorded');
          await recordResult(trx, key, result, { runId: data.runId, generatedAt, revision, fingerprint });
        });
      let summary: ArchiveHourSummary;
      try {
        summary = await (async (): Promise<ArchiveHourSummary> => {
          const state = await findArchiveState(deps.db, key);
          if (!data.force && !data.reconcile && state !== null && GENERATED_STATUSES.includes(state.status))
            return { outcome: 'skipped', status: state.status };
          const { files, fingerprint } = await findHourSource(deps.db, key);
          // A reconciliation job never rewrites an hour whose rows are what its archive was built from
          // (another pass or a forced run may have regenerated it since this job was queued).
          if (data.reconcile && unchangedSince(state, fingerprint)) return { outcome: 'skipped', status: 'unchanged' };
          const revision = nextRevision(state);
          const archive = archiveObject(store, archiveKey(key.tenantId, key.utcDay, key.hour));
          const staleUploads = await archive.abortStaleUploads();
          if (staleUploads > 0) logger.info({ staleUploads }, 'aborted multipart uploads left by an interrupted run');
          // Whole seconds: the row's generated_at then equals metadata.json's generatedAt.
          const generatedAt = new Date(Math.floor(deps.now().getTime() / 1000) * 1000);

          if (files.length === 0) {
            await archive.delete();
            await record({ status: 'no_data' }, generatedAt, revision, fingerprint);
            return { outcome: 'no_data', revision };
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
              revision,
              signal,
            });
            const counts = { converted: 0, missing: 0, unconvertible: 0 };
            for (const file of built.files) counts[file.status]++;
            const result = {
              objectKey: archive.key,
              sha256: built.sha256,
              sizeBytes: built.sizeBytes,
              fileCount: built.files.length,
              sessionCount: built.sessionCount,
            };
            await record({ status: 'available', ...result }, generatedAt, revision, fingerprint);
            return { outcome: 'available', revision, ...result, files: counts };
          } finally {
            await rm(workDirectory, { recursive: true, force: true });
          }
        })();
      } finally {
        await lease
          .release()
          .catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'could not release the hour’s lease; it expires on its own'));
      }
      finish(summary.outcome);
      logger.info({ summary, seconds: (performance.now() - started) / 1000 }, 'tenant-hour done');
      if (data.reconcile && deps.events && summary.outcome !== 'skipped') {
        // Once the new state is committed; emitting never fails the job (it logs instead).
        await emitHourRegenerated(deps.events, {
          ...key,
          revision: summary.revision,
          fileCount: summary.outcome === 'available' ? summary.fileCount : 0,
          sha256: summary.outcome === 'available' ? summary.sha256 : null,
        });
      }
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
