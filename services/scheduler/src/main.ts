import {
  QueueNames,
  closeQueueWorker,
  closeDatabase,
  closeRedisConnection,
  createKnex,
  createLogger,
  createMetricsRegistry,
  createRedisConnection,
  createS3Client,
  dependencyChecks,
  guardStartup,
  installShutdown,
  loadConfigOrExit,
  loadSchedulerConfig,
  serveMetrics,
  startEmbeddedStoreWhenUnset,
} from '@dcar/platform';
import { createRetentionMetrics, createRunQueues, processArchiveRunJob, processMaintenanceJob, upsertSchedules } from '@dcar/runs';
import { Worker, type Job } from 'bullmq';
import { registerReconcileMetrics, registerSchedulerMetrics } from './metrics.js';

const config = loadConfigOrExit(loadSchedulerConfig, process.env);
const logger = createLogger({ service: 'scheduler', level: config.logLevel, format: config.logFormat, replicaId: config.replicaId });
const startup = guardStartup(logger, 'scheduler');
const db = createKnex(config.databaseUrl);
const embeddedStore = await startEmbeddedStoreWhenUnset(config, logger);
const s3 = createS3Client(config.s3);
const prefix = config.redis.prefix;

// Every connection waits out a Redis restart (consumer role): the scheduler's queue writes happen
// inside jobs, where giving up would only turn an outage into a retry.
const queueConnection = createRedisConnection(config.redis.url, 'consumer');
const runConnection = createRedisConnection(config.redis.url, 'consumer');
const maintenanceConnection = createRedisConnection(config.redis.url, 'consumer');
const queues = createRunQueues(queueConnection, prefix);
const registry = createMetricsRegistry('scheduler');
const reconcileMetrics = registerReconcileMetrics(registry);
const deps = {
  db,
  queues,
  logger,
  now: () => new Date(),
  s3,
  archiveBucket: config.s3.archiveBucket,
  retryRoundDelayMs: config.scheduler.retryRoundDelaySeconds * 1000,
  onReconciled: reconcileMetrics.record,
  retentionMetrics: createRetentionMetrics(registry),
};

for (const connection of [queueConnection, runConnection, maintenanceConnection]) {
  connection.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error; reconnecting'));
}

// /healthz and /readyz answer before anything waits on Redis: a scheduler started while Redis is
// away is up (healthz) and says what it waits for (readyz names redis) instead of not answering.
registerSchedulerMetrics(registry, { queues, db });
const metrics = await serveMetrics(registry, config.scheduler.metricsPort, {
  readiness: dependencyChecks({ db, redis: queueConnection }),
  logger,
  portVariable: 'SCHEDULER_METRICS_PORT',
});

// Installed before anything waits on Redis: a SIGTERM while the scheduler starts (Redis away or
// stuck) stops it cleanly, as later. The workers exist only once the schedules are in place.
const coordinationWorkers: Array<{ name: string; worker: Worker; connection: typeof runConnection }> = [];
installShutdown({
  logger,
  timeoutMs: config.shutdownTimeoutMs,
  steps: () => [
    { name: 'metrics', close: () => metrics.close() },
    ...coordinationWorkers.map(({ name, worker, connection }) => ({ name, close: () => closeQueueWorker(worker, connection) })),
    { name: 'queues', close: () => queues.close() },
    { name: 'database', close: () => closeDatabase(db) },
    { name: 's3', close: () => s3.destroy() },
    { name: 'redis', close: () => Promise.all([queueConnection, runConnection, maintenanceConnection].map((c) => closeRedisConnection(c))) },
    { name: 'embedded store', close: async () => embeddedStore?.close() },
  ],
});

// Waits for Redis (consumer connections retry for ever) before any worker takes coordination jobs.
await upsertSchedules(queues, config.scheduler.nightlyCron, config.scheduler.reconcileCron);

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
coordinationWorkers.push(
  { name: 'archive-run worker', worker: runWorker, connection: runConnection },
  { name: 'maintenance worker', worker: maintenanceWorker, connection: maintenanceConnection },
);
for (const worker of [runWorker, maintenanceWorker]) {
  worker.on('failed', logFailure);
  worker.on('error', (error) => logger.error({ err: error.message, queue: worker.name }, 'scheduler worker error'));
}

logger.info(
  {
    nightlyCron: config.scheduler.nightlyCron,
    reconcileCron: config.scheduler.reconcileCron,
    retryRoundDelaySeconds: config.scheduler.retryRoundDelaySeconds,
    metricsPort: metrics.port,
    prefix,
  },
  'scheduler started',
);
startup.started();
