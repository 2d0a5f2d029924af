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
  /**
   * A reconciliation run's job (CONTRACT §3.3): regenerate the hour unless its archive's fingerprint
   * still matches its source rows, and send hour.regenerated when it does. Absent: false.
   */
  reconcile?: boolean;
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
  /** A reconciliation pass (CONTRACT §3.3): regenerates the hours whose source rows changed. */
  reconcile: Record<string, never>;
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
      ? { maxRetriesPerRequest: null, enableReadyCheck: true, connectTimeout: REDIS_CONNECT_TIMEOUT_MS, commandTimeout: REDIS_CONSUMER_COMMAND_TIMEOUT_MS }
      : { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: REDIS_CONNECT_TIMEOUT_MS, commandTimeout: REDIS_PRODUCER_COMMAND_TIMEOUT_MS };
  return new Redis(url, { ...options, lazyConnect: false });
}

/**
 * Every Redis wait is bounded. A connection attempt gives up after 5 s (and ioredis reconnects).
 * A command a Redis that hangs never answers fails: after 1.5 s on a request path (the API, the
 * CLI), so a request answers its 5xx within 5 s, a retry included; after 30 s for consumers, whose
 * blocking commands (BullMQ's BZPOPMIN) wait up to 10 s by design.
 */
export const REDIS_CONNECT_TIMEOUT_MS = 5000;
export const REDIS_PRODUCER_COMMAND_TIMEOUT_MS = 1500;
export const REDIS_CONSUMER_COMMAND_TIMEOUT_MS = 30_000;

/**
 * For a BullMQ Queue or FlowProducer: its 'error' events are those of the Redis connection it was
 * given, which the connection's owner logs (one JSON line per reconnect). Without a listener BullMQ
 * writes each one to stderr as a raw stack trace, which breaks the JSON log while Redis is away.
 */
export function leaveConnectionErrorsToOwner<T extends { on(event: 'error', listener: (error: Error) => void): unknown }>(emitter: T): T {
  emitter.on('error', () => undefined);
  return emitter;
}

/**
 * Closes a connection at shutdown: QUIT when Redis answers (bounded by `timeoutMs`), else drops it at
 * once. A QUIT sent to a Redis that is away fails at once or waits for an answer that never comes,
 * which turned a SIGTERM into exit code 1, or into a wait for the whole shutdown budget.
 */
export async function closeRedisConnection(connection: Redis, timeoutMs = 2000): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      connection.quit(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer to QUIT within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch {
    connection.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A BullMQ Worker's close() at shutdown. It waits for the worker's blocking read, which a Redis that
 * is away or stuck never answers, so a SIGTERM then took the whole shutdown budget and exit code 1.
 * When Redis does not answer a PING within `timeoutMs` the worker is closed without waiting: no job
 * can complete or be handed back without Redis anyway, and its lock expires so another worker takes
 * it up. When Redis answers, running jobs are waited for as usual. The 3 s bound is far above a
 * local PING on a busy machine, so a healthy Redis is never mistaken for a stuck one.
 */
export async function closeQueueWorker(worker: { close(force?: boolean): Promise<void> }, connection: Redis, timeoutMs = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const answers =
    connection.status === 'ready' &&
    (await Promise.race([
      connection.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]));
  clearTimeout(timer);
  await worker.close(!answers);
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
