import { isIP } from 'node:net';
import { closeQueueWorker, QueueNames, type Knex, type Logger, type WebhookDeliveryJobData } from '@dcar/platform';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { cancelDelivery, loadDeliveryToSend, recordAttempt } from './deliveries.js';
import {
  DestinationRefusedError,
  createGuardedLookup,
  isPublicAddress,
  parseWebhookUrl,
  systemResolveHost,
  type DestinationPolicy,
  type ResolveHost,
} from './destination.js';
import { AnswerTimeoutError, createPostAgents, postJson, type PostAgents } from './http-post.js';
import type { AttemptResult, WebhookMetrics } from './metrics.js';
import { requeuePendingDeliveries } from './events.js';
import { WEBHOOK_BACKOFF_TYPE, createWebhookDeliveryQueue } from './queue.js';
import { urlOrigin } from './registration.js';
import { webhookRetryDelayMs } from './retry-schedule.js';
import type { SecretBox } from './secrets.js';

/** A 2xx within this time is success; anything slower is a failed attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
const USER_AGENT = 'dcar-webhooks/1';

export interface WebhookDeliveryDeps {
  db: Knex;
  secrets: SecretBox;
  policy: DestinationPolicy;
  logger: Logger;
  metrics: WebhookMetrics;
  now: () => Date;
  agents: PostAgents;
  /** Default: the system resolver. */
  resolveHost?: ResolveHost;
  /** Default: WEBHOOK_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** A failed attempt; BullMQ retries the job on the schedule unless it was the last attempt. */
export class DeliveryAttemptError extends Error {
  override name = 'DeliveryAttemptError';
}

type AttemptOutcome = { result: 'success'; statusCode: number } | { result: Exclude<AttemptResult, 'success'>; statusCode: number | null; error: string };

async function attempt(deps: WebhookDeliveryDeps, url: URL, eventId: string, payload: string, secret: string): Promise<AttemptOutcome> {
  const { policy } = deps;
  // An address in the URL itself involves no DNS step, so it is checked here; names are checked in the connection's lookup.
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!policy.allowInsecure && isIP(literal) && !isPublicAddress(literal)) {
    return { result: 'refused', statusCode: null, error: `refused to connect: ${literal} is not a public address` };
  }
  const sentAt = deps.now();
  const headers = {
    'user-agent': USER_AGENT,
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(eventId, sentAt, payload),
  };
  try {
    const statusCode = await postJson(url, payload, headers, {
      timeoutMs: deps.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
      lookup: policy.allowInsecure ? undefined : createGuardedLookup(deps.resolveHost ?? systemResolveHost),
      agents: deps.agents,
    });
    if (statusCode >= 200 && statusCode < 300) return { result: 'success', statusCode };
    if (statusCode >= 300 && statusCode < 400)
      return { result: 'redirect', statusCode, error: `the receiver answered ${statusCode}; redirects are not followed` };
    return { result: 'http_error', statusCode, error: `the receiver answered ${statusCode}` };
  } catch (error) {
    if (error instanceof AnswerTimeoutError) return { result: 'timeout', statusCode: null, error: error.message };
    if (error instanceof DestinationRefusedError) return { result: 'refused', statusCode: null, error: error.message };
    return { result: 'network_error', statusCode: null, error: (error as Error).message };
  }
}

export type DeliveryJobResult = { outcome: 'delivered'; statusCode: number } | { outcome: 'cancelled' | 'skipped'; reason: string };

/**
 * One attempt of one delivery (the `webhook-delivery` job). Reads the tenant's webhook as it is now:
 * a disabled or deleted webhook cancels the delivery without any request; a changed URL or rotated
 * secret applies to retries. A failed attempt throws, so BullMQ retries it on the schedule; after the
 * last attempt the delivery is marked failed.
 */
export async function processWebhookDelivery(deps: WebhookDeliveryDeps, job: Job<WebhookDeliveryJobData>): Promise<DeliveryJobResult> {
  const { eventId } = job.data;
  const delivery = await loadDeliveryToSend(deps.db, eventId);
  if (!delivery) return { outcome: 'skipped', reason: 'no such delivery (its tenant was deleted)' };
  const log = deps.logger.child({ tenantId: delivery.tenantId, eventId, jobId: job.id, type: delivery.type });
  if (delivery.state !== 'pending') return { outcome: 'skipped', reason: `already ${delivery.state}` };

  const webhook = delivery.webhook;
  if (!webhook || !webhook.enabled) {
    const reason = webhook ? 'cancelled: the webhook was disabled' : 'cancelled: the webhook was deleted';
    if (await cancelDelivery(deps.db, eventId, reason, deps.now())) deps.metrics.deliveries.inc({ outcome: 'cancelled' });
    log.info({ reason }, 'webhook delivery cancelled');
    return { outcome: 'cancelled', reason };
  }

  const attemptNumber = job.attemptsMade + 1;
  const lastAttempt = attemptNumber >= (job.opts.attempts ?? 1);
  let outcome: AttemptOutcome;
  try {
    const url = parseWebhookUrl(webhook.url, deps.policy);
    outcome = await attempt(deps, url, eventId, delivery.payload, deps.secrets.open(delivery.tenantId, webhook.secretCiphertext));
  } catch (error) {
    // The stored URL no longer passes the rules (WEBHOOK_ALLOW_INSECURE was turned off), or the secret does not decrypt.
    outcome = { result: 'refused', statusCode: null, error: (error as Error).message };
  }
  deps.metrics.attempts.inc({ result: outcome.result });
  const at = deps.now();
  const origin = urlOrigin(webhook.url);

  if (outcome.result === 'success') {
    await recordAttempt(deps.db, eventId, { statusCode: outcome.statusCode, error: null, state: 'delivered', at });
    deps.metrics.deliveries.inc({ outcome: 'delivered' });
    log.info({ origin, attempt: attemptNumber, statusCode: outcome.statusCode }, 'webhook delivered');
    return { outcome: 'delivered', statusCode: outcome.statusCode };
  }
  await recordAttempt(deps.db, eventId, { statusCode: outcome.statusCode, error: outcome.error, state: lastAttempt ? 'failed' : 'pending', at });
  if (lastAttempt) {
    deps.metrics.deliveries.inc({ outcome: 'failed' });
    log.error(
      { origin, attempt: attemptNumber, result: outcome.result, statusCode: outcome.statusCode, err: outcome.error },
      'webhook delivery failed after its last attempt',
    );
  } else {
    log.warn(
      { origin, attempt: attemptNumber, result: outcome.result, statusCode: outcome.statusCode, err: outcome.error },
      'webhook attempt failed; will retry',
    );
  }
  throw new DeliveryAttemptError(outcome.error);
}

export interface WebhookDeliveryWorkerOptions {
  connection: Redis;
  prefix: string;
  /** Deliveries in flight at once in this process. */
  concurrency: number;
  /** Delay before the next attempt after `failedAttempts` failures; default: the production schedule. Tests shorten it. */
  retryDelayMs?: (failedAttempts: number) => number;
  /** How often pending deliveries without a job are queued again (`requeuePendingDeliveries`); default 5 minutes. */
  requeueIntervalMs?: number;
}

export interface WebhookDeliveryWorker {
  worker: Worker<WebhookDeliveryJobData, DeliveryJobResult>;
  close(): Promise<void>;
}

/**
 * The `webhook-delivery` consumer: a BullMQ Worker of its own, so its concurrency is independent of
 * the tenant-hour jobs' (a long transcode never holds a delivery back), and it scales with replicas.
 */
export function startWebhookDeliveryWorker(deps: Omit<WebhookDeliveryDeps, 'agents'>, options: WebhookDeliveryWorkerOptions): WebhookDeliveryWorker {
  const agents = createPostAgents();
  const retryDelayMs = options.retryDelayMs ?? ((failedAttempts: number) => webhookRetryDelayMs(failedAttempts));
  const worker = new Worker<WebhookDeliveryJobData, DeliveryJobResult>(QueueNames.webhookDelivery, (job) => processWebhookDelivery({ ...deps, agents }, job), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    settings: {
      backoffStrategy: (failedAttempts: number, type?: string) => {
        if (type !== WEBHOOK_BACKOFF_TYPE) throw new Error(`unknown backoff type ${String(type)}`);
        return retryDelayMs(failedAttempts);
      },
    },
  });
  worker.on('error', (error) => deps.logger.error({ err: error, queue: QueueNames.webhookDelivery }, 'webhook delivery worker error'));

  const queue = createWebhookDeliveryQueue(options.connection, options.prefix);
  let requeueing: Promise<void> = Promise.resolve();
  const requeue = () => {
    requeueing = requeuePendingDeliveries({ db: deps.db, queue, now: deps.now }).then(
      (offered) => deps.logger.debug({ offered }, 'pending webhook deliveries offered to the queue again'),
      (error: unknown) => deps.logger.warn({ err: error }, 'could not queue pending webhook deliveries again'),
    );
  };
  requeue();
  const timer = setInterval(requeue, options.requeueIntervalMs ?? 5 * 60_000);
  timer.unref();
  return {
    worker,
    close: async () => {
      clearInterval(timer);
      await requeueing;
      await closeQueueWorker(worker, options.connection);
      await queue.close();
      agents.destroy();
    },
  };
}
