import { tmpdir } from 'node:os';
import { Worker } from 'bullmq';
import {
  closeQueueWorker,
  closeDatabase,
  closeRedisConnection,
  createKnex,
  createLogger,
  createMetricsRegistry,
  createRedisConnection,
  createS3Client,
  dependencyChecks,
  ensureBucketsWhenReachable,
  guardStartup,
  installShutdown,
  loadConfigOrExit,
  loadWorkerConfig,
  QueueNames,
  serveMetrics,
  startEmbeddedStoreWhenUnset,
  type ArchiveHourJobData,
} from '@dcar/platform';
import { createSecretBox, createWebhookDeliveryQueue, createWebhookMetrics, startWebhookDeliveryWorker } from '@dcar/webhooks';
import { createArchiveHourProcessor } from './archive-hour-processor.js';
import { createTenantHourArchiver, type ArchiveHourSummary } from './archive-tenant-hour.js';
import { createWorkerMetrics } from './metrics.js';
import { createTranscoder } from './transcoder.js';
import { removeOrphanedWorkDirectories } from './work-directories.js';

/**
 * Stalled-job recovery: the lock is renewed every lockDuration/2 = 7.5 s while a job runs; a
 * worker killed with SIGKILL stops renewing, its lock expires within 15 s, and a live worker's
 * stalled check (every 10 s) puts the job back on the wait list: taken up again within ~25 s.
 * A job is failed only if it stalls three times (maxStalledCount 2), e.g. a poison hour that
 * kills its worker each time.
 */
const LOCK_DURATION_MS = 15_000;
const STALLED_INTERVAL_MS = 10_000;
const MAX_STALLED_COUNT = 2;

const config = loadConfigOrExit(loadWorkerConfig, process.env);
const logger = createLogger({ service: 'worker', level: config.logLevel, format: config.logFormat, replicaId: config.replicaId });
const startup = guardStartup(logger, 'worker');

// Connections are borrowed per query (an hour is held by a lease row, not a transaction): one per
// running job, a few for webhook deliveries (short queries between HTTP requests) and the rest.
const db = createKnex(config.databaseUrl, { max: config.worker.concurrency + Math.min(config.webhooks.concurrency, 8) + 2 });
const embeddedStore = await startEmbeddedStoreWhenUnset(config, logger);
const s3 = createS3Client(config.s3);

const registry = createMetricsRegistry('worker');
const metrics = createWorkerMetrics(registry);
// /readyz: its own PostgreSQL, Redis and store (read when asked: the Redis connection is made below).
const metricsServer = await serveMetrics(registry, config.worker.metricsPort, {
  readiness: () => dependencyChecks({ db, redis, s3, bucket: config.s3.archiveBucket }),
  logger,
  portVariable: 'WORKER_METRICS_PORT',
});

const orphaned = await removeOrphanedWorkDirectories(tmpdir());
if (orphaned.length > 0) logger.info({ directories: orphaned.length }, 'removed scratch directories of workers that were killed');

// hour.regenerated events of reconciliation jobs are queued here (their deliveries run below).
const eventsConnection = createRedisConnection(config.redis.url, 'consumer');
eventsConnection.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error; reconnecting'));
const eventsQueue = createWebhookDeliveryQueue(eventsConnection, config.redis.prefix);

const archiveTenantHour = createTenantHourArchiver({
  db,
  s3,
  buckets: { source: config.s3.sourceBucket, archive: config.s3.archiveBucket },
  archiveEncryption: config.worker.archiveEncryption,
  logger,
  metrics,
  transcoder: createTranscoder(),
  now: () => new Date(),
  tempDirectory: tmpdir(),
  transcodeConcurrency: config.worker.transcodeConcurrency,
  events: { db, queue: eventsQueue, logger, now: () => new Date() },
});

const redis = createRedisConnection(config.redis.url, 'consumer');
// The tenant-hours start once the store answers (its archive bucket exists): a store that is down
// at start is waited out with a bounded backoff, jobs staying on the queue meanwhile.
const storeWait = new AbortController();
let worker: Worker<ArchiveHourJobData, ArchiveHourSummary> | null = null;
const archiveWorkerStarted = ensureBucketsWhenReachable(s3, [config.s3.archiveBucket], { logger, signal: storeWait.signal }).then((reachable) => {
  if (!reachable) return;
  worker = new Worker<ArchiveHourJobData, ArchiveHourSummary>(QueueNames.archiveHour, createArchiveHourProcessor(archiveTenantHour), {
    connection: redis,
    prefix: config.redis.prefix,
    concurrency: config.worker.concurrency,
    lockDuration: LOCK_DURATION_MS,
    stalledInterval: STALLED_INTERVAL_MS,
    maxStalledCount: MAX_STALLED_COUNT,
  });
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  logger.info({ queue: QueueNames.archiveHour, concurrency: config.worker.concurrency }, 'taking tenant-hour jobs');
});

// Webhook deliveries: a second BullMQ Worker with its own connection and concurrency, so a long
// transcode never holds a delivery back; replicas of this service share the deliveries too.
const webhookConnection = createRedisConnection(config.redis.url, 'consumer');
const webhookDelivery = startWebhookDeliveryWorker(
  {
    db,
    secrets: createSecretBox(config.webhooks.secretKey),
    policy: { allowInsecure: config.webhooks.allowInsecure },
    logger,
    metrics: createWebhookMetrics(registry),
    now: () => new Date(),
  },
  { connection: webhookConnection, prefix: config.redis.prefix, concurrency: config.webhooks.concurrency },
);

// Running jobs get most of the shutdown budget to finish; the rest is for cancelling them
// (killing ffmpeg, aborting uploads, handing the jobs back) and closing connections.
const graceMs = Math.max(1000, config.shutdownTimeoutMs - 5000);

installShutdown({
  logger,
  timeoutMs: config.shutdownTimeoutMs,
  steps: () => [
    {
      name: 'workers',
      close: async () => {
        // Both stop taking jobs at once; a delivery in flight ends within its 10 s timeout, well inside the grace period.
        const webhooksClosed = webhookDelivery.close();
        storeWait.abort();
        await archiveWorkerStarted;
        const closed = worker ? closeQueueWorker(worker, redis) : Promise.resolve();
        let timer: NodeJS.Timeout | undefined;
        const finishedInTime = await Promise.race([
          closed.then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), graceMs);
          }),
        ]);
        clearTimeout(timer);
        if (!finishedInTime) {
          logger.warn({ graceMs }, 'jobs still running after the grace period, handing them back');
          worker?.cancelAllJobs('worker shutting down');
          await closed;
        }
        await webhooksClosed;
      },
    },
    { name: 'events queue', close: () => eventsQueue.close() },
    { name: 'redis', close: async () => void (await Promise.all([redis, webhookConnection, eventsConnection].map((c) => closeRedisConnection(c)))) },
    { name: 'metrics', close: () => metricsServer.close() },
    { name: 'database', close: () => closeDatabase(db) },
    { name: 's3', close: () => s3.destroy() },
    { name: 'embedded store', close: async () => embeddedStore?.close() },
  ],
});

logger.info(
  {
    queue: QueueNames.archiveHour,
    concurrency: config.worker.concurrency,
    webhookConcurrency: config.webhooks.concurrency,
    transcodeConcurrency: config.worker.transcodeConcurrency,
    archiveEncryption: config.worker.archiveEncryption?.algorithm ?? 'none',
    metricsPort: metricsServer.port,
  },
  'worker started',
);
startup.started();
