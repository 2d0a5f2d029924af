import { QueueNames, createRedisConnection, type ArchiveHourJobData, type Knex } from '@dcar/platform';
import { Worker, type Job } from 'bullmq';

/**
 * Stands in for the worker service in engine tests: writes `hourly_archives` exactly as the real
 * worker does (CONTRACT shared semantics), and fails the tenant-hours `shouldFail` names.
 */
export function startFakeArchiveWorker(options: {
  db: Knex;
  redisUrl: string;
  prefix: string;
  shouldFail: (data: ArchiveHourJobData) => boolean;
}): { worker: Worker<ArchiveHourJobData>; close(): Promise<void> } {
  const connection = createRedisConnection(options.redisUrl, 'consumer');
  const processor = async (job: Job<ArchiveHourJobData>) => {
    const { tenantId, utcDay, hour, runId } = job.data;
    const key = { tenant_id: tenantId, utc_day: utcDay, hour };
    if (options.shouldFail(job.data)) {
      const message = `source store unreachable for ${tenantId} hour ${hour} round ${job.data.round}`;
      await options.db('hourly_archives').where(key).update({ attempts: options.db.raw('attempts + 1'), last_error: message });
      throw new Error(message);
    }
    await options.db('hourly_archives')
      .where(key)
      .update({
        status: 'available',
        object_key: `${tenantId}/${utcDay}/${hour}.zip`,
        sha256: 'ab'.repeat(32),
        size_bytes: 1000 + hour,
        file_count: 2,
        session_count: 1,
        generated_at: new Date(),
        attempts: options.db.raw('attempts + 1'),
        last_error: null,
        last_run_id: runId,
      });
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
