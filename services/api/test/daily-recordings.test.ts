import type { DailyRecordings } from '@dcar/api-schemas';
import { ContractMessages, archiveKey, type UtcDay } from '@dcar/domain';
import { revokeApplication } from '@dcar/host';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWN_ISSUER, signingKeyId } from '../src/auth/access-tokens.js';
import { DAILY, bearer, hs256Token, putArchiveRows, requestToken, seedTenant, startTestApi, unsignedToken, type TestApi } from './helpers.js';

const NOW = new Date('2025-12-15T10:00:00Z');
const DAY = '2025-12-14' as UtcDay;
const GENERATED = new Date('2025-12-15T02:15:32.456Z');

interface AuditRow {
  tenant_id: string | null;
  client_id: string | null;
  utc_day: string | null;
  status_code: number;
  remote_address: string;
  user_agent: string | null;
  request_id: string;
  occurred_at: Date;
}

let env: TestEnvironment;
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnvironment();
  // Links as presigned store URLs (DOWNLOAD_LINKS=direct): these tests read the store keys in them. The
  // API's own links (the default) are tested in download-link-endpoint.test.ts.
  api = await startTestApi(env, { now: () => NOW, config: { ...env.config, downloads: { ...env.config.downloads, mode: 'direct' } } });
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

async function tenantWithToken(tenantId: string, feature?: { enabled: boolean; retentionDays?: number }) {
  const client = await seedTenant(env.knex, tenantId, feature);
  return { ...client, token: await requestToken(api.app, client.clientId, client.clientSecret) };
}

function get(path: string, token?: string, headers: Record<string, string> = {}) {
  return api.app.inject({ method: 'GET', url: `${DAILY}/${path}`, headers: { ...(token ? bearer(token) : {}), ...headers } });
}

function ownToken(payload: Record<string, unknown>, key = env.config.auth.signingKey): string {
  const nowSeconds = Math.floor(Date.now() / 1000);
  return hs256Token({ alg: 'HS256', kid: signingKeyId(key) }, { iss: OWN_ISSUER, iat: nowSeconds, exp: nowSeconds + 600, ...payload }, key);
}

describe('GET daily-audio-recordings/{utcDay}', () => {
  it('answers 24 links in order with statuses, counts, totals and presigned URLs of the tenant’s own keys', async () => {
    const { token } = await tenantWithToken('acme');
    await putArchiveRows(env.knex, 'acme', DAY, [
      { hour: 0, status: 'available', sessionCount: 3, fileCount: 10, sizeBytes: 1000, generatedAt: new Date('2025-12-15T00:20:00Z') },
      { hour: 1, status: 'available', sessionCount: 4, fileCount: 20, sizeBytes: 2000, generatedAt: GENERATED, sha256: 'ab'.repeat(32) },
      { hour: 2, status: 'no_data', generatedAt: new Date('2025-12-15T00:21:00Z') },
      { hour: 3, status: 'failed', sessionCount: 9, fileCount: 9, sizeBytes: 9 },
      { hour: 4, status: 'pending' },
    ]);

    const response = await get(DAY, token);
    expect(response.statusCode).toBe(200);
    const body = response.json<DailyRecordings>();
    expect(body).toMatchObject({
      date: DAY,
      totalSessions: 7,
      totalFiles: 30,
      totalSizeBytes: 3000,
      generatedAt: '2025-12-15T02:15:32Z',
      retentionDays: 3,
      expiresAt: '2025-12-18T02:15:32Z',
    });
    expect(body.links.map((l) => l.hour)).toEqual(Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0')));
    expect(body.links[0]).toMatchObject({ sessionCount: 3, fileCount: 10, sizeBytes: 1000, status: 'available' });
    expect(body.links[1]).toMatchObject({ sha256: 'ab'.repeat(32), status: 'available' });
    expect(body.links[2]).toEqual({ hour: '02', url: null, sha256: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status: 'no_data' });
    expect(body.links[3]).toEqual({ hour: '03', url: null, sha256: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status: 'failed' });
    expect(body.links[4]).toMatchObject({ url: null, status: 'pending' });
    expect(body.links[23]).toMatchObject({ url: null, status: 'pending' });

    const url = new URL(body.links[1]!.url!);
    expect(`${url.protocol}//${url.host}`).toBe(env.config.s3.publicEndpoint);
    expect(decodeURIComponent(url.pathname)).toBe(`/${env.config.s3.archiveBucket}/${archiveKey('acme', DAY, 1)}`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('86400');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20251215T100000Z');
    expect(response.headers['x-ratelimit-limit']).toBe('10');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 404 from the expiresAt it shows: a generatedAt with milliseconds expires at its whole second', async () => {
    const { token } = await tenantWithToken('sub-second', { enabled: true, retentionDays: 3 });
    // Shown as expiring at 10:00:00Z, exactly NOW: gone, though the stored instant is 700 ms later.
    await putArchiveRows(env.knex, 'sub-second', '2025-12-11' as UtcDay, [{ hour: 0, status: 'no_data', generatedAt: new Date('2025-12-12T10:00:00.700Z') }]);
    const expired = await get('2025-12-11', token);
    expect({ status: expired.statusCode, body: expired.json<unknown>() }).toEqual({ status: 404, body: { error: ContractMessages.beyondRetention } });
    // One second later it is still served, with an expiresAt after NOW.
    await putArchiveRows(env.knex, 'sub-second', '2025-12-10' as UtcDay, [{ hour: 0, status: 'no_data', generatedAt: new Date('2025-12-12T10:00:01.300Z') }]);
    const served = await get('2025-12-10', token);
    expect(served.statusCode).toBe(200);
    expect(served.json<DailyRecordings>()).toMatchObject({ generatedAt: '2025-12-12T10:00:01Z', expiresAt: '2025-12-15T10:00:01Z' });
  });

  it('reports a day not generated yet as 24 pending hours with null times', async () => {
    const { token } = await tenantWithToken('fresh');
    const response = await get('2025-12-15', token);
    expect(response.statusCode).toBe(200);
    const body = response.json<DailyRecordings>();
    expect(body).toMatchObject({ date: '2025-12-15', totalFiles: 0, generatedAt: null, expiresAt: null, retentionDays: 3 });
    expect(body.links.every((l) => l.status === 'pending' && l.url === null)).toBe(true);
  });

  it('answers each row of the contract’s error table with its exact message', async () => {
    const { token } = await tenantWithToken('errs', { enabled: true, retentionDays: 2 });
    const disabled = await tenantWithToken('disabled', { enabled: false });
    const hostToken = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
    await putArchiveRows(env.knex, 'errs', '2025-12-10' as UtcDay, [{ hour: 5, status: 'expired', generatedAt: new Date('2025-12-11T01:00:00Z') }]);
    await putArchiveRows(env.knex, 'errs', '2025-12-12' as UtcDay, [{ hour: 5, status: 'available', generatedAt: new Date('2025-12-13T09:59:59Z') }]);

    const cases: Array<[string, string | undefined, number, string]> = [
      ['2025-12-14', undefined, 401, ContractMessages.unauthorized],
      ['2025-12-14', 'not-a-jwt', 401, ContractMessages.unauthorized],
      ['2025-12-14', hostToken, 403, ContractMessages.missingScope],
      ['2025-12-14', ownToken({ sub: 'x', scope: 'dataservice_external' }), 403, ContractMessages.missingScope],
      ['2025-12-14', disabled.token, 403, ContractMessages.featureDisabled],
      ['2025-02-30', token, 400, ContractMessages.invalidDay],
      ['20251214', token, 400, ContractMessages.invalidDay],
      ['2025-12-16', token, 400, ContractMessages.futureDay],
      ['2025-12-10', token, 404, ContractMessages.beyondRetention], // an hour was expired by the clean-up
      ['2025-12-12', token, 404, ContractMessages.beyondRetention], // generated, and now >= generatedAt + 2 days
      ['2025-12-12', token, 404, ContractMessages.beyondRetention],
      // Real dates of the first century are long past retention, not malformed; there is no year 0.
      ['0001-01-01', token, 404, ContractMessages.beyondRetention],
      ['0099-12-31', token, 404, ContractMessages.beyondRetention],
      ['0000-01-01', token, 400, ContractMessages.invalidDay],
    ];
    for (const [day, bearerToken, status, message] of cases) {
      const response = await get(day, bearerToken);
      expect({ day, status: response.statusCode, body: response.json<unknown>() }).toEqual({ day, status, body: { error: message } });
    }
    // Never generated: within retention it is pending, before today - retentionDays it is gone.
    expect((await get('2025-12-13', token)).statusCode).toBe(200);
    expect((await get('2025-12-12', disabled.token)).statusCode).toBe(403);
    const neverGenerated = await tenantWithToken('never', { enabled: true, retentionDays: 1 });
    expect((await get('2025-12-14', neverGenerated.token)).statusCode).toBe(200);
    expect((await get('2025-12-13', neverGenerated.token)).json()).toEqual({ error: ContractMessages.beyondRetention });
  });

  it('refuses forged, expired, unsigned and other-key tokens with 401 before any other check', async () => {
    await tenantWithToken('forged', { enabled: false });
    const claims = { sub: 'app_x', tenant_id: 'forged', scope: 'dataservice_external' };
    const expired = hs256Token(
      { alg: 'HS256', kid: signingKeyId(env.config.auth.signingKey) },
      { iss: OWN_ISSUER, ...claims, iat: 1_700_000_000, exp: 1_700_000_600 },
      env.config.auth.signingKey,
    );
    const tokens = {
      expired,
      unsigned: unsignedToken({ iss: OWN_ISSUER, ...claims, exp: Math.floor(Date.now() / 1000) + 600 }),
      otherKey: ownToken(claims, 'another-signing-key-that-is-long-enough-0123'),
      otherKeyClaimingOurKid: hs256Token(
        { alg: 'HS256', kid: signingKeyId(env.config.auth.signingKey) },
        { iss: OWN_ISSUER, ...claims, exp: Math.floor(Date.now() / 1000) + 600 },
        'another-signing-key-that-is-long-enough-0123',
      ),
      hs512: hs256Token({ alg: 'HS512', kid: signingKeyId(env.config.auth.signingKey) }, { iss: OWN_ISSUER, ...claims }, env.config.auth.signingKey),
      noExp: hs256Token({ alg: 'HS256', kid: signingKeyId(env.config.auth.signingKey) }, { iss: OWN_ISSUER, ...claims }, env.config.auth.signingKey),
    };
    for (const [name, token] of Object.entries(tokens)) {
      // Expired token, disabled tenant and a bad date: the token is checked first.
      const response = await get('not-a-day', token);
      expect({ name, status: response.statusCode, body: response.json<unknown>() }).toEqual({
        name,
        status: 401,
        body: { error: ContractMessages.unauthorized },
      });
    }
    expect((await get('not-a-day', 'x', { authorization: 'Basic aG9zdDpob3N0LXNlY3JldA==' })).statusCode).toBe(401);
  });

  it('checks scope before feature, feature before the limit, the limit before the date', async () => {
    const disabled = await tenantWithToken('order-disabled', { enabled: false });
    const noScope = ownToken({ sub: disabled.clientId, tenant_id: 'order-disabled', scope: 'something_else' });
    expect((await get('bad', noScope)).json()).toEqual({ error: ContractMessages.missingScope });
    expect((await get('bad', disabled.token)).json()).toEqual({ error: ContractMessages.featureDisabled });

    const limited = await tenantWithToken('order-limited');
    for (let i = 0; i < 10; i++) expect((await get('bad', limited.token)).statusCode).toBe(400);
    const refused = await get('bad', limited.token);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({ error: ContractMessages.rateLimited });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3500);
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('counts only requests that passed token, scope and feature checks against the tenant’s limit', async () => {
    const tenant = await tenantWithToken('quota', { enabled: false });
    for (let i = 0; i < 12; i++) expect((await get(DAY, tenant.token)).statusCode).toBe(403);
    for (let i = 0; i < 12; i++) expect((await get(DAY, 'garbage')).statusCode).toBe(401);
    await env.knex('tenant_feature_settings').where({ tenant_id: 'quota' }).update({ daily_audio_recordings_enabled: true });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await get(DAY, tenant.token)).statusCode);
    expect(statuses).toEqual([...Array<number>(10).fill(200), 429]);
  });

  it('refuses the token of a revoked application, at the endpoint and at the token endpoint', async () => {
    const tenant = await tenantWithToken('revoked');
    expect((await get(DAY, tenant.token)).statusCode).toBe(200);
    await revokeApplication(env.knex, 'revoked', tenant.clientId);
    expect((await get(DAY, tenant.token)).json()).toEqual({ error: ContractMessages.unauthorized });
    const again = await api.app.inject({
      method: 'POST',
      url: '/connect/token',
      payload: `grant_type=client_credentials&client_id=${tenant.clientId}&client_secret=${tenant.clientSecret}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(again.statusCode).toBe(401);
    expect(again.json()).toEqual({ error: 'invalid_client' });
  });

  it('never gives a tenant another tenant’s links, even from a row that points at another tenant’s key', async () => {
    const alpha = await tenantWithToken('alpha');
    const beta = await tenantWithToken('beta');
    await putArchiveRows(env.knex, 'beta', DAY, [{ hour: 7, status: 'available', sessionCount: 5, fileCount: 50, sizeBytes: 5000, generatedAt: GENERATED }]);
    await putArchiveRows(env.knex, 'alpha', DAY, [
      { hour: 7, status: 'available', sessionCount: 1, fileCount: 2, sizeBytes: 3, generatedAt: GENERATED },
      { hour: 8, status: 'available', sessionCount: 5, fileCount: 50, sizeBytes: 5000, generatedAt: GENERATED, objectKey: archiveKey('beta', DAY, 7) },
    ]);
    // A token naming beta but signed for alpha's client is refused: the client belongs to alpha.
    const stolen = ownToken({ sub: alpha.clientId, tenant_id: 'beta', scope: 'dataservice_external' });
    expect((await get(DAY, stolen)).statusCode).toBe(401);

    const body = (await get(DAY, alpha.token)).json<DailyRecordings>();
    expect(body.totalFiles).toBe(2);
    expect(body.links[8]).toEqual({ hour: '08', url: null, sha256: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status: 'failed' });
    const urls = body.links.map((l) => l.url).filter((u) => u !== null);
    expect(urls).toHaveLength(1);
    expect(urls.every((u) => new URL(u).pathname.includes('/alpha/daily-conversation-audio-recordings/'))).toBe(true);
    expect(JSON.stringify(body)).not.toContain('beta');

    const betaBody = (await get(DAY, beta.token)).json<DailyRecordings>();
    expect(betaBody.totalFiles).toBe(50);
    expect(new URL(betaBody.links[7]!.url!).pathname).toContain('/beta/');
  });

  it('records every call in the audit log, refused ones included', async () => {
    const tenant = await tenantWithToken('audited');
    await env.knex('access_audit_log').del();
    const ok = await get(DAY, tenant.token, { 'user-agent': 'compliance-bot/1.0' });
    await get('2025-12-14', 'garbage', { 'user-agent': 'intruder' });
    await get('2099-01-01', tenant.token);
    const rows = await env
      .knex<AuditRow>('access_audit_log')
      .orderBy('id')
      .select('tenant_id', 'client_id', 'utc_day', 'status_code', 'remote_address', 'user_agent', 'request_id', 'occurred_at');
    expect(rows.map((r) => [r.tenant_id, r.client_id, r.utc_day, r.status_code, r.user_agent])).toEqual([
      ['audited', tenant.clientId, DAY, 200, 'compliance-bot/1.0'],
      [null, null, '2025-12-14', 401, 'intruder'],
      ['audited', tenant.clientId, '2099-01-01', 400, 'lightMyRequest'],
    ]);
    expect(rows[0]!.request_id).toBe(ok.headers['x-request-id']);
    expect(rows[0]!.remote_address).toBe('127.0.0.1');
    expect(rows[0]!.occurred_at).toBeInstanceOf(Date);
  });

  it('answers malformed days with the contract’s 400, never a 500', async () => {
    const tenant = await tenantWithToken('fuzz');
    const unlimited = await startTestApi(env, {
      now: () => NOW,
      config: { ...env.config, api: { ...env.config.api, rateLimitPerHour: 100_000 } },
    });
    try {
      const fixed = [
        '2025-02-29',
        '2025-13-01',
        '2025-00-10',
        '0000-00-00',
        '2025-1-01',
        ' 2025-01-01',
        '2025-01-01 ',
        '2025-01-01T00:00:00Z',
        '%00',
        '..',
        '2025%2F01%2F01',
        '-1',
        'null',
        '2025-12-14%0A',
        '２０２５-１２-１４',
        'a'.repeat(900),
        '９',
        '2025-12-32',
        '+2025-12-14',
      ];
      const random = Array.from({ length: 300 }, (_, i) => {
        const alphabet = '0123456789-/:%.TZ aé\u0000\u202e';
        const length = 1 + ((i * 7) % 24);
        return Array.from({ length }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
      });
      for (const day of [...fixed, ...random]) {
        const path = fixed.includes(day) ? day : encodeURIComponent(day);
        const response = await unlimited.app.inject({ method: 'GET', url: `${DAILY}/${path}`, headers: bearer(tenant.token) });
        expect(response.statusCode, `day ${JSON.stringify(day)}`).not.toBe(500);
        if (response.statusCode === 400) {
          expect([ContractMessages.invalidDay, ContractMessages.futureDay]).toContain(response.json<{ error: string }>().error);
        } else {
          expect([200, 404]).toContain(response.statusCode);
        }
      }
    } finally {
      await unlimited.close();
    }
  });

  it('answers an unexpected failure with a bare 500, the cause only in the log', async () => {
    const tenant = await tenantWithToken('broken');
    await env.knex.schema.renameTable('hourly_archives', 'hourly_archives_moved');
    try {
      const response = await get(DAY, tenant.token);
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({ error: 'Internal server error.' });
    } finally {
      await env.knex.schema.renameTable('hourly_archives_moved', 'hourly_archives');
    }
  });

  it('counts link requests by outcome in /metrics', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatch(/dcar_daily_recordings_requests_total\{outcome="served",service="api"\} [1-9]/);
    expect(response.body).toMatch(/dcar_daily_recordings_requests_total\{outcome="unauthorized",service="api"\} [1-9]/);
    expect(response.body).toMatch(
      /http_requests_total\{route="\/api\/external\/conversations\/daily-audio-recordings\/:utcDay",method="GET",status="200",service="api"\} [1-9]/,
    );
  });
});
