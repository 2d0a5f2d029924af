import type { Job } from 'bullmq';
import { WaitingError } from 'bullmq';
import type { ArchiveHourJobData } from '@dcar/platform';
import type { ArchiveHourSummary, ArchiveTenantHour } from './archive-tenant-hour.js';

/** For a processor called without BullMQ's signal (its signal is given only to processors that declare it). */
const NEVER_ABORTED = new AbortController().signal;

/**
 * The BullMQ processor of the `archive-hour` queue (what `new Worker` runs for each job): it runs
 * the tenant-hour's work on the job's data. BullMQ hands each job its own cancellation signal (the
 * processor declares a third parameter); when the worker cancels its jobs (`worker.cancelAllJobs`,
 * once the grace period of a shutdown is over) the running work is cancelled and the job goes back
 * to the wait list, so another worker takes it up at once: it neither fails nor waits for
 * stalled-job detection.
 */
export function createArchiveHourProcessor(archiveTenantHour: ArchiveTenantHour) {
  return async (job: Job<ArchiveHourJobData, ArchiveHourSummary>, token?: string, signal?: AbortSignal): Promise<ArchiveHourSummary> => {
    const cancelled = signal ?? NEVER_ABORTED;
    try {
      return await archiveTenantHour(job.data, { jobId: job.id ?? 'unknown', signal: cancelled });
    } catch (error) {
      if (!cancelled.aborted) throw error;
      await job.moveToWait(token);
      throw new WaitingError();
    }
  };
}
