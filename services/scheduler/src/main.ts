import {
  QueueNames,
  createKnex,
  createLogger,
  createMetricsRegistry,
  createRedisConnection,
  createS3Client,
  installShutdown,
  loadConfigOrExit,
  loadSchedulerConfig,
  serveMetrics,
} from '@dcar/platform';
import { createRunQueues, processArchiveRunJob, processMaintenanceJob, upsertSchedules } from '@dcar/runs';
import { Worker, type Job } from 'bullmq';
import { registerSchedulerMetrics } from './metrics.js';

const config = loadConfigOrExit(loadSchedulerConfig, process.env);
const logger = createLogger({ service: 'scheduler', level: config.logLevel });
const db = createKnex(config.databaseUrl);
const s3 = createS3Client(config.s3);
const prefix = config.redis.prefix;

// Every connection waits out a Redis restart (consumer role): the scheduler's queue writes happen
// inside jobs, where giving up would only turn an outage into a retry.
const queueConnection = createRedisConnection(config.redis.url, 'consumer');
const runConnection = createRedisConnection(config.redis.url, 'consumer');
const maintenanceConnection = createRedisConnection(config.redis.url, 'consumer');
const queues = createRunQueues(queueConnection, prefix);
const deps = { db, queues, logger, now: () => new Date(), s3, archiveBucket: config.s3.archiveBucket };

for (const connection of [queueConnection, runConnection, maintenanceConnection]) {
  connection.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error; reconnecting'));
}

await upsertSchedules(queues, config.scheduler.nightlyCron);

function logFailure(job: Job | undefined, error: Error): void {
  logger.error({ jobId: job?.id, jobName: job?.name, attemptsMade: job?.attemptsMade, err: error.message }, 'scheduler job failed');
}

// Coordination jobs only wait on PostgreSQL and Redis, so a short lock is safe, and it lets another
// replica take over a killed replica's job within seconds instead of half a minute.
const COORDINATION_LOCK = { lockDuration: 10_000, stalledInterval: 5_000 };

const runWorker = new Worker(QueueNames.archiveRun, (job) => processArchiveRunJob(deps, job), {
  connection: runConnection,
  prefix,
  concurrency: 2,
  ...COORDINATION_LOCK,
});
const maintenanceWorker = new Worker(QueueNames.maintenance, (job) => processMaintenanceJob(deps, job), {
  connection: maintenanceConnection,
  prefix,
  concurrency: 1,
  ...COORDINATION_LOCK,
});
for (const worker of [runWorker, maintenanceWorker]) {
  worker.on('failed', logFailure);
  worker.on('error', (error) => logger.error({ err: error.message, queue: worker.name }, 'scheduler worker error'));
}

const registry = createMetricsRegistry('scheduler');
registerSchedulerMetrics(registry, { queues, db });
const metrics = await serveMetrics(registry, config.scheduler.metricsPort);
logger.info({ nightlyCron: config.scheduler.nightlyCron, metricsPort: metrics.port, prefix }, 'scheduler started');

installShutdown({
  logger,
  timeoutMs: config.shutdownTimeoutMs,
  steps: () => [
    { name: 'metrics', close: () => metrics.close() },
    { name: 'archive-run worker', close: () => runWorker.close() },
    { name: 'maintenance worker', close: () => maintenanceWorker.close() },
    { name: 'queues', close: () => queues.close() },
    { name: 'database', close: () => db.destroy() },
    { name: 's3', close: () => s3.destroy() },
    { name: 'redis', close: () => Promise.all([queueConnection, runConnection, maintenanceConnection].map((c) => c.quit())) },
  ],
});
