import type { Job } from 'bullmq';
import { WaitingError } from 'bullmq';
import type { ArchiveHourJobData } from '@dcar/platform';
import type { ArchiveHourSummary, ArchiveTenantHour } from './archive-tenant-hour.js';

/**
 * The BullMQ processor of the `archive-hour` queue (what `new Worker` runs for each job): it runs
 * the tenant-hour's work on the job's data. When `stopping` aborts (the grace period of a shutdown
 * is over) the running work is cancelled and the job goes back to the wait list, so another worker
 * takes it up at once: it neither fails nor waits for stalled-job detection.
 */
export function createArchiveHourProcessor(archiveTenantHour: ArchiveTenantHour, stopping: AbortSignal) {
  return async (job: Job<ArchiveHourJobData, ArchiveHourSummary>, token?: string): Promise<ArchiveHourSummary> => {
    try {
      return await archiveTenantHour(job.data, { jobId: job.id ?? 'unknown', signal: stopping });
    } catch (error) {
      if (!stopping.aborted) throw error;
      await job.moveToWait(token);
      throw new WaitingError();
    }
  };
}
