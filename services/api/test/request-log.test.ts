import { Writable } from 'node:stream';
import { previousUtcDay } from '@dcar/domain';
import { loggerOptions } from '@dcar/platform';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@dcar/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

let env: TestEnvironment;
let lines: Array<Record<string, unknown>> = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});
const logger = pino(loggerOptions({ service: 'api', level: 'info', replicaId: 'api-1' }), sink);

let api: TestApi;
let proxied: TestApi;

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env, { logger });
  // Behind a proxy on this machine (TRUST_PROXY=loopback): the client's address is the last one the proxy added to X-Forwarded-For.
  proxied = await startTestApi(env, { logger, config: { ...env.config, api: { ...env.config.api, trustProxy: ['loopback'] } } });
});
afterAll(async () => {
  await api?.close();
  await proxied?.close();
  await env?.close();
});
beforeEach(() => {
  lines = [];
});

const requestLines = () => lines.filter((line) => line.msg === 'request completed' || line.msg === 'request failed');
const BASIC_HOST = { authorization: `Basic ${Buffer.from('host:host-secret').toString('base64')}` };

describe('request log', () => {
  it('writes one line per request, with level name, status, time, route and the replica', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/api/host/tenants' });
    expect(response.statusCode).toBe(401);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'request completed',
      service: 'api',
      hostname: expect.any(String) as string,
      replica: 'api-1',
      reqId: response.headers['x-request-id'],
      method: 'GET',
      url: '/api/host/tenants',
      route: '/api/host/tenants',
      statusCode: 401,
      responseTimeMs: expect.any(Number) as number,
      remoteAddress: '127.0.0.1',
    });
  });

  it('writes nothing for probes, metrics scrapes and static assets that succeed', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) expect((await api.app.inject({ method: 'GET', url })).statusCode).toBe(200);
    const page = await api.app.inject({ method: 'GET', url: '/admin/queues', headers: BASIC_HOST });
    // Relative to the page's <base href="/admin/queues/">.
    const asset = /src="(static\/js\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(asset).toBeDefined();
    expect((await api.app.inject({ method: 'GET', url: `/admin/queues/${asset}`, headers: BASIC_HOST })).statusCode).toBe(200);
    // The page itself is one line; its asset none.
    expect(requestLines().map((line) => line.url)).toEqual(['/admin/queues']);
  });

  it('logs a probe or an asset that fails', async () => {
    const asset = await api.app.inject({ method: 'GET', url: '/admin/queues/static/missing.js' });
    expect(asset.statusCode).toBe(401);
    const notReady = await startTestApi(env, { logger, s3: { send: () => Promise.reject(new Error('store down')), destroy: () => undefined } as never });
    try {
      expect((await notReady.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await notReady.close();
    }
    expect(requestLines().map((line) => [line.url, line.statusCode, line.level])).toEqual([
      ['/admin/queues/static/missing.js', 401, 'info'],
      ['/readyz', 503, 'error'],
    ]);
  });
});

describe('TRUST_PROXY', () => {
  it('records the client address the proxy forwarded, in the request log and the access audit', async () => {
    const credentials = await seedTenant(env.knex, 'proxied');
    const token = await requestToken(proxied.app, credentials.clientId, credentials.clientSecret);
    lines = [];
    const response = await proxied.app.inject({
      method: 'GET',
      url: `${DAILY}/${previousUtcDay(new Date())}`,
      headers: { ...bearer(token), 'x-forwarded-for': '198.51.100.9, 203.0.113.7' },
    });
    expect(response.statusCode).toBe(200);
    expect(requestLines()[0]).toMatchObject({ remoteAddress: '203.0.113.7' });
    const row = await waitFor(
      async (): Promise<{ remote_address: string } | undefined> => await env.knex('access_audit_log').where({ tenant_id: 'proxied' }).first('remote_address'),
      { what: 'the audit row' },
    );
    expect(row.remote_address).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For when no proxy is trusted (the default)', async () => {
    await api.app.inject({ method: 'GET', url: '/api/host/tenants', headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(requestLines()[0]).toMatchObject({ remoteAddress: '127.0.0.1' });
  });
});
