import { DayListMessages, type DailyRecordings, type DayList } from '@dcar/api-schemas';
import { ContractMessages, archiveKey, type UtcDay } from '@dcar/domain';
import { setDailyAudioFeature } from '@dcar/host';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY, bearer, putArchiveRows, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

// GET /api/external/conversations/daily-audio-recordings?from=&to=: a tenant's days within
// retention, each with its hours per status, for one request of the tenant's limit.

const NOW = new Date('2025-12-15T10:00:00Z');
const at = (iso: string) => new Date(iso);

let env: TestEnvironment;
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env, { now: () => NOW });
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

async function tenantWithToken(tenantId: string, feature?: { enabled: boolean; retentionDays?: number }) {
  const client = await seedTenant(env.knex, tenantId, feature);
  return { ...client, token: await requestToken(api.app, client.clientId, client.clientSecret) };
}

function list(token: string | undefined, query = '') {
  return api.app.inject({ method: 'GET', url: `${DAILY}${query}`, headers: token ? bearer(token) : {} });
}

describe('the list of a tenant’s days', () => {
  it('summarises each day within retention like its daily report, oldest first, up to today by default', async () => {
    const { token } = await tenantWithToken('lister', { enabled: true, retentionDays: 3 });
    await putArchiveRows(env.knex, 'lister', '2025-12-14' as UtcDay, [
      { hour: 0, status: 'available', sessionCount: 2, fileCount: 5, sizeBytes: 500, generatedAt: at('2025-12-15T00:20:00Z'), sha256: 'aa'.repeat(32) },
      { hour: 1, status: 'available', sessionCount: 3, fileCount: 7, sizeBytes: 700, generatedAt: at('2025-12-15T00:25:00Z') },
      { hour: 2, status: 'no_data', generatedAt: at('2025-12-15T00:21:00Z') },
      { hour: 3, status: 'failed' },
      { hour: 4, status: 'pending' },
      // A row pointing outside the tenant's own keys is failed in the daily report: the same here.
      { hour: 5, status: 'available', sessionCount: 9, fileCount: 9, sizeBytes: 9, objectKey: archiveKey('other', '2025-12-14' as UtcDay, 5) },
    ]);
    // Generated on the 13th: expires on the 16th, still listed.
    await putArchiveRows(env.knex, 'lister', '2025-12-10' as UtcDay, [{ hour: 7, status: 'no_data', generatedAt: at('2025-12-13T09:00:00Z') }]);
    // Generated on the 11th with 3 days' retention: expired at 2025-12-14T08:00Z, left out.
    await putArchiveRows(env.knex, 'lister', '2025-12-09' as UtcDay, [{ hour: 7, status: 'available', sizeBytes: 1, generatedAt: at('2025-12-11T08:00:00Z') }]);
    // Marked expired by the clean-up: left out, as the daily endpoint answers 404 for it.
    await putArchiveRows(env.knex, 'lister', '2025-12-13' as UtcDay, [{ hour: 1, status: 'expired', generatedAt: at('2025-12-14T01:00:00Z') }]);

    const response = await list(token);
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-ratelimit-limit']).toBe('10');
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json<DayList>();
    expect(body).toMatchObject({ from: '2025-12-01', to: '2025-12-15', retentionDays: 3 });
    expect(body.days.map((d) => d.date)).toEqual(['2025-12-10', '2025-12-12', '2025-12-14', '2025-12-15']);
    expect(body.days[2]).toEqual({
      date: '2025-12-14',
      hours: { available: 2, no_data: 1, pending: 19, failed: 2 },
      totalSessions: 5,
      totalFiles: 12,
      totalSizeBytes: 1200,
      generatedAt: '2025-12-15T00:25:00Z',
      expiresAt: '2025-12-18T00:25:00Z',
    });
    expect(body.days[0]).toMatchObject({ date: '2025-12-10', hours: { available: 0, no_data: 1, pending: 23, failed: 0 }, expiresAt: '2025-12-16T09:00:00Z' });
    expect(body.days[1]).toEqual({
      date: '2025-12-12',
      hours: { available: 0, no_data: 0, pending: 24, failed: 0 },
      totalSessions: 0,
      totalFiles: 0,
      totalSizeBytes: 0,
      generatedAt: null,
      expiresAt: null,
    });

    // The same day through the daily endpoint says the same.
    const day = (await api.app.inject({ url: `${DAILY}/2025-12-14`, headers: bearer(token) })).json<DailyRecordings>();
    const counts = { available: 0, no_data: 0, pending: 0, failed: 0 } as Record<string, number>;
    for (const link of day.links) counts[link.status]! += 1;
    expect(counts).toEqual(body.days[2]!.hours);
    expect(day.totalFiles).toBe(body.days[2]!.totalFiles);
  });

  it('lists only the range asked for, leaves out days past retention and after today', async () => {
    const { token } = await tenantWithToken('ranger', { enabled: true, retentionDays: 2 });
    const body = (await list(token, '?from=2025-12-01&to=2025-12-31')).json<DayList>();
    expect(body).toMatchObject({ from: '2025-12-01', to: '2025-12-31', retentionDays: 2 });
    expect(body.days.map((d) => d.date)).toEqual(['2025-12-13', '2025-12-14', '2025-12-15']);
    const one = (await list(token, '?from=2025-12-14&to=2025-12-14')).json<DayList>();
    expect(one.days.map((d) => d.date)).toEqual(['2025-12-14']);
    const old = (await list(token, '?to=2025-12-05')).json<DayList>();
    expect(old.days).toEqual([]);
    // A bound left to its default yields to the one sent: an empty range, not a 400 about a `from`
    // (or `to`) the caller never sent.
    for (const [query, day] of [
      ['?to=2025-11-01', '2025-11-01'],
      ['?from=2025-12-20', '2025-12-20'],
    ] as const) {
      const response = await list(token, query);
      expect({ query, status: response.statusCode, body: response.json<unknown>() }).toEqual({
        query,
        status: 200,
        body: { from: day, to: day, retentionDays: 2, days: [] },
      });
    }
  });

  it('answers bad dates with the contract’s message and a reversed range with its own', async () => {
    const { token } = await tenantWithToken('dates');
    // A repeated parameter is not a date either: the contract's message, not the schema's "must be string".
    const queries = [
      '?from=2025-13-01',
      '?to=yesterday',
      '?from=2025-02-29',
      '?from=&to=2025-12-01',
      '?from=2025-12-10&from=2025-12-11',
      '?to=2025-12-14&to=2025-12-14',
    ];
    for (const query of queries) {
      const response = await list(token, query);
      expect(response.statusCode, query).toBe(400);
      expect(response.json()).toEqual({ error: ContractMessages.invalidDay });
    }
    const reversed = await list(token, '?from=2025-12-14&to=2025-12-10');
    expect(reversed.statusCode).toBe(400);
    expect(reversed.json()).toEqual({ error: DayListMessages.rangeReversed });
  });

  it('checks token, scope and feature first, like the daily endpoint, without counting them', async () => {
    expect((await list(undefined, '?from=bad')).json()).toEqual({ error: ContractMessages.unauthorized });
    expect((await list('not.a.token', '?from=bad')).statusCode).toBe(401);
    const disabled = await tenantWithToken('switched-off', { enabled: false });
    const refused = await list(disabled.token, '?from=bad');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({ error: ContractMessages.featureDisabled });
    expect(refused.headers['x-ratelimit-remaining']).toBeUndefined();
    // Enabled again, the refused calls did not use up its quota.
    await setDailyAudioFeature(env.knex, 'switched-off', { enabled: true });
    expect((await list(disabled.token)).headers['x-ratelimit-remaining']).toBe('9');
  });

  it('counts against the same limit as the daily endpoint, one request per list, before the date check', async () => {
    const { token } = await tenantWithToken('counted');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await list(token)).statusCode);
    for (let i = 0; i < 5; i++) statuses.push((await api.app.inject({ url: `${DAILY}/2025-12-14`, headers: bearer(token) })).statusCode);
    expect(statuses).toEqual(Array(10).fill(200));
    const limited = await list(token, '?from=not-a-date');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({ error: ContractMessages.rateLimited });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await api.app.inject({ url: `${DAILY}/2025-12-14`, headers: bearer(token) })).statusCode).toBe(429);
  });

  it('records each call in the access audit log with the range asked for', async () => {
    const { token, clientId } = await tenantWithToken('audited');
    await list(token, '?from=2025-12-12&to=2025-12-14');
    const rows = await env.knex('access_audit_log').where({ tenant_id: 'audited' }).select('client_id', 'utc_day', 'status_code');
    expect(rows).toEqual([{ client_id: clientId, utc_day: '2025-12-12..2025-12-14', status_code: 200 }]);
  });
});
