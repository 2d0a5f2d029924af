import { leaveConnectionErrorsToOwner, QueueNames, type WebhookDeliveryJobData } from '@dcar/platform';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { WEBHOOK_RETRY_SCHEDULE } from './retry-schedule.js';

/** The backoff type of delivery jobs; the delivery worker's `backoffStrategy` computes it. */
export const WEBHOOK_BACKOFF_TYPE = 'webhook-schedule';

const DAY_SECONDS = 86_400;

/**
 * Every delivery job: the retry schedule's attempts and backoff (see retry-schedule.ts). Finished
 * jobs are forgotten by Redis after a while; the delivery log in PostgreSQL keeps the outcome.
 */
export const WEBHOOK_DELIVERY_JOB_OPTIONS: JobsOptions = {
  attempts: WEBHOOK_RETRY_SCHEDULE.attempts,
  backoff: { type: WEBHOOK_BACKOFF_TYPE },
  removeOnComplete: { age: 2 * DAY_SECONDS },
  removeOnFail: { age: 7 * DAY_SECONDS },
};

export type WebhookDeliveryQueue = Queue<WebhookDeliveryJobData>;

/** The producer side of `webhook-delivery`; `jobOptions` replaces the defaults (tests use fewer attempts). */
export function createWebhookDeliveryQueue(connection: Redis, prefix: string, jobOptions: JobsOptions = WEBHOOK_DELIVERY_JOB_OPTIONS): WebhookDeliveryQueue {
  return leaveConnectionErrorsToOwner(new Queue<WebhookDeliveryJobData>(QueueNames.webhookDelivery, { connection, prefix, defaultJobOptions: jobOptions }));
}
