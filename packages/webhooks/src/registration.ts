import { UserFacingError } from '@dcar/domain';
import { getTenant } from '@dcar/host';
import type { Knex, Logger } from '@dcar/platform';
import { cancelPendingDeliveries, listRecentDeliveries, type DeliveryView } from './deliveries.js';
import { DestinationRefusedError, checkDestination, parseWebhookUrl, type DestinationPolicy, type ResolveHost } from './destination.js';
import { generateWebhookSecret, type SecretBox } from './secrets.js';

/**
 * Host operations on a tenant's webhook (the host endpoints and `pnpm admin webhook ...` call the
 * same functions). The secret leaves this module only in the answer that creates or rotates it.
 */
export interface WebhookRegistrationDeps {
  db: Knex;
  secrets: SecretBox;
  policy: DestinationPolicy;
  resolveHost: ResolveHost;
  logger: Logger;
}

export interface WebhookView {
  url: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** The answer that shows the secret: when the webhook is created and when its secret is rotated. */
export type WebhookWithSecret = WebhookView & { secret: string };

interface WebhookRow {
  tenant_id: string;
  url: string;
  enabled: boolean;
  secret_ciphertext: string;
  created_at: Date;
  updated_at: Date;
}

function view(row: WebhookRow): WebhookView {
  return { url: row.url, enabled: row.enabled, createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString() };
}

/** What a log line may say about a URL: its origin. Paths and queries often carry the receiver's own tokens. */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '[unparseable]';
  }
}

async function validUrl(deps: WebhookRegistrationDeps, tenantId: string, input: string): Promise<string> {
  try {
    const url = parseWebhookUrl(input, deps.policy);
    await getTenant(deps.db, tenantId);
    if ((await checkDestination(url, deps.policy, deps.resolveHost)) === 'unresolved') {
      deps.logger.warn({ tenantId, origin: url.origin }, 'webhook host does not resolve now; each delivery checks its addresses when it connects');
    }
    return url.toString();
  } catch (error) {
    if (error instanceof DestinationRefusedError) throw new UserFacingError(400, error.message);
    throw error;
  }
}

/**
 * Registers or changes the tenant's webhook. The secret is generated, and shown, only when the
 * webhook is created; disabling it stops the deliveries still pending.
 */
export async function putWebhook(
  deps: WebhookRegistrationDeps,
  tenantId: string,
  input: { url: string; enabled?: boolean | undefined },
): Promise<WebhookView & { secret?: string }> {
  const url = await validUrl(deps, tenantId, input.url);
  const enabled = input.enabled ?? true;
  const secret = generateWebhookSecret();
  const { row, created, cancelled } = await deps.db.transaction(async (trx) => {
    // The secret column is only written on insert: an update keeps the tenant's existing secret.
    const [saved]: Array<WebhookRow & { created: boolean }> = await trx('tenant_webhooks')
      .insert({ tenant_id: tenantId, url, enabled, secret_ciphertext: deps.secrets.seal(tenantId, secret) })
      .onConflict('tenant_id')
      .merge({ url, enabled, updated_at: trx.fn.now() })
      .returning(trx.raw('*, (xmax = 0) as created'));
    if (!saved) throw new Error(`webhook of tenant ${tenantId} was not saved`);
    const stopped = enabled ? 0 : await cancelPendingDeliveries(trx, tenantId, 'cancelled: the webhook was disabled');
    return { row: saved, created: saved.created, cancelled: stopped };
  });
  deps.logger.info({ tenantId, origin: urlOrigin(url), enabled, created, cancelledDeliveries: cancelled }, created ? 'webhook registered' : 'webhook updated');
  return created ? { ...view(row), secret } : view(row);
}

async function findWebhook(db: Knex, tenantId: string): Promise<WebhookRow> {
  await getTenant(db, tenantId);
  const row = (await db('tenant_webhooks').where({ tenant_id: tenantId }).first()) as WebhookRow | undefined;
  if (!row) throw new UserFacingError(404, `no webhook is registered for tenant ${tenantId}`);
  return row;
}

export async function getWebhook(db: Knex, tenantId: string): Promise<WebhookView> {
  return view(await findWebhook(db, tenantId));
}

/** Removes the webhook; deliveries still pending are stopped, the delivery log stays. */
export async function deleteWebhook(deps: Pick<WebhookRegistrationDeps, 'db' | 'logger'>, tenantId: string): Promise<void> {
  await getTenant(deps.db, tenantId);
  const cancelled = await deps.db.transaction(async (trx) => {
    const deleted = await trx('tenant_webhooks').where({ tenant_id: tenantId }).delete();
    if (deleted === 0) throw new UserFacingError(404, `no webhook is registered for tenant ${tenantId}`);
    return cancelPendingDeliveries(trx, tenantId, 'cancelled: the webhook was deleted');
  });
  deps.logger.info({ tenantId, cancelledDeliveries: cancelled }, 'webhook deleted');
}

/** A new secret, shown once; deliveries from now on (retries included) are signed with it. */
export async function rotateWebhookSecret(deps: Pick<WebhookRegistrationDeps, 'db' | 'secrets' | 'logger'>, tenantId: string): Promise<WebhookWithSecret> {
  await findWebhook(deps.db, tenantId);
  const secret = generateWebhookSecret();
  const [row] = (await deps
    .db('tenant_webhooks')
    .where({ tenant_id: tenantId })
    .update({ secret_ciphertext: deps.secrets.seal(tenantId, secret), updated_at: deps.db.fn.now() })
    .returning('*')) as WebhookRow[];
  if (!row) throw new UserFacingError(404, `no webhook is registered for tenant ${tenantId}`);
  deps.logger.info({ tenantId }, 'webhook secret rotated');
  return { ...view(row), secret };
}

/** The tenant's latest deliveries, newest first (the tenant must exist; its webhook need not). */
export async function listWebhookDeliveries(db: Knex, tenantId: string): Promise<DeliveryView[]> {
  await getTenant(db, tenantId);
  return listRecentDeliveries(db, tenantId);
}
