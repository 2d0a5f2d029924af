import type { Knex } from '@dcar/platform';

/** What the daily-recordings endpoint checks about a caller before it serves a tenant's day. */
export interface TenantAccess {
  /** null: the tenant has no feature settings (the feature is off). */
  feature: { enabled: boolean; retentionDays: number } | null;
  /** The tenant of the application `clientId` names while it is not revoked; null when revoked or unknown. */
  clientTenantId: string | null;
}

/**
 * In one round trip: the tenant's feature settings and, when `clientId` is given (an application's
 * own token), the tenant that application still belongs to unrevoked.
 */
export async function findTenantAccess(db: Knex, input: { tenantId: string; clientId: string | null }): Promise<TenantAccess> {
  const { rows }: { rows: Array<{ enabled: boolean | null; retention_days: number | null; client_tenant_id: string | null }> } = await db.raw(
    `select
       (select daily_audio_recordings_enabled from tenant_feature_settings where tenant_id = :tenant) as enabled,
       (select retention_days from tenant_feature_settings where tenant_id = :tenant) as retention_days,
       (select tenant_id from api_clients where client_id = :client and revoked_at is null) as client_tenant_id`,
    { tenant: input.tenantId, client: input.clientId ?? '' },
  );
  const row = rows[0];
  return {
    feature: row && row.enabled !== null && row.retention_days !== null ? { enabled: row.enabled, retentionDays: row.retention_days } : null,
    clientTenantId: row?.client_tenant_id ?? null,
  };
}
