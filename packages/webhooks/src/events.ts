import { randomBytes } from 'node:crypto';
import { formatHour } from '@dcar/domain';
import type { Knex, Logger } from '@dcar/platform';
import { insertDeliveries, pendingDeliveryIds } from './deliveries.js';
import type { WebhookDeliveryQueue } from './queue.js';

export const WebhookEventTypes = {
  dayCompleted: 'daily_audio_recordings.day.completed',
  hourRegenerated: 'daily_audio_recordings.hour.regenerated',
} as const;
export type WebhookEventType = (typeof WebhookEventTypes)[keyof typeof WebhookEventTypes];

/** `data` of day.completed: sent once per run and tenant, when the run has finished every round for the tenant. */
export interface DayCompletedData {
  tenantId: string;
  utcDay: string;
  runId: string;
  availableHours: number;
  noDataHours: number;
  /** Hours ("08") that failed in every round. */
  failedHours: string[];
  totalFiles: number;
  totalSizeBytes: number;
}

/** `data` of hour.regenerated: reconciliation rebuilt an hour whose source rows changed. */
export interface HourRegeneratedData {
  tenantId: string;
  utcDay: string;
  hour: string;
  revision: number;
  fileCount: number;
  /** The new ZIP's SHA-256; null when the hour has no archive any more (all its rows are gone). */
  sha256: string | null;
}

export interface WebhookEvent {
  tenantId: string;
  type: WebhookEventType;
  /** Emitting an event whose key was already recorded is a no-op: retried steps and replicas send it once. */
  idempotencyKey: string;
  data: DayCompletedData | HourRegeneratedData;
}

export interface WebhookEmitDeps {
  db: Knex;
  queue: WebhookDeliveryQueue;
  logger: Logger;
  now: () => Date;
}

export function dayCompletedKey(runId: string, tenantId: string): string {
  return `day.completed:${runId}:${tenantId}`;
}

export function hourRegeneratedKey(tenantId: string, utcDay: string, hour: number, revision: number): string {
  return `hour.regenerated:${tenantId}:${utcDay}:${formatHour(hour)}:${revision}`;
}

/** A Standard Webhooks message id: `msg_` + 128 random bits. It is the webhook-id header and the delivery job's id. */
export function newEventId(): string {
  return `msg_${randomBytes(16).toString('base64url')}`;
}

/** Events recorded and queued per statement: bounds memory for runs over many tenants. */
const EMIT_CHUNK_SIZE = 500;

/**
 * Records each event for its tenant's enabled webhook (a tenant without one gets nothing) and
 * queues its delivery with jobId = event id. The body is fixed here, once: every attempt sends and
 * signs the same bytes. Returns how many deliveries are pending for these events.
 */
export async function emitWebhookEvents(deps: WebhookEmitDeps, events: WebhookEvent[]): Promise<{ pending: number }> {
  let pending = 0;
  for (let start = 0; start < events.length; start += EMIT_CHUNK_SIZE) {
    const now = deps.now();
    const chunk = events.slice(start, start + EMIT_CHUNK_SIZE).map((event) => ({
      id: newEventId(),
      tenantId: event.tenantId,
      type: event.type,
      payload: JSON.stringify({ type: event.type, timestamp: now.toISOString(), data: event.data }),
      idempotencyKey: event.idempotencyKey,
    }));
    const queued = await insertDeliveries(deps.db, chunk, now);
    // An id already on the queue (an earlier emit of the same event) is ignored by BullMQ.
    await deps.queue.addBulk(queued.map((d) => ({ name: 'deliver', data: { eventId: d.id }, opts: { jobId: d.id } })));
    for (const d of queued) deps.logger.debug({ tenantId: d.tenantId, eventId: d.id, idempotencyKey: d.idempotencyKey }, 'webhook event queued');
    pending += queued.length;
  }
  return { pending };
}

export async function emitWebhookEvent(deps: WebhookEmitDeps, event: WebhookEvent): Promise<{ pending: number }> {
  return emitWebhookEvents(deps, [event]);
}

/**
 * day.completed for each tenant a run has finished. Never throws: archiving must not wait on or
 * fail because of webhooks, so a failure is logged and the caller carries on.
 */
export async function emitDaysCompleted(deps: WebhookEmitDeps, days: DayCompletedData[]): Promise<void> {
  try {
    await emitWebhookEvents(
      deps,
      days.map((data) => ({ tenantId: data.tenantId, type: WebhookEventTypes.dayCompleted, idempotencyKey: dayCompletedKey(data.runId, data.tenantId), data })),
    );
  } catch (error) {
    deps.logger.error({ err: error, runId: days[0]?.runId, tenants: days.length }, 'could not emit day.completed webhook events');
  }
}

/**
 * hour.regenerated, for reconciliation: call it once the hour's new state is recorded. `hour` is
 * 0-23 (sent as "HH"); the key includes the revision, so each regeneration is sent once. Never throws.
 */
export async function emitHourRegenerated(
  deps: WebhookEmitDeps,
  hour: { tenantId: string; utcDay: string; hour: number; revision: number; fileCount: number; sha256: string | null },
): Promise<void> {
  try {
    const data: HourRegeneratedData = {
      tenantId: hour.tenantId,
      utcDay: hour.utcDay,
      hour: formatHour(hour.hour),
      revision: hour.revision,
      fileCount: hour.fileCount,
      sha256: hour.sha256,
    };
    await emitWebhookEvent(deps, {
      tenantId: hour.tenantId,
      type: WebhookEventTypes.hourRegenerated,
      idempotencyKey: hourRegeneratedKey(hour.tenantId, hour.utcDay, hour.hour, hour.revision),
      data,
    });
  } catch (error) {
    deps.logger.error({ err: error, tenantId: hour.tenantId, utcDay: hour.utcDay, hour: hour.hour }, 'could not emit hour.regenerated webhook event');
  }
}

/**
 * A job BullMQ itself failed while its delivery is still pending: no attempt recorded the end (the
 * job stalled past its limit because its worker died mid-attempt twice, or the database was away
 * during the last attempt). Its id stays taken, so adding it again does nothing; it is retried
 * instead (one more attempt, recorded as the last). Another process retrying it first is no error.
 */
async function retryLostJobs(queue: WebhookDeliveryQueue, ids: string[]): Promise<void> {
  const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
  const lost = ids.filter((_id, index) => states[index] === 'failed');
  await Promise.all(
    lost.map(async (id) => {
      const job = await queue.getJob(id);
      await job?.retry('failed').catch(() => undefined);
    }),
  );
}

/**
 * Queues again every delivery still pending after `olderThanMs`. Emitting records the row before
 * it queues the job, so an emitter that failed in between (Redis away, a crash) leaves a row
 * without a job; this gives it one. Ids already on the queue (waiting, delayed for a retry, or
 * kept after finishing) are ignored by BullMQ, so running it often, from any number of
 * processes, sends nothing twice; a job BullMQ failed behind the delivery's back is retried.
 * Returns how many ids it offered.
 */
export async function requeuePendingDeliveries(deps: Pick<WebhookEmitDeps, 'db' | 'queue' | 'now'>, olderThanMs = 60_000): Promise<number> {
  let offered = 0;
  for await (const ids of pendingDeliveryIds(deps.db, new Date(deps.now().getTime() - olderThanMs))) {
    await deps.queue.addBulk(ids.map((id) => ({ name: 'deliver', data: { eventId: id }, opts: { jobId: id } })));
    await retryLostJobs(deps.queue, ids);
    offered += ids.length;
  }
  return offered;
}
