import { tmpdir } from 'node:os';
import { Worker } from 'bullmq';
import {
  createKnex,
  createLogger,
  createMetricsRegistry,
  createRedisConnection,
  createS3Client,
  ensureBuckets,
  installShutdown,
  loadConfigOrExit,
  loadWorkerConfig,
  QueueNames,
  serveMetrics,
  type ArchiveHourJobData,
} from '@dcar/platform';
import { createSecretBox, createWebhookMetrics, startWebhookDeliveryWorker } from '@dcar/webhooks';
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
const logger = createLogger({ service: 'worker', level: config.logLevel });

// One connection per running job (each holds its hour's advisory lock), a few for webhook
// deliveries (short queries between HTTP requests) and the rest.
const db = createKnex(config.databaseUrl, { max: config.worker.concurrency + Math.min(config.webhooks.concurrency, 8) + 2 });
const s3 = createS3Client(config.s3);
await ensureBuckets(s3, [config.s3.archiveBucket]);

const registry = createMetricsRegistry('worker');
const metrics = createWorkerMetrics(registry);
const metricsServer = await serveMetrics(registry, config.worker.metricsPort);

const orphaned = await removeOrphanedWorkDirectories(tmpdir());
if (orphaned.length > 0) logger.info({ directories: orphaned.length }, 'removed scratch directories of workers that were killed');

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
});

const stopping = new AbortController();
const redis = createRedisConnection(config.redis.url, 'consumer');
const worker = new Worker<ArchiveHourJobData, ArchiveHourSummary>(QueueNames.archiveHour, createArchiveHourProcessor(archiveTenantHour, stopping.signal), {
  connection: redis,
  prefix: config.redis.prefix,
  concurrency: config.worker.concurrency,
  lockDuration: LOCK_DURATION_MS,
  stalledInterval: STALLED_INTERVAL_MS,
  maxStalledCount: MAX_STALLED_COUNT,
});
worker.on('error', (error) => logger.error({ err: error }, 'worker error'));

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
        const closed = worker.close();
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
          stopping.abort(new Error('worker shutting down'));
          await closed;
        }
        await webhooksClosed;
      },
    },
    { name: 'redis', close: async () => void (await Promise.all([redis.quit(), webhookConnection.quit()])) },
    { name: 'metrics', close: () => metricsServer.close() },
    { name: 'database', close: () => db.destroy() },
    { name: 's3', close: () => s3.destroy() },
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
