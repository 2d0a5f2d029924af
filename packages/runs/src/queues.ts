import { leaveConnectionErrorsToOwner, QueueNames } from '@dcar/platform';
import { createWebhookDeliveryQueue, type WebhookDeliveryQueue } from '@dcar/webhooks';
import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The queues the run engine writes to, sharing one connection (webhook-delivery: the day.completed
 * events of finished tenants); `close()` closes the queues, the caller owns the connection.
 */
export interface RunQueues {
  archiveHour: Queue;
  archiveRun: Queue;
  maintenance: Queue;
  webhookDelivery: WebhookDeliveryQueue;
  flows: FlowProducer;
  close(): Promise<void>;
}

export function createRunQueues(connection: Redis, prefix: string): RunQueues {
  const archiveHour = leaveConnectionErrorsToOwner(new Queue(QueueNames.archiveHour, { connection, prefix }));
  const archiveRun = leaveConnectionErrorsToOwner(new Queue(QueueNames.archiveRun, { connection, prefix }));
  const maintenance = leaveConnectionErrorsToOwner(new Queue(QueueNames.maintenance, { connection, prefix }));
  const webhookDelivery = createWebhookDeliveryQueue(connection, prefix);
  const flows = leaveConnectionErrorsToOwner(new FlowProducer({ connection, prefix }));
  return {
    archiveHour,
    archiveRun,
    maintenance,
    webhookDelivery,
    flows,
    close: async () => {
      await Promise.all([archiveHour.close(), archiveRun.close(), maintenance.close(), webhookDelivery.close(), flows.close()]);
    },
  };
}

const DAY_SECONDS = 86_400;

/**
 * A tenant-hour job runs once: a retry is the next round's own job, after every tenant was processed.
 * Finished jobs stay a few days for inspection (Bull Board, run reports), then Redis forgets them.
 */
export const ARCHIVE_HOUR_JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  ignoreDependencyOnFailure: true,
  removeOnComplete: { age: 3 * DAY_SECONDS },
  removeOnFail: { age: 7 * DAY_SECONDS },
};

/**
 * Coordination jobs (enqueue a round, close a round, nightly trigger, clean-up) only touch PostgreSQL
 * and Redis and are idempotent, so a database or Redis outage is waited out with retries (~1 hour in all).
 */
export const COORDINATION_JOB_OPTIONS: JobsOptions = {
  attempts: 12,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 30 * DAY_SECONDS },
  removeOnFail: { age: 30 * DAY_SECONDS },
};
