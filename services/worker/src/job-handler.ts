import type { Job } from 'bullmq';
import { WaitingError } from 'bullmq';
import type { ArchiveHourJobData } from '@dcar/platform';
import type { ArchiveHourProcessor, ArchiveHourSummary } from './processor.js';

/**
 * Adapts the processor to BullMQ. When `stopping` aborts (the grace period of a shutdown is over)
 * the running work is cancelled and the job goes back to the wait list, so another worker takes it
 * up at once: it neither fails nor waits for stalled-job detection.
 */
export function createArchiveHourHandler(processor: ArchiveHourProcessor, stopping: AbortSignal) {
  return async (job: Job<ArchiveHourJobData, ArchiveHourSummary>, token?: string): Promise<ArchiveHourSummary> => {
    try {
      return await processor(job.data, { jobId: job.id ?? 'unknown', signal: stopping });
    } catch (error) {
      if (!stopping.aborted) throw error;
      await job.moveToWait(token);
      throw new WaitingError();
    }
  };
}
