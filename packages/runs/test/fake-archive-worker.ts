import { recordFailure, recordResult } from '@dcar/archives';
import type { UtcDay } from '@dcar/domain';
import { QueueNames, createRedisConnection, type ArchiveHourJobData, type Knex } from '@dcar/platform';
import { Worker, type Job } from 'bullmq';

/**
 * Stands in for the worker service in engine tests: records each tenant-hour's outcome through the
 * same @dcar/archives writes as the real worker, and fails the tenant-hours `shouldFail` names.
 */
export function startFakeArchiveWorker(options: {
  db: Knex;
  redisUrl: string;
  prefix: string;
  /** May wait before answering, to hold a tenant-hour back. */
  shouldFail: (data: ArchiveHourJobData) => boolean | Promise<boolean>;
}): { worker: Worker<ArchiveHourJobData>; close(): Promise<void> } {
  const connection = createRedisConnection(options.redisUrl, 'consumer');
  const processor = async (job: Job<ArchiveHourJobData>) => {
    const { tenantId, utcDay, hour, runId } = job.data;
    const key = { tenantId, utcDay: utcDay as UtcDay, hour };
    if (await options.shouldFail(job.data)) {
      const message = `source store unreachable for ${tenantId} hour ${hour} round ${job.data.round}`;
      await recordFailure(options.db, key, message);
      throw new Error(message);
    }
    const archive = { objectKey: `${tenantId}/${utcDay}/${hour}.zip`, sha256: 'ab'.repeat(32), sizeBytes: 1000 + hour, fileCount: 2, sessionCount: 1 };
    await recordResult(options.db, key, { status: 'available', ...archive }, { runId, generatedAt: new Date() });
    return { status: 'available' };
  };
  const worker = new Worker<ArchiveHourJobData>(QueueNames.archiveHour, processor, { connection, prefix: options.prefix, concurrency: 8 });
  return {
    worker,
    close: async () => {
      await worker.close();
      connection.disconnect();
    },
  };
}
