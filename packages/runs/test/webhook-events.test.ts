import { addUtcDays, utcDayOf } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection, roundParentJobId } from '@dcar/platform';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@dcar/testing';
import { startWebhookReceiver, type WebhookReceiver } from '@dcar/testing/webhook-receiver';
import {
  createSecretBox,
  createWebhookMetrics,
  putWebhook,
  startWebhookDeliveryWorker,
  systemResolveHost,
  type DayCompletedData,
  type WebhookDeliveryQueue,
  type WebhookDeliveryWorker,
} from '@dcar/webhooks';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunQueues, getRunReport, processArchiveRunJob, startRun, type RoundEngineDeps, type RunQueues, type RunReport } from '../src/index.js';
import { startFakeArchiveWorker } from './fake-archive-worker.js';

// day.completed from the run engine: once per tenant and run, when the run is done with the tenant,
// delivered by the real consumer to a receiver on this machine.
let env: TestEnvironment;
let connection: Redis;
let queues: RunQueues;
let deps: RoundEngineDeps;
let runWorker: Worker;
let hourWorker: ReturnType<typeof startFakeArchiveWorker>;
let deliveryWorker: WebhookDeliveryWorker;
let receiver: WebhookReceiver;
const secrets: Record<string, string> = {};
const logger = createLogger({ service: 'test', level: 'silent' });
/** `tenant/hour` failing in every round, or (with `/r1`) in round 1 only. */
const failing = new Set<string>();
/** When set, each round's completion step runs twice at once, as a retried step racing the original would. */
let doubleRoundComplete = false;
/** While set, round 2's tenant-hours wait for it before answering. */
let roundTwoGate: Promise<void> | null = null;

const today = utcDayOf(new Date());

beforeAll(async () => {
  env = await createTestEnvironment();
  connection = createRedisConnection(env.config.redis.url, 'consumer');
  queues = createRunQueues(connection, env.redisPrefix);
  deps = { db: env.knex, queues, logger, now: () => new Date(), retryRoundDelayMs: 0 };
  runWorker = new Worker(
    QueueNames.archiveRun,
    async (job: Job) => {
      if (job.name === 'round-complete' && doubleRoundComplete) {
        const [first] = await Promise.all([processArchiveRunJob(deps, job), processArchiveRunJob(deps, job)]);
        return first;
      }
      return processArchiveRunJob(deps, job);
    },
    { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix: env.redisPrefix, concurrency: 2 },
  );
  hourWorker = startFakeArchiveWorker({
    db: env.knex,
    redisUrl: env.config.redis.url,
    prefix: env.redisPrefix,
    shouldFail: async (data) => {
      if (data.round === 2 && roundTwoGate) await roundTwoGate;
      return failing.has(`${data.tenantId}/${data.hour}`) || (data.round === 1 && failing.has(`${data.tenantId}/${data.hour}/r1`));
    },
  });
  receiver = await startWebhookReceiver();
  const box = createSecretBox(env.config.webhooks.secretKey);
  deliveryWorker = startWebhookDeliveryWorker(
    { db: env.knex, secrets: box, policy: { allowInsecure: true }, logger, metrics: createWebhookMetrics(new Registry()), now: () => new Date() },
    { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix: env.redisPrefix, concurrency: 4 },
  );
  for (const id of ['steady', 'broken', 'flaky', 'silent']) {
    await putTenant(env.knex, id, { name: id });
    await setDailyAudioFeature(env.knex, id, { enabled: true, retentionDays: 3 });
    // `silent` has no webhook: it gets no event.
    if (id === 'silent') continue;
    const created = await putWebhook({ db: env.knex, secrets: box, policy: { allowInsecure: true }, resolveHost: systemResolveHost, logger }, id, {
      url: `${receiver.url}/${id}`,
    });
    secrets[id] = created.secret!;
  }
});

afterAll(async () => {
  await Promise.allSettled([runWorker?.close(), hourWorker?.close(), deliveryWorker?.close()]);
  await receiver?.close();
  await queues?.close();
  connection?.disconnect();
  await env?.close();
});

async function finished(runId: string): Promise<RunReport> {
  return waitFor(
    async () => {
      const report = await getRunReport(env.knex, runId);
      return report?.finishedAt ? report : undefined;
    },
    { timeoutMs: 45_000, what: `run ${runId} to finish` },
  );
}

/** The day.completed events of a run the receiver got, verified with each tenant's secret, by tenant. */
function eventsOf(runId: string): Map<string, Array<{ eventId: string; data: DayCompletedData }>> {
  const byTenant = new Map<string, Array<{ eventId: string; data: DayCompletedData }>>();
  for (const request of receiver.received) {
    const tenantId = request.path.split('/').pop()!;
    const body = new Webhook(secrets[tenantId]!).verify(request.body, request.headers as Record<string, string>) as { type: string; data: DayCompletedData };
    if (body.type !== 'daily_audio_recordings.day.completed' || body.data.runId !== runId) continue;
    byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), { eventId: String(request.headers['webhook-id']), data: body.data }]);
  }
  return byTenant;
}

describe('day.completed', () => {
  it('tells each tenant with a webhook once the run is done with it, failed hours included', async () => {
    failing.add('broken/8');
    failing.add('flaky/3/r1');
    let release = () => {};
    roundTwoGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const day = addUtcDays(today, -1);
    const { runId } = await startRun(deps, { utcDay: day, trigger: 'manual' });
    try {
      // A tenant without failures is told once round 1 is over, while the others' round 2 is still held back.
      await waitFor(() => (eventsOf(runId).has('steady') ? true : undefined), { what: 'day.completed for steady after round 1' });
      expect((await getRunReport(env.knex, runId))?.finishedAt).toBeNull();
      expect([...eventsOf(runId).keys()]).toEqual(['steady']);
    } finally {
      roundTwoGate = null;
      release();
    }
    const report = await finished(runId);
    expect(report.rounds.map((r) => [r.round, r.failed])).toEqual([
      [1, 2],
      [2, 1],
      [3, 1],
    ]);
    const events = await waitFor(
      () => {
        const byTenant = eventsOf(runId);
        return byTenant.size === 3 ? byTenant : undefined;
      },
      { what: 'day.completed for three tenants' },
    );

    const sizes = Array.from({ length: 24 }, (_, hour) => 1000 + hour).reduce((a, b) => a + b, 0);
    expect(events.get('steady')?.map((e) => e.data)).toEqual([
      { tenantId: 'steady', utcDay: day, runId, availableHours: 24, noDataHours: 0, failedHours: [], totalFiles: 48, totalSizeBytes: sizes },
    ]);
    expect(events.get('broken')?.map((e) => e.data)).toEqual([
      { tenantId: 'broken', utcDay: day, runId, availableHours: 23, noDataHours: 0, failedHours: ['08'], totalFiles: 46, totalSizeBytes: sizes - 1008 },
    ]);
    expect(events.get('flaky')?.map((e) => e.data)).toEqual([
      { tenantId: 'flaky', utcDay: day, runId, availableHours: 24, noDataHours: 0, failedHours: [], totalFiles: 48, totalSizeBytes: sizes },
    ]);
    expect(events.has('silent')).toBe(false);
    failing.clear();
  });

  it('is sent exactly once per tenant and run even when a round’s completion step runs twice at once', async () => {
    failing.add('broken/8');
    doubleRoundComplete = true;
    try {
      const day = addUtcDays(today, -2);
      const { runId } = await startRun(deps, { utcDay: day, trigger: 'manual' });
      await finished(runId);
      await waitFor(() => (eventsOf(runId).size === 3 ? true : undefined), { what: 'day.completed for three tenants' });
      // Give a duplicate, were there one, the time to arrive: every delivery of the run is finished.
      await waitFor(async () => ((await env.knex('webhook_deliveries').where({ state: 'pending' }).count('* as n').first())?.n === 0 ? true : undefined), {
        what: 'no pending delivery',
      });
      const events = eventsOf(runId);
      expect([...events.keys()].sort()).toEqual(['broken', 'flaky', 'steady']);
      for (const [tenantId, received] of events) expect({ tenantId, count: received.length }).toEqual({ tenantId, count: 1 });
      expect(events.get('broken')?.[0]?.data.failedHours).toEqual(['08']);
      const rows = await env.knex('webhook_deliveries').whereRaw("payload::jsonb -> 'data' ->> 'runId' = ?", [runId]).select('tenant_id');
      expect(rows.map((r: { tenant_id: string }) => r.tenant_id).sort()).toEqual(['broken', 'flaky', 'steady']);
    } finally {
      doubleRoundComplete = false;
      failing.clear();
    }
  });

  it('never holds up or fails a run when it cannot be emitted', async () => {
    const healthy = deps;
    const broken = { addBulk: async () => Promise.reject(new Error('redis is away')) } as unknown as WebhookDeliveryQueue;
    deps = { ...healthy, queues: { ...healthy.queues, webhookDelivery: broken } };
    try {
      const { runId } = await startRun(deps, { utcDay: addUtcDays(today, -3), trigger: 'manual' });
      const report = await finished(runId);
      expect(report.state).toBe('completed');
      expect(report.counts.available).toBe(4 * 24);
      // The round's completion step succeeded on its first attempt: the failure stayed in the log.
      const roundComplete = await queues.archiveRun.getJob(roundParentJobId(runId, 1));
      expect([await roundComplete?.getState(), roundComplete?.attemptsMade]).toEqual(['completed', 1]);
    } finally {
      deps = healthy;
    }
  });
});
