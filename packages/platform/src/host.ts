import { ALL_SCOPES, DEFAULT_RETENTION_DAYS, isValidRetentionDays, isValidTenantId, type Scope } from '@dcar/domain';
import type { Knex } from 'knex';
import { generateClientId, generateClientSecret, hashSecret } from './secrets.js';

/**
 * Host operations (CONTRACT §4.3 and the admin CLI's tenant/feature/app commands): one
 * implementation behind both the HTTP endpoints and the terminal.
 */

export class HostError extends Error {
  constructor(
    readonly statusCode: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

export interface TenantView {
  id: string;
  name: string;
  dailyAudioRecordings: { enabled: boolean; retentionDays: number };
  createdAt: string;
  updatedAt: string;
}

export interface ApplicationView {
  clientId: string;
  tenantId: string;
  name: string;
  scopes: string[];
  createdAt: string;
  revokedAt: string | null;
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

function requireTenantId(tenantId: string): void {
  if (!isValidTenantId(tenantId)) {
    throw new HostError(400, "tenantId must be 1-64 characters of letters, digits, '-' or '_', starting with a letter or digit");
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
  if (!name || name.length > 200) throw new HostError(400, 'name must be 1-200 characters');
  const [row] = (await db('tenants')
    .insert({ id: tenantId, name })
    .onConflict('id')
    .merge({ name, updated_at: db.fn.now() })
    .returning(db.raw('(xmax = 0) as created'))) as Array<{ created: boolean }>;
  return { tenant: await getTenant(db, tenantId), created: row?.created ?? false };
}

export async function getTenant(db: Knex, tenantId: string): Promise<TenantView> {
  requireTenantId(tenantId);
  const row = (await tenantQuery(db).where('t.id', tenantId).first()) as TenantRow | undefined;
  if (!row) throw new HostError(404, `tenant ${tenantId} not found`);
  return tenantView(row);
}

export async function listTenants(db: Knex): Promise<TenantView[]> {
  const rows = (await tenantQuery(db).orderBy('t.id')) as TenantRow[];
  return rows.map(tenantView);
}

export async function setDailyAudioFeature(
  db: Knex,
  tenantId: string,
  input: { enabled: boolean; retentionDays?: number | undefined },
): Promise<TenantView> {
  requireTenantId(tenantId);
  if (typeof input.enabled !== 'boolean') throw new HostError(400, 'enabled must be true or false');
  if (input.retentionDays !== undefined && !isValidRetentionDays(input.retentionDays)) {
    throw new HostError(400, 'retentionDays must be an integer from 1 to 7');
  }
  await db.transaction(async (trx) => {
    const exists = await trx('tenants').where({ id: tenantId }).first('id');
    if (!exists) throw new HostError(404, `tenant ${tenantId} not found`);
    const values: Record<string, unknown> = { tenant_id: tenantId, daily_audio_recordings_enabled: input.enabled, updated_at: trx.fn.now() };
    if (input.retentionDays !== undefined) values.retention_days = input.retentionDays;
    await trx('tenant_feature_settings').insert(values).onConflict('tenant_id').merge();
  });
  return getTenant(db, tenantId);
}

export async function createApplication(
  db: Knex,
  tenantId: string,
  input: { name: string; scopes?: string[] | undefined },
): Promise<{ clientId: string; clientSecret: string; application: ApplicationView }> {
  requireTenantId(tenantId);
  const name = input.name.trim();
  if (!name || name.length > 200) throw new HostError(400, 'name must be 1-200 characters');
  const scopes = [...new Set(input.scopes ?? ['dataservice_external'])];
  const unknown = scopes.find((s) => !ALL_SCOPES.includes(s as Scope));
  if (unknown !== undefined || scopes.length === 0) {
    throw new HostError(400, `scopes must be a non-empty list of ${ALL_SCOPES.join(', ')}`);
  }
  // host_admin belongs to the host's own client only; a tenant application never acts as host.
  if (scopes.includes('host_admin')) throw new HostError(400, 'tenant applications cannot have the host_admin scope');
  const exists = await db('tenants').where({ id: tenantId }).first('id');
  if (!exists) throw new HostError(404, `tenant ${tenantId} not found`);
  const clientId = generateClientId();
  const clientSecret = generateClientSecret();
  const [row] = await db('api_clients')
    .insert({ client_id: clientId, tenant_id: tenantId, name, secret_hash: await hashSecret(clientSecret), scopes })
    .returning('*');
  return { clientId, clientSecret, application: applicationView(row) };
}

interface ApplicationRow {
  client_id: string;
  tenant_id: string;
  name: string;
  scopes: string[];
  created_at: Date;
  revoked_at: Date | null;
}

function applicationView(row: ApplicationRow): ApplicationView {
  return {
    clientId: row.client_id,
    tenantId: row.tenant_id,
    name: row.name,
    scopes: row.scopes,
    createdAt: row.created_at.toISOString(),
    revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
  };
}

export async function listApplications(db: Knex, tenantId: string): Promise<ApplicationView[]> {
  await getTenant(db, tenantId);
  const rows = (await db('api_clients').where({ tenant_id: tenantId }).orderBy('created_at')) as ApplicationRow[];
  return rows.map(applicationView);
}

export async function revokeApplication(db: Knex, tenantId: string, clientId: string): Promise<ApplicationView> {
  requireTenantId(tenantId);
  const [row] = (await db('api_clients')
    .where({ tenant_id: tenantId, client_id: clientId })
    .update({ revoked_at: db.raw('coalesce(revoked_at, now())') })
    .returning('*')) as ApplicationRow[];
  if (!row) throw new HostError(404, `application ${clientId} not found for tenant ${tenantId}`);
  return applicationView(row);
}

/** The stored client for a token request; null when unknown. */
export async function findApiClient(
  db: Knex,
  clientId: string,
): Promise<{ clientId: string; tenantId: string; secretHash: string; scopes: string[]; revoked: boolean } | null> {
  const row = (await db('api_clients').where({ client_id: clientId }).first()) as (ApplicationRow & { secret_hash: string }) | undefined;
  if (!row) return null;
  return { clientId: row.client_id, tenantId: row.tenant_id, secretHash: row.secret_hash, scopes: row.scopes, revoked: row.revoked_at !== null };
}

/** A tenant's feature settings; null when the tenant does not exist. */
export async function findTenantFeature(db: Knex, tenantId: string): Promise<{ enabled: boolean; retentionDays: number } | null> {
  const row = (await tenantQuery(db).where('t.id', tenantId).first()) as TenantRow | undefined;
  if (!row) return null;
  return tenantView(row).dailyAudioRecordings;
}
