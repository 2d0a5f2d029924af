import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { putTenant } from '@dcar/host';
import { createKnex, createLogger, createRedisConnection } from '@dcar/platform';
import { createTestEnvironment, uniqueName } from '@dcar/testing';
import {
  WebhookEventTypes,
  createSecretBox,
  createWebhookDeliveryQueue,
  createWebhookMetrics,
  emitWebhookEvents,
  putWebhook,
  startWebhookDeliveryWorker,
  systemResolveHost,
} from '@dcar/webhooks';
import { Registry } from 'prom-client';

// `pnpm bench:webhooks`: deliveries per second that one consumer (one worker process's delivery
// Worker) sustains against a local receiver answering 204 at once, for a few concurrencies. The
// receiver runs in its own process so it does not share this one's event loop. BENCH_DELIVERIES
// events (default 3000) are queued first, then the consumer is started and timed until the last is delivered.
const deliveriesPerRun = Number(process.env.BENCH_DELIVERIES ?? 3000);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,10,50').split(',').map(Number);

const RECEIVER = `
const server = require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(204).end()); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

const receiver = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve) => createInterface({ input: receiver.stdout }).once('line', (line) => resolve(Number(line))));
const env = await createTestEnvironment();
const logger = createLogger({ service: 'bench', level: 'warn' });
const secrets = createSecretBox(env.config.webhooks.secretKey);
const connection = createRedisConnection(env.config.redis.url, 'consumer');

try {
  const rows: Array<Record<string, number>> = [];
  for (const concurrency of concurrencies) {
    const tenantId = uniqueName('bench-');
    const prefix = uniqueName('whb');
    await putTenant(env.knex, tenantId, { name: tenantId });
    await putWebhook({ db: env.knex, secrets, policy: { allowInsecure: true }, resolveHost: systemResolveHost, logger }, tenantId, {
      url: `http://127.0.0.1:${port}/hook`,
    });
    const queue = createWebhookDeliveryQueue(connection, prefix);
    await emitWebhookEvents(
      { db: env.knex, queue, logger, now: () => new Date() },
      Array.from({ length: deliveriesPerRun }, (_, i) => ({
        tenantId,
        type: WebhookEventTypes.hourRegenerated,
        idempotencyKey: `bench:${tenantId}:${i}`,
        data: { tenantId, utcDay: '2025-12-12', hour: String(i % 24).padStart(2, '0'), revision: i + 1, fileCount: 60, sha256: 'ab'.repeat(32) },
      })),
    );

    // Sized as the worker service sizes its pool for deliveries.
    const db = createKnex(env.config.databaseUrl, { max: Math.min(concurrency, 8) + 2 });
    const registry = new Registry();
    const metrics = createWebhookMetrics(registry);
    const cpuStart = process.cpuUsage();
    const started = performance.now();
    let delivered = 0;
    const done = new Promise<void>((resolve, reject) => {
      const consumer = startWebhookDeliveryWorker(
        { db, secrets, policy: { allowInsecure: true }, logger, metrics, now: () => new Date() },
        { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix, concurrency },
      );
      consumer.worker.on('completed', () => {
        if (++delivered === deliveriesPerRun) void consumer.close().then(resolve);
      });
      consumer.worker.on('failed', (job, error) => reject(new Error(`delivery ${job?.id} failed: ${error.message}`)));
    });
    await done;
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const recorded = await env.knex('webhook_deliveries').where({ tenant_id: tenantId, state: 'delivered' }).count<{ n: number }>('* as n').first();
    if (Number(recorded?.n) !== deliveriesPerRun) throw new Error(`${recorded?.n} of ${deliveriesPerRun} recorded as delivered`);
    rows.push({
      concurrency,
      deliveries: deliveriesPerRun,
      seconds: Number(seconds.toFixed(2)),
      deliveriesPerSecond: Math.round(deliveriesPerRun / seconds),
      consumerCpuMsPerDelivery: Number(((cpu.user + cpu.system) / 1000 / deliveriesPerRun).toFixed(2)),
    });
    await queue.close();
    await db.destroy();
  }
  process.stdout.write('webhook deliveries: one consumer (BullMQ Worker + PostgreSQL bookkeeping + signed POST) against a local receiver\n');
  console.table(rows);
} finally {
  connection.disconnect();
  receiver.kill();
  await env.close();
}
