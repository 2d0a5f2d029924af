import { formatHour } from '@dcar/domain';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * The queue wire format: names, payloads and job ids shared by every service. Changing a payload
 * here changes what producers and consumers of other versions read, so keep changes additive.
 */
export const QueueNames = {
  /** One job per tenant-hour and round: transcode, zip, upload (worker). */
  archiveHour: 'archive-hour',
  /** Run coordination: a round's enqueue step and its parent that runs once every hour of the round is done (scheduler). */
  archiveRun: 'archive-run',
  /** Nightly trigger and retention clean-up (scheduler). */
  maintenance: 'maintenance',
  /** One job per webhook delivery, jobId = the event id (worker, its own BullMQ Worker). */
  webhookDelivery: 'webhook-delivery',
} as const;

export interface ArchiveHourJobData {
  runId: string;
  tenantId: string;
  utcDay: string;
  hour: number;
  /** 1, 2 or 3: each retry round is a new job with its own id. */
  round: number;
  /** Regenerate even when the hour is already available. */
  force: boolean;
}

/** Job names on the archive-run queue and their payloads. */
export interface ArchiveRunJobs {
  /** Adds the round's hour jobs as children of the round's parent, in bulk. */
  'enqueue-round': { runId: string; round: number };
  /** The round's parent: runs once after every child completed or failed. */
  'round-complete': { runId: string; round: number };
}

/** A webhook delivery job: the event's row in webhook_deliveries holds the body, tenant and state. */
export interface WebhookDeliveryJobData {
  eventId: string;
}

/** Job names on the maintenance queue and their payloads. */
export interface MaintenanceJobs {
  /** Starts the run for the UTC day before the job's scheduled time. */
  nightly: Record<string, never>;
  /** Deletes archives whose retention has passed. */
  retention: Record<string, never>;
}

/**
 * Deterministic id of a tenant-hour job: the same run, tenant, day, hour and round always give the
 * same id, so enqueueing twice (a restarted scheduler) adds nothing. No ':' (BullMQ reserves it).
 */
export function archiveHourJobId(job: Pick<ArchiveHourJobData, 'runId' | 'tenantId' | 'utcDay' | 'hour' | 'round'>): string {
  return `${job.runId}.${job.tenantId}.${job.utcDay}.${formatHour(job.hour)}.r${job.round}`;
}

export function roundParentJobId(runId: string, round: number): string {
  return `${runId}.round-${round}`;
}

export function enqueueRoundJobId(runId: string, round: number): string {
  return `${runId}.round-${round}.enqueue`;
}

/**
 * Connections for BullMQ. Workers and other long-lived consumers must never give up on a command
 * (maxRetriesPerRequest: null, as BullMQ requires). Producers on a request path (the API, the admin
 * CLI) fail fast instead, as BullMQ's production guide advises: with ioredis' offline queue off, a
 * command sent while the connection is down is refused at once rather than queued until Redis is
 * back, so a request answers an error instead of hanging. BullMQ's queues wait for the connection's
 * first `ready` on their own; code that sends commands itself waits with `redisReady` first.
 */
export function createRedisConnection(url: string, role: 'consumer' | 'producer'): Redis {
  const options: RedisOptions =
    role === 'consumer'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: 5000 };
  return new Redis(url, { ...options, lazyConnect: false });
}

/** Resolves once the connection is ready for commands; rejects when it is not within `timeoutMs`. */
export async function redisReady(connection: Redis, timeoutMs: number): Promise<void> {
  if (connection.status === 'ready') return;
  let onReady: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      onReady = resolve;
      connection.once('ready', onReady);
      timer = setTimeout(() => reject(new Error(`Redis is not reachable: no connection within ${timeoutMs} ms`)), timeoutMs);
    });
  } finally {
    clearTimeout(timer);
    if (onReady) connection.off('ready', onReady);
  }
}
