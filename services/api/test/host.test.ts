import { HostMessages } from '@dcar/api-schemas';
import { ContractMessages } from '@dcar/domain';
import { createS3Client } from '@dcar/platform';
import { insertArchiveRows } from '@dcar/archives/test-fixtures';
import { createLogger, createRedisConnection } from '@dcar/platform';
import { createRunQueues, getRunReport, reconcile } from '@dcar/runs';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

let env: TestEnvironment;
let api: TestApi;
let hostToken: string;

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env);
  hostToken = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

function host(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown, token = hostToken) {
  return api.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
}

describe('host endpoints', () => {
  it('need a valid token (401) with host_admin (403)', async () => {
    const tenant = await seedTenant(env.knex, 'guarded');
    const tenantToken = await requestToken(api.app, tenant.clientId, tenant.clientSecret);
    expect((await api.app.inject({ method: 'GET', url: '/api/host/tenants' })).json()).toEqual({ error: ContractMessages.unauthorized });
    expect((await host('GET', '/api/host/tenants', undefined, 'junk')).statusCode).toBe(401);
    const forbidden = await host('PUT', '/api/host/tenants/guarded/features/daily-audio-recordings', { enabled: true, retentionDays: 99 }, tenantToken);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toEqual({ error: HostMessages.missingHostScope });
  });

  it('create, read and list tenants and set the feature, with clear 400s', async () => {
    const created = await host('PUT', '/api/host/tenants/t-100', { name: 'Hundred' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: 't-100', name: 'Hundred', dailyAudioRecordings: { enabled: false, retentionDays: 3 } });
    expect((await host('PUT', '/api/host/tenants/t-100', { name: 'Hundred Ltd' })).statusCode).toBe(200);
    expect((await host('GET', '/api/host/tenants/t-100')).json<{ name: string }>().name).toBe('Hundred Ltd');
    expect((await host('GET', '/api/host/tenants')).json<Array<{ id: string }>>().map((t) => t.id)).toContain('t-100');

    const feature = await host('PUT', '/api/host/tenants/t-100/features/daily-audio-recordings', { enabled: true, retentionDays: 7 });
    expect(feature.statusCode).toBe(200);
    expect(feature.json<{ dailyAudioRecordings: unknown }>().dailyAudioRecordings).toEqual({ enabled: true, retentionDays: 7 });

    const invalid: Array<[string, string, unknown, RegExp]> = [
      ['PUT', '/api/host/tenants/t-100/features/daily-audio-recordings', { enabled: true, retentionDays: 8 }, /retentionDays/],
      ['PUT', '/api/host/tenants/t-100/features/daily-audio-recordings', { enabled: true, retentionDays: 2.5 }, /retentionDays/],
      ['PUT', '/api/host/tenants/t-100/features/daily-audio-recordings', { enabled: 'yes' }, /enabled/],
      ['PUT', '/api/host/tenants/bad%20id', { name: 'x' }, /tenantId/],
      ['PUT', '/api/host/tenants/t-101', { name: '' }, /name/],
      ['PUT', '/api/host/tenants/t-101', {}, /name/],
    ];
    for (const [method, url, payload, message] of invalid) {
      const response = await host(method as 'PUT', url, payload);
      expect({ url, status: response.statusCode }).toEqual({ url, status: 400 });
      expect(response.json<{ error: string }>().error).toMatch(message);
    }
    expect((await host('GET', '/api/host/tenants/missing')).json()).toEqual({ error: 'tenant missing not found' });
    expect((await host('PUT', '/api/host/tenants/missing/features/daily-audio-recordings', { enabled: true })).statusCode).toBe(404);
  });

  it('take body types as sent: wrong types and NUL in names answer 400 naming the field, and change nothing', async () => {
    await host('PUT', '/api/host/tenants/strict', { name: 'Strict' });
    await host('PUT', '/api/host/tenants/strict/features/daily-audio-recordings', { enabled: true, retentionDays: 2 });
    const feature = '/api/host/tenants/strict/features/daily-audio-recordings';
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['PUT', feature, { enabled: null }, /enabled/],
      ['PUT', feature, { enabled: 'true' }, /enabled/],
      ['PUT', feature, { enabled: 1 }, /enabled/],
      ['PUT', feature, { enabled: false, retentionDays: '3' }, /retentionDays/],
      ['PUT', feature, { enabled: false, retentionDays: null }, /retentionDays/],
      ['PUT', feature, { enabled: [false] }, /enabled/],
      ['PUT', '/api/host/tenants/strict', { name: ['a'] }, /name/],
      ['PUT', '/api/host/tenants/strict', { name: 5 }, /name/],
      ['PUT', '/api/host/tenants/strict', { name: 'Evil\u0000Corp' }, /name/],
      ['PUT', '/api/host/tenants/t-nul', { name: '\u0000' }, /name/],
      ['POST', '/api/host/tenants/strict/applications', { name: 'export\u0000' }, /name/],
      ['POST', '/api/host/tenants/strict/applications', { name: ['export'] }, /name/],
      ['POST', '/api/host/tenants/strict/applications', { name: 'export', scopes: 'dataservice_external' }, /scopes/],
      ['POST', '/api/host/daily-audio-recordings/runs', { utcDay: '2025-01-01', force: 'true' }, /force/],
      ['POST', '/api/host/daily-audio-recordings/runs', { utcDay: '2025-01-01', force: 0 }, /force/],
      ['POST', '/api/host/daily-audio-recordings/runs', { utcDay: '2025-01-01', tenantIds: 'strict' }, /tenantIds/],
      ['POST', '/api/host/daily-audio-recordings/runs', { utcDay: 20250101 }, /utcDay/],
    ];
    for (const [method, url, payload, message] of cases) {
      const response = await api.app.inject({
        method: method as 'PUT',
        url,
        headers: { ...bearer(hostToken), 'content-type': 'application/json' },
        // JSON text, as a client sends it: NUL travels as the escape \u0000.
        payload: JSON.stringify(payload),
      });
      expect({ payload, status: response.statusCode }).toEqual({ payload, status: 400 });
      expect(Object.keys(response.json())).toEqual(['error']);
      expect(response.json<{ error: string }>().error).toMatch(message);
    }
    const tenant = (await host('GET', '/api/host/tenants/strict')).json<unknown>();
    expect(tenant).toMatchObject({ name: 'Strict', dailyAudioRecordings: { enabled: true, retentionDays: 2 } });
    expect((await host('GET', '/api/host/tenants/strict/applications')).json()).toEqual([]);
    expect((await host('GET', '/api/host/tenants/t-nul')).statusCode).toBe(404);
  });

  it('refuse unknown fields, bodies that are not UTF-8, lone surrogates and NUL in ids with a 400 or 404, and change nothing', async () => {
    await host('PUT', '/api/host/tenants/careful', { name: 'Careful' });
    await host('PUT', '/api/host/tenants/careful/features/daily-audio-recordings', { enabled: true, retentionDays: 2 });
    const runsBefore = (await host('GET', '/api/host/daily-audio-recordings/runs')).json<unknown[]>().length;
    const feature = '/api/host/tenants/careful/features/daily-audio-recordings';
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    // A misspelt field used to be dropped silently: a 200 that kept the old retention, or a run of every tenant.
    const cases: Array<[string, string, string | Buffer, RegExp]> = [
      ['PUT', feature, JSON.stringify({ enabled: false, retentiondays: 5 }), /body must NOT have additional property 'retentiondays'/],
      ['PUT', '/api/host/tenants/careful', JSON.stringify({ name: 'Renamed', nmae: 'x' }), /nmae/],
      ['POST', '/api/host/tenants/careful/applications', JSON.stringify({ name: 'export', scope: ['dataservice_external'] }), /'scope'/],
      ['POST', '/api/host/daily-audio-recordings/runs', JSON.stringify({ utcDay: yesterday, tenantId: ['careful'] }), /'tenantId'/],
      // A scope the schema does not know: the answer names the one it takes.
      [
        'POST',
        '/api/host/tenants/careful/applications',
        JSON.stringify({ name: 'export', scopes: ['dataservice'] }),
        /^body\.scopes\.0 must be equal to constant 'dataservice_external'$/,
      ],
      // Latin-1 bytes, not UTF-8: they used to be stored as U+FFFD.
      ['PUT', '/api/host/tenants/careful', Buffer.from([...Buffer.from('{"name":"Caf'), 0xe9, ...Buffer.from('"}')]), /UTF-8/],
      // A lone surrogate has no UTF-8 form: PostgreSQL's driver would write U+FFFD instead.
      ['PUT', '/api/host/tenants/careful', '{"name":"Caf\\ud800"}', /name/],
      ['POST', '/api/host/tenants/careful/applications', '{"name":"\\udc00export"}', /name/],
    ];
    for (const [method, url, payload, message] of cases) {
      const response = await api.app.inject({
        method: method as 'PUT',
        url,
        headers: { ...bearer(hostToken), 'content-type': 'application/json' },
        payload,
      });
      expect({ payload: payload.toString(), status: response.statusCode }).toEqual({ payload: payload.toString(), status: 400 });
      expect(Object.keys(response.json())).toEqual(['error']);
      expect(response.json<{ error: string }>().error).toMatch(message);
    }
    // Host bodies are JSON: a form body (curl's default type for -d) is refused, not read field by field
    // (`name=%FF` was stored as the text "%FF"), and the answer says what to send.
    for (const [url, payload] of [
      ['/api/host/tenants/careful', 'name=%FF%FE'],
      ['/api/host/tenants/careful', '{"name":"Renamed"}'],
    ] as const) {
      const response = await api.app.inject({
        method: 'PUT',
        url,
        headers: { ...bearer(hostToken), 'content-type': 'application/x-www-form-urlencoded' },
        payload,
      });
      expect({ payload, status: response.statusCode, body: response.json<unknown>() }).toEqual({
        payload,
        status: 415,
        body: { error: "Unsupported Content-Type 'application/x-www-form-urlencoded': send the body as application/json." },
      });
    }
    // Ids with NUL name nothing stored (PostgreSQL cannot hold NUL): refused, never a 500 from the lookup.
    for (const url of ['/api/host/tenants/careful/applications/app_%00', '/api/host/daily-audio-recordings/runs/run%00']) {
      const response = await host(url.includes('/runs/') ? 'GET' : 'DELETE', url);
      expect({ url, status: response.statusCode }).toEqual({ url, status: 400 });
      expect(Object.keys(response.json())).toEqual(['error']);
    }
    const tenant = (await host('GET', '/api/host/tenants/careful')).json<unknown>();
    expect(tenant).toMatchObject({ name: 'Careful', dailyAudioRecordings: { enabled: true, retentionDays: 2 } });
    expect((await host('GET', '/api/host/tenants/careful/applications')).json()).toEqual([]);
    expect((await host('GET', '/api/host/daily-audio-recordings/runs')).json<unknown[]>()).toHaveLength(runsBefore);
    // Characters outside the BMP (a valid surrogate pair) are text like any other.
    expect((await host('PUT', '/api/host/tenants/careful', { name: 'Careful 🎧' })).json<{ name: string }>().name).toBe('Careful 🎧');
  });

  it('create applications (secret shown once), list them without secrets and revoke them', async () => {
    await host('PUT', '/api/host/tenants/apps', { name: 'Apps' });
    await host('PUT', '/api/host/tenants/apps/features/daily-audio-recordings', { enabled: true, retentionDays: 3 });
    const created = await host('POST', '/api/host/tenants/apps/applications', { name: 'export', scopes: ['dataservice_external'] });
    expect(created.statusCode).toBe(201);
    const { clientId, clientSecret } = created.json<{ clientId: string; clientSecret: string }>();
    expect(clientSecret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const listed = await host('GET', '/api/host/tenants/apps/applications');
    expect(listed.json()).toEqual([expect.objectContaining({ clientId, tenantId: 'apps', scopes: ['dataservice_external'], revokedAt: null })]);
    expect(listed.body).not.toContain(clientSecret);
    expect(listed.body).not.toContain('secret');
    expect((await host('POST', '/api/host/tenants/apps/applications', { name: 'x', scopes: ['host_admin'] })).statusCode).toBe(400);

    await requestToken(api.app, clientId, clientSecret);
    const revoked = await host('DELETE', `/api/host/tenants/apps/applications/${clientId}`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json<{ revokedAt: string | null }>().revokedAt).toEqual(expect.any(String));
    await expect(requestToken(api.app, clientId, clientSecret)).rejects.toThrow(/401/);
    expect((await host('DELETE', '/api/host/tenants/apps/applications/app_nope')).statusCode).toBe(404);

    // Clients that send a JSON content type on every request: an empty body is no body, not a 400,
    // where a route takes none; where one takes a body, its schema still asks for it.
    const json = { ...bearer(hostToken), 'content-type': 'application/json' };
    const second = (await host('POST', '/api/host/tenants/apps/applications', { name: 'second' })).json<{ clientId: string }>();
    const bodyless = await api.app.inject({ method: 'DELETE', url: `/api/host/tenants/apps/applications/${second.clientId}`, headers: json });
    expect(bodyless.statusCode).toBe(200);
    const missing = await api.app.inject({ method: 'PUT', url: '/api/host/tenants/apps', headers: json });
    expect({ status: missing.statusCode, body: missing.json<unknown>() }).toEqual({ status: 400, body: { error: 'body must be object' } });
  });

  it('start a run (202) and report it; refuse unknown runs and bad days', async () => {
    await host('PUT', '/api/host/tenants/runner', { name: 'Runner' });
    await host('PUT', '/api/host/tenants/runner/features/daily-audio-recordings', { enabled: true, retentionDays: 3 });
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const started = await host('POST', '/api/host/daily-audio-recordings/runs', { utcDay: day, tenantIds: ['runner'] });
    expect(started.statusCode).toBe(202);
    const { runId } = started.json<{ runId: string }>();
    expect(runId).toEqual(expect.any(String));
    const report = await host('GET', `/api/host/daily-audio-recordings/runs/${runId}`);
    expect(report.statusCode).toBe(200);
    expect(report.json()).toMatchObject({ runId, kind: 'day', utcDay: day, trigger: 'manual', force: false });
    // The answer is exactly the engine's report: the response schema drops none of its fields.
    expect(Object.keys(report.json<object>()).sort()).toEqual(Object.keys((await getRunReport(env.knex, runId))!).sort());
    expect(report.json<{ failedHours: unknown[] }>().failedHours).toEqual([]);

    expect((await host('GET', '/api/host/daily-audio-recordings/runs/nope')).statusCode).toBe(404);
    const badDay = await host('POST', '/api/host/daily-audio-recordings/runs', { utcDay: '2025-02-30' });
    expect(badDay.statusCode).toBe(400);
    expect(badDay.json<{ error: string }>().error).toEqual(expect.any(String));
    expect((await host('POST', '/api/host/daily-audio-recordings/runs', { utcDay: day, force: 'yes' })).statusCode).toBe(400);
  });

  it('list runs, newest first, of one day with utcDay, with their state; refuse a bad day or limit', async () => {
    await host('PUT', '/api/host/tenants/lister', { name: 'Lister' });
    await host('PUT', '/api/host/tenants/lister/features/daily-audio-recordings', { enabled: true, retentionDays: 3 });
    const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    const first = (await host('POST', '/api/host/daily-audio-recordings/runs', { utcDay: day, tenantIds: ['lister'] })).json<{ runId: string }>().runId;
    const second = (await host('POST', '/api/host/daily-audio-recordings/runs', { utcDay: day, tenantIds: ['lister'], force: true })).json<{ runId: string }>()
      .runId;

    const listed = await host('GET', `/api/host/daily-audio-recordings/runs?utcDay=${day}`);
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual([
      {
        runId: second,
        kind: 'day',
        utcDay: day,
        trigger: 'manual',
        force: true,
        state: 'queued',
        round: 0,
        tenantCount: 1,
        jobCount: 0,
        startedAt: expect.any(String) as string,
        finishedAt: null,
        rounds: [],
      },
      expect.objectContaining({ runId: first, force: false, state: 'queued' }),
    ]);
    expect((await host('GET', '/api/host/daily-audio-recordings/runs?limit=1')).json<Array<{ runId: string }>>().map((run) => run.runId)).toEqual([second]);
    expect((await host('GET', '/api/host/daily-audio-recordings/runs?utcDay=2020-01-01')).json()).toEqual([]);

    const badDay = await host('GET', '/api/host/daily-audio-recordings/runs?utcDay=2025-02-30');
    expect([badDay.statusCode, badDay.json()]).toEqual([400, { error: "Invalid date format for 'utcDay'. Please use the format YYYY-MM-DD." }]);
    expect((await host('GET', '/api/host/daily-audio-recordings/runs?limit=0')).statusCode).toBe(400);
    expect((await host('GET', '/api/host/daily-audio-recordings/runs', undefined, 'not-a-token')).statusCode).toBe(401);
  });

  it('report a reconciliation run: kind reconcile, each hour with its day', async () => {
    await host('PUT', '/api/host/tenants/late', { name: 'Late' });
    await host('PUT', '/api/host/tenants/late/features/daily-audio-recordings', { enabled: true, retentionDays: 3 });
    const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    await insertArchiveRows(env.knex, [{ tenant_id: 'late', utc_day: day, hour: 8, status: 'failed', attempts: 3, last_error: 'Error: boom' }]);
    const connection = createRedisConnection(env.config.redis.url, 'producer');
    const queues = createRunQueues(connection, env.redisPrefix);
    try {
      const pass = await reconcile(
        { db: env.knex, queues, logger: createLogger({ service: 'test', level: 'silent' }), now: () => new Date() },
        { trigger: 'manual', tenantId: 'late' },
      );
      expect(pass).toMatchObject({ changedHours: [], retriedHours: [{ tenantId: 'late', utcDay: day, hour: '08' }] });
      const report = await host('GET', `/api/host/daily-audio-recordings/runs/${pass.runId}`);
      expect(report.statusCode).toBe(200);
      expect(report.json()).toMatchObject({ runId: pass.runId, kind: 'reconcile', trigger: 'manual', tenantCount: 1 });
      expect(report.json<{ hours: unknown[] }>().hours).toEqual([
        { tenantId: 'late', utcDay: day, hour: '08', status: 'failed', attempts: 3, lastError: 'Error: boom' },
      ]);
    } finally {
      await queues.close();
      connection.disconnect();
    }
  });
});

describe('operations', () => {
  it('serve /healthz, /readyz naming a dependency that is down, /metrics and /docs', async () => {
    expect((await api.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await api.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', store: 'ok' } });

    const deadStore = createS3Client({ ...env.config.s3, endpoint: 'http://127.0.0.1:1' });
    const degraded = await startTestApi(env, { s3: deadStore });
    try {
      const response = await degraded.app.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({ status: 'unavailable', checks: { postgres: 'ok', redis: 'ok', store: 'unavailable' } });
    } finally {
      await degraded.close();
      deadStore.destroy();
    }

    const metrics = await api.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/http_requests_total\{route="\/healthz",method="GET",status="200",service="api"\} 1/);
    expect(metrics.body).toContain('http_request_duration_seconds_bucket');

    const openapi = (await api.app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/connect/token',
        '/api/external/conversations/daily-audio-recordings/{utcDay}',
        '/api/host/tenants/{tenantId}',
        '/api/host/tenants',
        '/api/host/tenants/{tenantId}/features/daily-audio-recordings',
        '/api/host/tenants/{tenantId}/applications',
        '/api/host/tenants/{tenantId}/applications/{clientId}',
        '/api/host/daily-audio-recordings/runs',
        '/api/host/daily-audio-recordings/runs/{runId}',
        '/healthz',
        '/readyz',
      ]),
    );
    expect(Object.keys(openapi.paths).some((path) => path.startsWith('/admin/queues'))).toBe(false);
    expect((await api.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('answer unknown routes with a JSON 404', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/nowhere' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'Not found.' });
  });

  it('put Bull Board behind the host’s Basic credentials', async () => {
    const anonymous = await api.app.inject({ method: 'GET', url: '/admin/queues' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm=/);
    const wrong = Buffer.from(`${env.config.auth.hostClientId}:wrong`).toString('base64');
    expect((await api.app.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: `Basic ${wrong}` } })).statusCode).toBe(401);
    const basic = Buffer.from(`${env.config.auth.hostClientId}:${env.config.auth.hostClientSecret}`).toString('base64');
    const page = await api.app.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: `Basic ${basic}` } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const queues = await api.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Basic ${basic}` } });
    expect(queues.statusCode).toBe(200);
    expect(
      queues
        .json<{ queues: Array<{ name: string }> }>()
        .queues.map((q) => q.name)
        .sort(),
    ).toEqual(['archive-hour', 'archive-run', 'maintenance', 'webhook-delivery']);
  });
});
