import { recordResult } from '@dcar/archives';
import { addUtcDays, utcDayOf, type UtcDay } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection, type ArchiveHourJobData } from '@dcar/platform';
import { createRunQueues, getRunReport, nightlyRunId, type RunQueues, type RunReport } from '@dcar/runs';
import { createTestEnvironment, startService, waitFor, type ServiceProcess, type TestEnvironment } from '@dcar/testing';
import { startWebhookReceiver, type WebhookReceiver } from '@dcar/testing/webhook-receiver';
import { createSecretBox, createWebhookMetrics, putWebhook, startWebhookDeliveryWorker, systemResolveHost, type WebhookDeliveryWorker } from '@dcar/webhooks';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The scheduler as a process, with several replicas and a kill in the middle of a run. Tenant-hours
// are consumed by a minimal in-test worker: what is under test here is the scheduling.
let env: TestEnvironment;
let connection: Redis;
let queues: RunQueues;
let hourWorker: Worker<ArchiveHourJobData>;
const processed: string[] = [];
let receiver: WebhookReceiver;
let deliveryWorker: WebhookDeliveryWorker;
/** Tenants with a webhook: each must hear of the nightly run exactly once, whatever happens to the replicas. */
const WEBHOOK_TENANTS = ['tenant-000', 'tenant-150', 'tenant-299'];
const schedulers: ServiceProcess[] = [];
const yesterday = addUtcDays(utcDayOf(new Date()), -1);

function startScheduler(): ServiceProcess {
  const scheduler = startService('scheduler', { ...env.env, LOG_LEVEL: 'warn', SCHEDULER_METRICS_PORT: '0', NIGHTLY_CRON: '* * * * * *' });
  schedulers.push(scheduler);
  return scheduler;
}

async function finishedRun(runId: string, timeoutMs = 50_000): Promise<RunReport> {
  return waitFor(
    async () => {
      const report = await getRunReport(env.knex, runId);
      return report?.finishedAt ? report : undefined;
    },
    { timeoutMs, what: `run ${runId} to finish; scheduler output: ${schedulers.map((s) => s.output()).join('\n')}` },
  );
}

beforeAll(async () => {
  env = await createTestEnvironment();
  connection = createRedisConnection(env.config.redis.url, 'consumer');
  queues = createRunQueues(connection, env.redisPrefix);
  hourWorker = new Worker<ArchiveHourJobData>(
    QueueNames.archiveHour,
    async (job: Job<ArchiveHourJobData>) => {
      const { tenantId, utcDay, hour, runId } = job.data;
      processed.push(job.id ?? '');
      await recordResult(env.knex, { tenantId, utcDay: utcDay as UtcDay, hour }, { status: 'no_data' }, { runId, generatedAt: new Date() });
    },
    { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix: env.redisPrefix, concurrency: 16 },
  );
  for (let i = 0; i < 300; i++) {
    const id = `tenant-${String(i).padStart(3, '0')}`;
    await putTenant(env.knex, id, { name: id });
    await setDailyAudioFeature(env.knex, id, { enabled: true, retentionDays: 2 });
  }
  receiver = await startWebhookReceiver();
  const secrets = createSecretBox(env.config.webhooks.secretKey);
  const logger = createLogger({ service: 'test', level: 'silent' });
  for (const id of WEBHOOK_TENANTS) {
    await putWebhook({ db: env.knex, secrets, policy: { allowInsecure: true }, resolveHost: systemResolveHost, logger }, id, { url: `${receiver.url}/${id}` });
  }
  deliveryWorker = startWebhookDeliveryWorker(
    { db: env.knex, secrets, policy: { allowInsecure: true }, logger, metrics: createWebhookMetrics(new Registry()), now: () => new Date() },
    { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix: env.redisPrefix, concurrency: 4 },
  );
});

afterAll(async () => {
  await Promise.allSettled(schedulers.map((s) => s.kill('SIGKILL')));
  await hourWorker?.close();
  await deliveryWorker?.close();
  await receiver?.close();
  await queues?.close();
  connection?.disconnect();
  await env?.close();
});

describe('scheduler replicas', () => {
  it('make exactly one nightly run, even when all are killed in the middle of it and new ones start', async () => {
    const replicas = [startScheduler(), startScheduler()];
    const runId = nightlyRunId(yesterday);
    // Kill every replica while round 1 is being enqueued: the half-done enqueue job is found stalled
    // by the next scheduler and redone without adding any job twice.
    await waitFor(
      async () => ((await env.knex<{ id: string; state: string }>('archive_runs').where({ id: runId }).first('state'))?.state === 'running' ? true : undefined),
      {
        timeoutMs: 30_000,
        what: 'the nightly run to start',
      },
    );
    expect(await Promise.all(replicas.map((r) => r.kill('SIGKILL')))).toEqual(['SIGKILL', 'SIGKILL']);
    const enqueuedBeforeKill = await queues.archiveHour.count();
    startScheduler();
    startScheduler();

    // 7,200 jobs and BullMQ's stalled-job recovery of the killed enqueue step: generous bounds, as
    // other test files share the machine's two cores.
    const report = await finishedRun(runId, 150_000);
    expect(enqueuedBeforeKill).toBeLessThanOrEqual(7200);
    expect(report.state).toBe('completed');
    expect(report.trigger).toBe('nightly');
    expect(report.tenantCount).toBe(300);
    expect(report.rounds.map((r) => [r.round, r.jobs, r.failed])).toEqual([[1, 7200, 0]]);
    expect(report.counts).toEqual({ pending: 0, available: 0, no_data: 7200, failed: 0, expired: 0 });

    // The nightly trigger fires every second here: let it fire a few more times on the replicas.
    const triggered = await queues.maintenance.getCompletedCount();
    await waitFor(async () => ((await queues.maintenance.getCompletedCount()) >= triggered + 3 ? true : undefined), {
      timeoutMs: 20_000,
      what: 'more nightly triggers',
    });
    expect(await env.knex('archive_runs').count('* as n').first()).toEqual({ n: 1 });
    expect((await queues.maintenance.getJobSchedulers()).map((s) => s.key).sort()).toEqual(['nightly', 'reconcile', 'retention']);
    // Every tenant-hour ran exactly once.
    expect(processed).toHaveLength(7200);
    expect(new Set(processed).size).toBe(7200);
    expect(report.hours.every((h) => h.attempts === 1)).toBe(true);

    // day.completed: one delivery per tenant with a webhook, and one POST each.
    await waitFor(
      async () =>
        (await env.knex('webhook_deliveries').where({ state: 'delivered' }).count('* as n').first())?.n === WEBHOOK_TENANTS.length ? true : undefined,
      {
        what: 'day.completed delivered to every tenant with a webhook',
      },
    );
    expect(
      (await env.knex('webhook_deliveries').select('tenant_id', 'idempotency_key').orderBy('tenant_id')).map(
        (r: { tenant_id: string; idempotency_key: string }) => [r.tenant_id, r.idempotency_key],
      ),
    ).toEqual(WEBHOOK_TENANTS.map((id) => [id, `day.completed:${runId}:${id}`]));
    expect(receiver.received.map((r) => r.path).sort()).toEqual(WEBHOOK_TENANTS.map((id) => `/hook/${id}`));
    expect(receiver.received.map((r) => (JSON.parse(r.body) as { data: unknown }).data)).toEqual(
      expect.arrayContaining(
        WEBHOOK_TENANTS.map((tenantId) => ({
          tenantId,
          utcDay: yesterday,
          runId,
          availableHours: 0,
          noDataHours: 24,
          failedHours: [],
          totalFiles: 0,
          totalSizeBytes: 0,
        })),
      ),
    );
  }, 240_000);
});
