import { countArchiveRows } from '@dcar/archives/test-fixtures';
import { QueueNames, createLogger, createRedisConnection, enqueueRoundJobId } from '@dcar/platform';
import { createRunQueues, processArchiveRunJob, startRun } from '@dcar/runs';
import { createTestEnvironment } from '@dcar/testing';
import { addUtcDays, utcDayOf } from '@dcar/domain';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

// Enqueueing a nightly run for many tenants: how long round 1 takes to be on the queue, and the
// memory it needs. BENCH_TENANTS (default 10000) tenants, 24 jobs each; no hour worker consumes them.
const tenantCount = Number(process.env.BENCH_TENANTS ?? 10_000);
const env = await createTestEnvironment();
const connection = createRedisConnection(env.config.redis.url, 'consumer');
const workerConnection = createRedisConnection(env.config.redis.url, 'consumer');
const queues = createRunQueues(connection, env.redisPrefix);
const deps = { db: env.knex, queues, logger: createLogger({ service: 'bench', level: 'warn' }), now: () => new Date(), retryRoundDelayMs: 0 };
const info = new Redis(env.config.redis.url);
const redisMemory = async () => Number(/used_memory:(\d+)/.exec(await info.info('memory'))?.[1] ?? 0);

try {
  for (let start = 0; start < tenantCount; start += 1000) {
    const ids = Array.from({ length: Math.min(1000, tenantCount - start) }, (_, i) => `bench-${String(start + i).padStart(6, '0')}`);
    await env.knex('tenants').insert(ids.map((id) => ({ id, name: id })));
    await env.knex('tenant_feature_settings').insert(ids.map((id) => ({ tenant_id: id, daily_audio_recordings_enabled: true, retention_days: 3 })));
  }
  const redisBefore = await redisMemory();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);

  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const utcDay = addUtcDays(utcDayOf(new Date()), -1);
  const { runId } = await startRun(deps, { utcDay, trigger: 'nightly' });
  const startRunMs = performance.now() - started;
  const enqueued = new Promise<{ jobs: number }>((resolve, reject) => {
    const worker = new Worker(QueueNames.archiveRun, (job) => processArchiveRunJob(deps, job), { connection: workerConnection, prefix: env.redisPrefix });
    worker.on('completed', (job, result: { jobs: number }) => {
      if (job.id === enqueueRoundJobId(runId, 1)) void worker.close().then(() => resolve(result));
    });
    worker.on('failed', (_job, error) => reject(error));
  });
  const { jobs } = await enqueued;
  const totalMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStart);
  clearInterval(sampler);
  const waiting = await queues.archiveHour.getWaitingCount();
  const pendingRows = await countArchiveRows(env.knex, { utcDay, status: 'pending' });

  const figures = {
    tenants: tenantCount,
    jobsEnqueued: jobs,
    jobsWaitingInRedis: waiting,
    pendingRowsInPostgres: pendingRows,
    startRunMs: Math.round(startRunMs),
    enqueueTotalSeconds: Number((totalMs / 1000).toFixed(2)),
    jobsPerSecond: Math.round(jobs / (totalMs / 1000)),
    schedulerCpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    schedulerPeakRssMiB: Math.round(peakRss / 2 ** 20),
    redisMemoryGrowthMiB: Math.round(((await redisMemory()) - redisBefore) / 2 ** 20),
  };
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
} finally {
  await queues.close();
  connection.disconnect();
  workerConnection.disconnect();
  info.disconnect();
  await env.close();
}
