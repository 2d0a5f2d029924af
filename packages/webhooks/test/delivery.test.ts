import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { putTenant } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection, type WebhookDeliveryJobData } from '@dcar/platform';
import { createTestEnvironment, uniqueName, waitFor, type TestEnvironment } from '@dcar/testing';
import { startWebhookReceiver, type WebhookReceiver } from '@dcar/testing/webhook-receiver';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WEBHOOK_DELIVERY_JOB_OPTIONS,
  WebhookEventTypes,
  createPostAgents,
  createSecretBox,
  createWebhookDeliveryQueue,
  createWebhookMetrics,
  emitWebhookEvent,
  emitDaysCompleted,
  emitHourRegenerated,
  listWebhookDeliveries,
  processWebhookDelivery,
  putWebhook,
  deleteWebhook,
  requeuePendingDeliveries,
  startWebhookDeliveryWorker,
  systemResolveHost,
  type DayCompletedData,
  type DeliveryView,
  type WebhookDeliveryQueue,
  type WebhookDeliveryWorker,
  type WebhookMetrics,
} from '../src/index.js';

// Delivery end to end: events recorded in PostgreSQL, queued on Redis, POSTed by the real consumer
// to receivers on this machine. Retry delays are shortened (the schedule itself is tested in
// rules.test.ts); everything else is as in production.
const ATTEMPTS = 4;
const TIMEOUT_MS = 1500;

let env: TestEnvironment;
let connection: Redis;
let queue: WebhookDeliveryQueue;
let worker: WebhookDeliveryWorker;
let registry: Registry;
let metrics: WebhookMetrics;
const receivers: WebhookReceiver[] = [];
const logger = createLogger({ service: 'test', level: 'silent' });
const secrets = createSecretBox('test-webhook-key-0123456789abcdef-0123');
const insecure = { allowInsecure: true };

beforeAll(async () => {
  env = await createTestEnvironment();
  connection = createRedisConnection(env.config.redis.url, 'consumer');
  queue = createWebhookDeliveryQueue(connection, env.redisPrefix, { ...WEBHOOK_DELIVERY_JOB_OPTIONS, attempts: ATTEMPTS });
  registry = new Registry();
  metrics = createWebhookMetrics(registry);
  worker = startWebhookDeliveryWorker(
    { db: env.knex, secrets, policy: insecure, logger, metrics, now: () => new Date(), timeoutMs: TIMEOUT_MS },
    { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix: env.redisPrefix, concurrency: 4, retryDelayMs: () => 100 },
  );
});

afterAll(async () => {
  await worker?.close();
  await Promise.all(receivers.map((r) => r.close()));
  await queue?.close();
  connection?.disconnect();
  await env?.close();
});

async function receiver(): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver();
  receivers.push(started);
  return started;
}

/** A tenant with a webhook at `url`; returns the secret shown at creation. */
async function tenantWithWebhook(
  url: string,
  options: { policy?: { allowInsecure: boolean }; resolveHost?: typeof systemResolveHost } = {},
): Promise<{ tenantId: string; secret: string }> {
  const tenantId = uniqueName('t');
  await putTenant(env.knex, tenantId, { name: tenantId });
  const created = await putWebhook(
    { db: env.knex, secrets, policy: options.policy ?? insecure, resolveHost: options.resolveHost ?? systemResolveHost, logger },
    tenantId,
    { url },
  );
  if (!created.secret) throw new Error('no secret on creation');
  return { tenantId, secret: created.secret };
}

function dayCompleted(tenantId: string, overrides: Partial<DayCompletedData> = {}): DayCompletedData {
  return {
    tenantId,
    utcDay: '2025-12-12',
    runId: uniqueName('run-'),
    availableHours: 20,
    noDataHours: 3,
    failedHours: ['08'],
    totalFiles: 1543,
    totalSizeBytes: 1_567_890_432,
    ...overrides,
  };
}

const emitDeps = () => ({ db: env.knex, queue, logger, now: () => new Date() });

async function deliveryOf(tenantId: string, state: DeliveryView['state']): Promise<DeliveryView> {
  return waitFor(
    async () => {
      const [delivery] = await listWebhookDeliveries(env.knex, tenantId);
      return delivery?.state === state ? delivery : undefined;
    },
    { timeoutMs: 20_000, what: `a ${state} delivery for ${tenantId}` },
  );
}

async function counter(name: string, label: string, value: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return Number(metric?.values.find((v) => v.labels[label] === value)?.value ?? NaN);
}

describe('webhook metrics', () => {
  it('exist at zero for every outcome before the first event', async () => {
    const fresh = new Registry();
    createWebhookMetrics(fresh);
    const text = await fresh.metrics();
    for (const outcome of ['delivered', 'failed', 'cancelled']) expect(text).toContain(`dcar_webhook_deliveries_total{outcome="${outcome}"} 0`);
    expect(text).toContain('dcar_webhook_delivery_attempts_total{result="timeout"} 0');
  });
});

describe('webhook delivery', () => {
  it('POSTs {type, timestamp, data} signed the way the standardwebhooks library verifies it', async () => {
    const endpoint = await receiver();
    const { tenantId, secret } = await tenantWithWebhook(endpoint.url);
    const data = dayCompleted(tenantId);
    const before = Math.floor(Date.now() / 1000);
    await emitDaysCompleted(emitDeps(), [data]);

    const delivery = await deliveryOf(tenantId, 'delivered');
    expect(endpoint.received).toHaveLength(1);
    const [request] = endpoint.received;
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toBe('application/json');
    const headers = {
      'webhook-id': String(request?.headers['webhook-id']),
      'webhook-timestamp': String(request?.headers['webhook-timestamp']),
      'webhook-signature': String(request?.headers['webhook-signature']),
    };
    expect(headers['webhook-id']).toBe(delivery.eventId);
    expect(delivery.eventId).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
    expect(Number(headers['webhook-timestamp'])).toBeGreaterThanOrEqual(before);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);

    const verified = new Webhook(secret).verify(request!.body, headers) as { type: string; timestamp: string; data: unknown };
    expect(verified).toEqual({ type: 'daily_audio_recordings.day.completed', timestamp: expect.any(String) as string, data });
    expect(Object.keys(verified)).toEqual(['type', 'timestamp', 'data']);
    expect(Date.parse(verified.timestamp)).toBeGreaterThanOrEqual(before * 1000);
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(request!.body, headers)).toThrow(/No matching signature/);
    expect(() => new Webhook(secret).verify(request!.body.replace('1543', '1544'), headers)).toThrow(/No matching signature/);

    expect(delivery).toMatchObject({ type: 'daily_audio_recordings.day.completed', attempts: 1, lastStatusCode: 204, lastError: null, failedAt: null });
    expect(delivery.deliveredAt).not.toBeNull();
  });

  it('retries a failing receiver with the same webhook-id until it answers 2xx', async () => {
    const endpoint = await receiver();
    endpoint.answerWith((_request, index) => ({ status: index === 0 ? 500 : index === 1 ? 503 : 200 }));
    const { tenantId, secret } = await tenantWithWebhook(endpoint.url);
    const httpErrorsBefore = await counter('dcar_webhook_delivery_attempts_total', 'result', 'http_error');
    await emitDaysCompleted(emitDeps(), [dayCompleted(tenantId)]);

    const delivery = await deliveryOf(tenantId, 'delivered');
    expect(endpoint.received).toHaveLength(3);
    const ids = endpoint.received.map((r) => r.headers['webhook-id']);
    expect(ids).toEqual([delivery.eventId, delivery.eventId, delivery.eventId]);
    // Each attempt is signed afresh (its own timestamp) over the same body.
    expect(new Set(endpoint.received.map((r) => r.body)).size).toBe(1);
    for (const r of endpoint.received) {
      expect(() => new Webhook(secret).verify(r.body, r.headers as Record<string, string>)).not.toThrow();
    }
    expect(delivery).toMatchObject({ attempts: 3, lastStatusCode: 200, lastError: null });
    expect(await counter('dcar_webhook_delivery_attempts_total', 'result', 'http_error')).toBe(httpErrorsBefore + 2);
  });

  it('counts a receiver that does not answer in time as a failed attempt and retries', async () => {
    const endpoint = await receiver();
    endpoint.answerWith((_request, index) => (index === 0 ? 'hang' : { status: 202 }));
    const { tenantId } = await tenantWithWebhook(endpoint.url);
    const timeoutsBefore = await counter('dcar_webhook_delivery_attempts_total', 'result', 'timeout');
    await emitHourRegenerated(emitDeps(), { tenantId, utcDay: '2025-12-12', hour: 8, revision: 2, fileCount: 67, sha256: 'ab'.repeat(32) });

    const delivery = await deliveryOf(tenantId, 'delivered');
    expect(delivery).toMatchObject({ type: 'daily_audio_recordings.hour.regenerated', attempts: 2, lastStatusCode: 202 });
    expect(endpoint.received.map((r) => r.headers['webhook-id'])).toEqual([delivery.eventId, delivery.eventId]);
    expect((JSON.parse(endpoint.received[1]!.body) as { data: unknown }).data).toEqual({
      tenantId,
      utcDay: '2025-12-12',
      hour: '08',
      revision: 2,
      fileCount: 67,
      sha256: 'ab'.repeat(32),
    });
    expect(await counter('dcar_webhook_delivery_attempts_total', 'result', 'timeout')).toBe(timeoutsBefore + 1);
  });

  it('does not follow redirects: a 3xx is a failed attempt, and after the last attempt the delivery is failed', async () => {
    const endpoint = await receiver();
    endpoint.answerWith((request) => (request.path === '/hook' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 200 }));
    const { tenantId } = await tenantWithWebhook(endpoint.url);
    const failedBefore = await counter('dcar_webhook_deliveries_total', 'outcome', 'failed');
    await emitDaysCompleted(emitDeps(), [dayCompleted(tenantId)]);

    const delivery = await deliveryOf(tenantId, 'failed');
    expect(delivery).toMatchObject({
      attempts: ATTEMPTS,
      lastStatusCode: 302,
      lastError: 'the receiver answered 302; redirects are not followed',
      deliveredAt: null,
    });
    expect(delivery.failedAt).not.toBeNull();
    expect(endpoint.received.map((r) => r.path)).toEqual(Array(ATTEMPTS).fill('/hook'));
    expect(await counter('dcar_webhook_deliveries_total', 'outcome', 'failed')).toBe(failedBefore + 1);
  });

  it('sends an event once however often it is emitted, and nothing to tenants without an enabled webhook', async () => {
    const endpoint = await receiver();
    const { tenantId } = await tenantWithWebhook(endpoint.url);
    const event = { tenantId, type: WebhookEventTypes.dayCompleted, idempotencyKey: `day.completed:run-x:${tenantId}`, data: dayCompleted(tenantId) };
    await Promise.all([emitWebhookEvent(emitDeps(), event), emitWebhookEvent(emitDeps(), event)]);
    await emitWebhookEvent(emitDeps(), event);
    await deliveryOf(tenantId, 'delivered');
    await emitWebhookEvent(emitDeps(), event);
    expect(await listWebhookDeliveries(env.knex, tenantId)).toHaveLength(1);

    const withoutWebhook = uniqueName('t');
    await putTenant(env.knex, withoutWebhook, { name: withoutWebhook });
    expect(await emitWebhookEvent(emitDeps(), { ...event, tenantId: withoutWebhook, idempotencyKey: 'k1' })).toEqual({ pending: 0 });
    const disabled = await tenantWithWebhook(endpoint.url);
    await putWebhook({ db: env.knex, secrets, policy: insecure, resolveHost: systemResolveHost, logger }, disabled.tenantId, {
      url: endpoint.url,
      enabled: false,
    });
    expect(await emitWebhookEvent(emitDeps(), { ...event, tenantId: disabled.tenantId, idempotencyKey: 'k2' })).toEqual({ pending: 0 });
    expect(endpoint.received).toHaveLength(1);
  });

  it('queues again a delivery whose job was never added (its emitter failed in between), once', async () => {
    const endpoint = await receiver();
    const { tenantId } = await tenantWithWebhook(endpoint.url);
    const unreachable = { addBulk: async () => Promise.reject(new Error('redis is away')) } as unknown as WebhookDeliveryQueue;
    const minutesAgo = new Date(Date.now() - 2 * 60_000);
    await expect(
      emitWebhookEvent(
        { ...emitDeps(), queue: unreachable, now: () => minutesAgo },
        { tenantId, type: WebhookEventTypes.dayCompleted, idempotencyKey: `orphan:${tenantId}`, data: dayCompleted(tenantId) },
      ),
    ).rejects.toThrow('redis is away');
    expect(await listWebhookDeliveries(env.knex, tenantId)).toMatchObject([{ state: 'pending', attempts: 0 }]);

    expect(await requeuePendingDeliveries({ db: env.knex, queue, now: () => new Date() })).toBeGreaterThanOrEqual(1);
    const delivery = await deliveryOf(tenantId, 'delivered');
    expect(await requeuePendingDeliveries({ db: env.knex, queue, now: () => new Date() })).toBe(0);
    await requeuePendingDeliveries({ db: env.knex, queue, now: () => new Date(Date.now() + 3_600_000) });
    expect(endpoint.received.map((r) => r.headers['webhook-id'])).toEqual([delivery.eventId]);
  });

  it('tries again a delivery whose job BullMQ failed without its attempt being recorded (stalled twice, or the database away)', async () => {
    const endpoint = await receiver();
    const { tenantId } = await tenantWithWebhook(endpoint.url);
    const prefix = uniqueName('lost');
    const lostQueue = createWebhookDeliveryQueue(connection, prefix, { ...WEBHOOK_DELIVERY_JOB_OPTIONS, attempts: 1 });
    // A consumer that loses every job before the attempt is recorded: BullMQ fails the job, its row stays pending.
    const lost = new Worker<WebhookDeliveryJobData>(QueueNames.webhookDelivery, () => Promise.reject(new Error('job stalled more than allowable limit')), {
      connection: createRedisConnection(env.config.redis.url, 'consumer'),
      prefix,
    });
    let healthy: WebhookDeliveryWorker | undefined;
    try {
      await emitDaysCompleted({ ...emitDeps(), queue: lostQueue }, [dayCompleted(tenantId)]);
      await waitFor(async () => ((await lostQueue.getFailedCount()) === 1 ? true : undefined), { timeoutMs: 20_000, what: 'the lost job failed' });
      await lost.close();
      expect(await listWebhookDeliveries(env.knex, tenantId)).toMatchObject([{ state: 'pending', attempts: 0 }]);

      healthy = startWebhookDeliveryWorker(
        { db: env.knex, secrets, policy: insecure, logger, metrics, now: () => new Date(), timeoutMs: TIMEOUT_MS },
        { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix, concurrency: 1, retryDelayMs: () => 100 },
      );
      const later = () => new Date(Date.now() + 5 * 60_000);
      expect(await requeuePendingDeliveries({ db: env.knex, queue: lostQueue, now: later })).toBe(1);
      const delivery = await deliveryOf(tenantId, 'delivered');
      await requeuePendingDeliveries({ db: env.knex, queue: lostQueue, now: later });
      expect(endpoint.received.map((r) => r.headers['webhook-id'])).toEqual([delivery.eventId]);
    } finally {
      await lost.close();
      await healthy?.close();
      await lostQueue.close();
    }
  });

  it('stops pending deliveries when the webhook is disabled or deleted: no further POST', async () => {
    const endpoint = await receiver();
    endpoint.answerWith(() => ({ status: 500 }));
    const deps = { db: env.knex, secrets, policy: insecure, logger, metrics, now: () => new Date(), agents: createPostAgents() };
    const job = (eventId: string, attemptsMade = 0) =>
      ({ id: eventId, data: { eventId }, attemptsMade, opts: { attempts: 13 } }) as unknown as Job<WebhookDeliveryJobData>;
    // Emitted on a queue no worker reads, so this test drives the attempts itself.
    const idleQueue = createWebhookDeliveryQueue(connection, uniqueName('idle'));
    try {
      const first = await tenantWithWebhook(endpoint.url);
      await emitDaysCompleted({ ...emitDeps(), queue: idleQueue }, [dayCompleted(first.tenantId)]);
      const [pending] = await listWebhookDeliveries(env.knex, first.tenantId);
      await expect(processWebhookDelivery(deps, job(pending!.eventId))).rejects.toThrow('the receiver answered 500');
      expect(endpoint.received).toHaveLength(1);
      await putWebhook({ db: env.knex, secrets, policy: insecure, resolveHost: systemResolveHost, logger }, first.tenantId, {
        url: endpoint.url,
        enabled: false,
      });
      expect(await listWebhookDeliveries(env.knex, first.tenantId)).toMatchObject([
        { state: 'failed', attempts: 1, lastError: 'cancelled: the webhook was disabled' },
      ]);
      expect(await processWebhookDelivery(deps, job(pending!.eventId, 1))).toEqual({ outcome: 'skipped', reason: 'already failed' });

      const second = await tenantWithWebhook(endpoint.url);
      await emitDaysCompleted({ ...emitDeps(), queue: idleQueue }, [dayCompleted(second.tenantId)]);
      await deleteWebhook({ db: env.knex, logger }, second.tenantId);
      expect(await listWebhookDeliveries(env.knex, second.tenantId)).toMatchObject([
        { state: 'failed', attempts: 0, lastError: 'cancelled: the webhook was deleted' },
      ]);

      // Disabled between emitting and sending (the row still pending): cancelled when its turn comes.
      const third = await tenantWithWebhook(endpoint.url);
      await emitDaysCompleted({ ...emitDeps(), queue: idleQueue }, [dayCompleted(third.tenantId)]);
      await env.knex('tenant_webhooks').where({ tenant_id: third.tenantId }).update({ enabled: false });
      const [racing] = await listWebhookDeliveries(env.knex, third.tenantId);
      const cancelledBefore = await counter('dcar_webhook_deliveries_total', 'outcome', 'cancelled');
      expect(await processWebhookDelivery(deps, job(racing!.eventId))).toEqual({ outcome: 'cancelled', reason: 'cancelled: the webhook was disabled' });
      expect(await counter('dcar_webhook_deliveries_total', 'outcome', 'cancelled')).toBe(cancelledBefore + 1);
      expect(endpoint.received).toHaveLength(1);
    } finally {
      deps.agents.destroy();
      await idleQueue.close();
    }
  });
});

describe('without WEBHOOK_ALLOW_INSECURE', () => {
  let strictQueue: WebhookDeliveryQueue;
  let strictWorker: WebhookDeliveryWorker;
  let trap: Server;
  let trapPort: number;
  let connections = 0;
  // DNS as the worker sees it at connect time: the name now points at this machine.
  const resolvedAtConnect: Record<string, string> = { 'hooks.example.com': '127.0.0.1' };
  const resolveAtConnect = (hostname: string): Promise<LookupAddress[]> => {
    const address = resolvedAtConnect[hostname];
    if (!address) return Promise.reject(new Error(`getaddrinfo ENOTFOUND ${hostname}`));
    return Promise.resolve([{ address, family: 4 }]);
  };

  beforeAll(async () => {
    // Anything listening on loopback stands for an internal service the delivery must never reach.
    trap = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    trapPort = (trap.address() as AddressInfo).port;
    const prefix = uniqueName('strict');
    strictQueue = createWebhookDeliveryQueue(connection, prefix, { ...WEBHOOK_DELIVERY_JOB_OPTIONS, attempts: 2 });
    strictWorker = startWebhookDeliveryWorker(
      { db: env.knex, secrets, policy: { allowInsecure: false }, logger, metrics, now: () => new Date(), resolveHost: resolveAtConnect },
      { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix, concurrency: 2, retryDelayMs: () => 50 },
    );
  });

  afterAll(async () => {
    await strictWorker?.close();
    await strictQueue?.close();
    await new Promise((resolve) => trap?.close(resolve));
  });

  it('refuses at connect time a name that resolved to a public address at registration and now resolves to loopback', async () => {
    const publicAtRegistration = (): Promise<LookupAddress[]> => Promise.resolve([{ address: '93.184.216.34', family: 4 }]);
    const { tenantId } = await tenantWithWebhook(`https://hooks.example.com:${trapPort}/hook`, {
      policy: { allowInsecure: false },
      resolveHost: publicAtRegistration,
    });
    const refusedBefore = await counter('dcar_webhook_delivery_attempts_total', 'result', 'refused');
    await emitDaysCompleted({ ...emitDeps(), queue: strictQueue }, [dayCompleted(tenantId)]);

    const delivery = await deliveryOf(tenantId, 'failed');
    expect(delivery).toMatchObject({
      attempts: 2,
      lastStatusCode: null,
      lastError: 'refused to connect: hooks.example.com resolves to 127.0.0.1, which is not a public address',
    });
    expect(await counter('dcar_webhook_delivery_attempts_total', 'result', 'refused')).toBe(refusedBefore + 2);
    expect(connections).toBe(0);
  });

  it('refuses an address in the URL itself and an http:// URL stored while insecure URLs were allowed', async () => {
    for (const url of [`https://127.0.0.1:${trapPort}/hook`, `http://[::ffff:127.0.0.1]:${trapPort}/hook`]) {
      const { tenantId } = await tenantWithWebhook(url);
      await emitDaysCompleted({ ...emitDeps(), queue: strictQueue }, [dayCompleted(tenantId)]);
      const delivery = await deliveryOf(tenantId, 'failed');
      expect(delivery.lastError).toMatch(
        url.startsWith('https') ? /^refused to connect: 127\.0\.0\.1 is not a public address$/ : /^url must start with https:\/\/$/,
      );
    }
    expect(connections).toBe(0);
  });
});
