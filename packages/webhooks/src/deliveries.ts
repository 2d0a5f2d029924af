import type { Knex } from '@dcar/platform';

/** pending: not yet delivered, retries may follow; delivered: a 2xx arrived; failed: every attempt failed, or the webhook was disabled or deleted first. */
export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One row of the host's delivery log. */
export interface DeliveryView {
  eventId: string;
  type: string;
  state: DeliveryState;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  failedAt: string | null;
}

interface DeliveryRow {
  id: string;
  tenant_id: string;
  type: string;
  payload: string;
  idempotency_key: string;
  state: DeliveryState;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
  failed_at: Date | null;
}

export interface NewDelivery {
  id: string;
  tenantId: string;
  type: string;
  payload: string;
  idempotencyKey: string;
}

/** The delivery log shows the latest deliveries of a tenant. */
export const DELIVERY_LOG_LIMIT = 100;
const MAX_ERROR_LENGTH = 500;

/**
 * Records new deliveries for the tenants that have an enabled webhook, in one statement; an
 * idempotency key already recorded adds nothing. Returns the ids of every still-pending delivery
 * of these keys (new or earlier), so a caller that died between recording and queueing re-queues them.
 */
export async function insertDeliveries(
  db: Knex,
  deliveries: NewDelivery[],
  createdAt: Date,
): Promise<Array<{ id: string; tenantId: string; idempotencyKey: string }>> {
  if (deliveries.length === 0) return [];
  const column = <K extends keyof NewDelivery>(key: K) => deliveries.map((d) => d[key]);
  await db.raw(
    `insert into webhook_deliveries (id, tenant_id, type, payload, idempotency_key, created_at)
     select i.id, i.tenant_id, i.type, i.payload, i.idempotency_key, ?
       from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) as i(id, tenant_id, type, payload, idempotency_key)
       join tenant_webhooks w on w.tenant_id = i.tenant_id and w.enabled
     on conflict (idempotency_key) do nothing`,
    [createdAt, column('id'), column('tenantId'), column('type'), column('payload'), column('idempotencyKey')],
  );
  const pending: Array<Pick<DeliveryRow, 'id' | 'tenant_id' | 'idempotency_key'>> = await db('webhook_deliveries')
    .select('id', 'tenant_id', 'idempotency_key')
    .where('state', 'pending')
    .whereRaw('idempotency_key = any(?::text[])', [column('idempotencyKey')]);
  return pending.map((row) => ({ id: row.id, tenantId: row.tenant_id, idempotencyKey: row.idempotency_key }));
}

/** Ids of pending deliveries recorded before `before`, oldest first, page by page. */
export async function* pendingDeliveryIds(db: Knex, before: Date, pageSize = 1000): AsyncGenerator<string[]> {
  let after: { createdAt: Date; id: string } | null = null;
  for (;;) {
    const query = db('webhook_deliveries')
      .select('id', 'created_at')
      .where('state', 'pending')
      .where('created_at', '<', before)
      .orderBy([{ column: 'created_at' }, { column: 'id' }])
      .limit(pageSize);
    if (after) query.whereRaw('(created_at, id) > (?, ?)', [after.createdAt, after.id]);
    const rows = (await query) as Array<{ id: string; created_at: Date }>;
    if (rows.length === 0) return;
    yield rows.map((row) => row.id);
    const last = rows[rows.length - 1]!;
    after = { createdAt: last.created_at, id: last.id };
    if (rows.length < pageSize) return;
  }
}

/** A delivery with what is needed to send it now: the current URL, switch and sealed secret of its tenant's webhook (null when deleted). */
export interface DeliveryToSend {
  id: string;
  tenantId: string;
  type: string;
  payload: string;
  state: DeliveryState;
  webhook: { url: string; enabled: boolean; secretCiphertext: string } | null;
}

export async function loadDeliveryToSend(db: Knex, eventId: string): Promise<DeliveryToSend | null> {
  const row = (await db('webhook_deliveries as d')
    .leftJoin('tenant_webhooks as w', 'w.tenant_id', 'd.tenant_id')
    .select('d.id', 'd.tenant_id', 'd.type', 'd.payload', 'd.state', 'w.url', 'w.enabled', 'w.secret_ciphertext')
    .where('d.id', eventId)
    .first()) as
    | (Pick<DeliveryRow, 'id' | 'tenant_id' | 'type' | 'payload' | 'state'> & { url: string | null; enabled: boolean | null; secret_ciphertext: string | null })
    | undefined;
  if (!row) return null;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    type: row.type,
    payload: row.payload,
    state: row.state,
    webhook:
      row.url !== null && row.secret_ciphertext !== null ? { url: row.url, enabled: row.enabled ?? false, secretCiphertext: row.secret_ciphertext } : null,
  };
}

/**
 * Records one attempt: its status code or error, and the delivery's new state. Only a pending
 * delivery changes: one cancelled meanwhile (webhook disabled or deleted) stays as it is.
 */
export async function recordAttempt(
  db: Knex,
  eventId: string,
  attempt: { statusCode: number | null; error: string | null; state: DeliveryState; at: Date },
): Promise<void> {
  await db('webhook_deliveries')
    .where({ id: eventId, state: 'pending' })
    .update({
      attempts: db.raw('attempts + 1'),
      last_status_code: attempt.statusCode,
      last_error: attempt.error === null ? null : attempt.error.slice(0, MAX_ERROR_LENGTH),
      state: attempt.state,
      delivered_at: attempt.state === 'delivered' ? attempt.at : null,
      failed_at: attempt.state === 'failed' ? attempt.at : null,
    });
}

/** Marks a delivery that will not be attempted (any more) as failed, with the reason. */
export async function cancelDelivery(db: Knex, eventId: string, reason: string, at: Date): Promise<boolean> {
  const updated = await db('webhook_deliveries').where({ id: eventId, state: 'pending' }).update({ state: 'failed', last_error: reason, failed_at: at });
  return updated > 0;
}

/** Stops every pending delivery of a tenant: its webhook was disabled or deleted, so nothing more is sent. */
export async function cancelPendingDeliveries(db: Knex, tenantId: string, reason: string): Promise<number> {
  return db('webhook_deliveries').where({ tenant_id: tenantId, state: 'pending' }).update({ state: 'failed', last_error: reason, failed_at: db.fn.now() });
}

export async function listRecentDeliveries(db: Knex, tenantId: string, limit = DELIVERY_LOG_LIMIT): Promise<DeliveryView[]> {
  const rows = (await db('webhook_deliveries')
    .where({ tenant_id: tenantId })
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit)) as DeliveryRow[];
  return rows.map((row) => ({
    eventId: row.id,
    type: row.type,
    state: row.state,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
    deliveredAt: row.delivered_at ? row.delivered_at.toISOString() : null,
    failedAt: row.failed_at ? row.failed_at.toISOString() : null,
  }));
}
