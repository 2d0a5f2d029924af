import { DEFAULT_RETENTION_DAYS, UserFacingError, isValidRetentionDays, isValidTenantId } from '@dcar/domain';
import type { Knex } from '@dcar/platform';

/**
 * Tenants and their feature settings (CONTRACT §4.3 and the admin CLI's tenant/feature commands):
 * one implementation behind the HTTP endpoints, the terminal and the run engine.
 */

export interface TenantView {
  id: string;
  name: string;
  dailyAudioRecordings: { enabled: boolean; retentionDays: number };
  createdAt: string;
  updatedAt: string;
}

/** A tenant's feature as the run engine and the retention clean-up read it; a tenant without settings has it off. */
export interface TenantFeature {
  tenantId: string;
  enabled: boolean;
  retentionDays: number;
}

interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
  updated_at: Date;
  daily_audio_recordings_enabled: boolean | null;
  retention_days: number | null;
}

function tenantView(row: TenantRow): TenantView {
  return {
    id: row.id,
    name: row.name,
    dailyAudioRecordings: {
      enabled: row.daily_audio_recordings_enabled ?? false,
      retentionDays: row.retention_days ?? DEFAULT_RETENTION_DAYS,
    },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function requireTenantId(tenantId: string): void {
  if (!isValidTenantId(tenantId)) {
    throw new UserFacingError(400, "tenantId must be 1-64 characters of letters, digits, '-' or '_', starting with a letter or digit");
  }
}

function tenantQuery(db: Knex) {
  return db('tenants as t')
    .leftJoin('tenant_feature_settings as f', 'f.tenant_id', 't.id')
    .select('t.id', 't.name', 't.created_at', 't.updated_at', 'f.daily_audio_recordings_enabled', 'f.retention_days');
}

export async function putTenant(db: Knex, tenantId: string, input: { name: string }): Promise<{ tenant: TenantView; created: boolean }> {
  requireTenantId(tenantId);
  const name = input.name.trim();
  if (!name || name.length > 200) throw new UserFacingError(400, 'name must be 1-200 characters');
  const [row]: Array<{ created: boolean }> = await db('tenants')
    .insert({ id: tenantId, name })
    .onConflict('id')
    .merge({ name, updated_at: db.fn.now() })
    .returning(db.raw('(xmax = 0) as created'));
  return { tenant: await getTenant(db, tenantId), created: row?.created ?? false };
}

export async function getTenant(db: Knex, tenantId: string): Promise<TenantView> {
  requireTenantId(tenantId);
  const row = (await tenantQuery(db).where('t.id', tenantId).first()) as TenantRow | undefined;
  if (!row) throw new UserFacingError(404, `tenant ${tenantId} not found`);
  return tenantView(row);
}

export async function listTenants(db: Knex): Promise<TenantView[]> {
  const rows = (await tenantQuery(db).orderBy('t.id')) as TenantRow[];
  return rows.map(tenantView);
}

export async function tenantExists(db: Knex, tenantId: string): Promise<boolean> {
  return (await db('tenants').where({ id: tenantId }).first('id')) !== undefined;
}

export async function setDailyAudioFeature(db: Knex, tenantId: string, input: { enabled: boolean; retentionDays?: number | undefined }): Promise<TenantView> {
  requireTenantId(tenantId);
  if (typeof input.enabled !== 'boolean') throw new UserFacingError(400, 'enabled must be true or false');
  if (input.retentionDays !== undefined && !isValidRetentionDays(input.retentionDays)) {
    throw new UserFacingError(400, 'retentionDays must be an integer from 1 to 7');
  }
  await db.transaction(async (trx) => {
    if (!(await tenantExists(trx, tenantId))) throw new UserFacingError(404, `tenant ${tenantId} not found`);
    const values: Record<string, unknown> = { tenant_id: tenantId, daily_audio_recordings_enabled: input.enabled, updated_at: trx.fn.now() };
    if (input.retentionDays !== undefined) values.retention_days = input.retentionDays;
    await trx('tenant_feature_settings').insert(values).onConflict('tenant_id').merge();
  });
  return getTenant(db, tenantId);
}

interface FeatureRow {
  id: string;
  enabled: boolean | null;
  retention_days: number | null;
}

function featureOf(row: FeatureRow): TenantFeature {
  return { tenantId: row.id, enabled: row.enabled ?? false, retentionDays: row.retention_days ?? DEFAULT_RETENTION_DAYS };
}

function featureQuery(db: Knex) {
  return db('tenants as t')
    .leftJoin('tenant_feature_settings as f', 'f.tenant_id', 't.id')
    .select('t.id', 'f.daily_audio_recordings_enabled as enabled', 'f.retention_days')
    .orderBy('t.id');
}

/** Every tenant with the feature enabled, by id. */
export async function listEnabledTenants(db: Knex): Promise<TenantFeature[]> {
  return ((await featureQuery(db).where('f.daily_audio_recordings_enabled', true)) as FeatureRow[]).map(featureOf);
}

/** The named tenants that exist, by id; unknown ids are left out. */
export async function findTenantFeatures(db: Knex, tenantIds: readonly string[]): Promise<TenantFeature[]> {
  return ((await featureQuery(db).whereIn('t.id', tenantIds)) as FeatureRow[]).map(featureOf);
}

/**
 * The retention of every tenant that has feature settings; any other tenant has
 * DEFAULT_RETENTION_DAYS. Retention applies whether the feature is enabled or not.
 */
export async function listRetentionDays(db: Knex): Promise<Map<string, number>> {
  const rows: Array<{ tenant_id: string; retention_days: number }> = await db('tenant_feature_settings').select('tenant_id', 'retention_days');
  return new Map(rows.map((row) => [row.tenant_id, row.retention_days]));
}
