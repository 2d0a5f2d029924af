import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserFacingError } from '@dcar/domain';
import { verifySecret } from '@dcar/platform';
import { createTestDatabase } from '@dcar/testing';
import {
  createApplication,
  findApiClient,
  getTenant,
  listApplications,
  listTenants,
  putTenant,
  revokeApplication,
  setDailyAudioFeature,
} from '../src/index.js';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

describe('host operations', () => {
  it('creates and updates tenants, feature off with retention 3 by default', async () => {
    const created = await putTenant(database.knex, 'acme', { name: 'Acme' });
    expect(created.created).toBe(true);
    expect(created.tenant).toMatchObject({ id: 'acme', name: 'Acme', dailyAudioRecordings: { enabled: false, retentionDays: 3 } });
    const updated = await putTenant(database.knex, 'acme', { name: 'Acme Corp' });
    expect(updated.created).toBe(false);
    expect(updated.tenant.name).toBe('Acme Corp');
    expect((await listTenants(database.knex)).map((t) => t.id)).toEqual(['acme']);
  });

  it('sets the feature and refuses retention outside 1-7 and unknown tenants', async () => {
    await putTenant(database.knex, 'beta', { name: 'Beta' });
    const tenant = await setDailyAudioFeature(database.knex, 'beta', { enabled: true, retentionDays: 7 });
    expect(tenant.dailyAudioRecordings).toEqual({ enabled: true, retentionDays: 7 });
    expect((await setDailyAudioFeature(database.knex, 'beta', { enabled: false })).dailyAudioRecordings).toEqual({
      enabled: false,
      retentionDays: 7,
    });
    for (const retentionDays of [0, 8, 2.5]) {
      await expect(setDailyAudioFeature(database.knex, 'beta', { enabled: true, retentionDays })).rejects.toMatchObject({
        statusCode: 400,
        message: 'retentionDays must be an integer from 1 to 7',
      });
    }
    await expect(setDailyAudioFeature(database.knex, 'nobody', { enabled: true })).rejects.toMatchObject({ statusCode: 404 });
    await expect(getTenant(database.knex, 'bad/id')).rejects.toBeInstanceOf(UserFacingError);
  });

  it('creates applications with hashed secrets, lists them without secrets, revokes them', async () => {
    await putTenant(database.knex, 'gamma', { name: 'Gamma' });
    const app = await createApplication(database.knex, 'gamma', { name: 'compliance export' });
    expect(app.clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await findApiClient(database.knex, app.clientId);
    expect(stored?.secretHash).toMatch(/^\$argon2id\$/);
    expect(stored?.secretHash).not.toContain(app.clientSecret);
    expect(await verifySecret(stored!.secretHash, app.clientSecret)).toBe(true);
    expect(await verifySecret(stored!.secretHash, `${app.clientSecret}x`)).toBe(false);
    const listed = await listApplications(database.knex, 'gamma');
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(app.clientSecret);
    expect(listed[0]).toMatchObject({ clientId: app.clientId, scopes: ['dataservice_external'], revokedAt: null });
    const revoked = await revokeApplication(database.knex, 'gamma', app.clientId);
    expect(revoked.revokedAt).not.toBeNull();
    expect((await findApiClient(database.knex, app.clientId))?.revoked).toBe(true);
    await expect(revokeApplication(database.knex, 'acme', app.clientId)).rejects.toMatchObject({ statusCode: 404 });
    await expect(createApplication(database.knex, 'gamma', { name: 'x', scopes: ['host_admin'] })).rejects.toMatchObject({ statusCode: 400 });
    await expect(createApplication(database.knex, 'gamma', { name: 'x', scopes: ['root'] })).rejects.toMatchObject({ statusCode: 400 });
  });
});
