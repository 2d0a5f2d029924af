import { ALL_SCOPES, UserFacingError, type Scope } from '@dcar/domain';
import { generateClientId, generateClientSecret, hashSecret, type Knex } from '@dcar/platform';
import { getTenant, requireTenantId, tenantExists } from './tenants.js';

/** A tenant's applications: OAuth2 clients with a hashed secret (CONTRACT §4.1, §4.3). */

export interface ApplicationView {
  clientId: string;
  tenantId: string;
  name: string;
  scopes: string[];
  createdAt: string;
  revokedAt: string | null;
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

export async function createApplication(
  db: Knex,
  tenantId: string,
  input: { name: string; scopes?: string[] | undefined },
): Promise<{ clientId: string; clientSecret: string; application: ApplicationView }> {
  requireTenantId(tenantId);
  const name = input.name.trim();
  if (!name || name.length > 200) throw new UserFacingError(400, 'name must be 1-200 characters');
  const scopes = [...new Set(input.scopes ?? ['dataservice_external'])];
  const unknown = scopes.find((s) => !ALL_SCOPES.includes(s as Scope));
  if (unknown !== undefined || scopes.length === 0) {
    throw new UserFacingError(400, `scopes must be a non-empty list of ${ALL_SCOPES.join(', ')}`);
  }
  // host_admin belongs to the host's own client only; a tenant application never acts as host.
  if (scopes.includes('host_admin')) throw new UserFacingError(400, 'tenant applications cannot have the host_admin scope');
  if (!(await tenantExists(db, tenantId))) throw new UserFacingError(404, `tenant ${tenantId} not found`);
  const clientId = generateClientId();
  const clientSecret = generateClientSecret();
  const [row] = await db('api_clients')
    .insert({ client_id: clientId, tenant_id: tenantId, name, secret_hash: await hashSecret(clientSecret), scopes })
    .returning<ApplicationRow[]>('*');
  if (!row) throw new Error(`application ${clientId} was not saved`);
  return { clientId, clientSecret, application: applicationView(row) };
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
  if (!row) throw new UserFacingError(404, `application ${clientId} not found for tenant ${tenantId}`);
  return applicationView(row);
}

/** The stored client for a token request; null when unknown. */
export async function findApiClient(
  db: Knex,
  clientId: string,
): Promise<{ clientId: string; tenantId: string; secretHash: string; scopes: string[]; revoked: boolean } | null> {
  // PostgreSQL refuses NUL in text (the query would fail): no stored client id can hold one.
  if (clientId.includes('\u0000')) return null;
  const row = (await db('api_clients').where({ client_id: clientId }).first()) as (ApplicationRow & { secret_hash: string }) | undefined;
  if (!row) return null;
  return { clientId: row.client_id, tenantId: row.tenant_id, secretHash: row.secret_hash, scopes: row.scopes, revoked: row.revoked_at !== null };
}
