import { ContractMessages } from '@dcar/domain';
import { revokeApplication } from '@dcar/host';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

// What a public API sends besides its bodies: RFC 6750 challenges on refused tokens, and the
// security headers of @fastify/helmet, with a policy for the HTML pages that lets them render.

const DAY = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

let env: TestEnvironment;
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env);
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

const get = (url: string, headers: Record<string, string> = {}) => api.app.inject({ method: 'GET', url, headers });

describe('WWW-Authenticate (RFC 6750)', () => {
  it('is a bare Bearer challenge when no token was sent, on the external and host endpoints', async () => {
    for (const url of [`${DAILY}/${DAY}`, DAILY, '/api/host/tenants']) {
      for (const headers of [{}, { authorization: 'Basic aG9zdDpob3N0LXNlY3JldA==' }, { authorization: 'Bearer' }] as Array<Record<string, string>>) {
        const response = await get(url, headers);
        expect(response.statusCode, url).toBe(401);
        expect(response.json()).toEqual({ error: ContractMessages.unauthorized });
        expect(response.headers['www-authenticate'], `${url} ${JSON.stringify(headers)}`).toBe('Bearer realm="dcar"');
      }
    }
  });

  it('says invalid_token when a token was sent but is not valid, expired, or its application was revoked', async () => {
    const client = await seedTenant(env.knex, 'challenged');
    const token = await requestToken(api.app, client.clientId, client.clientSecret);
    const expired = api.app.jwt.sign({ sub: client.clientId, scope: 'dataservice_external', tenant_id: 'challenged' }, { expiresIn: -10 });
    for (const bad of ['garbage', `${token.slice(0, -2)}xx`, expired]) {
      const response = await get(`${DAILY}/${DAY}`, bearer(bad));
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe(
        'Bearer realm="dcar", error="invalid_token", error_description="The access token is invalid or has expired"',
      );
    }
    await revokeApplication(env.knex, 'challenged', client.clientId);
    const revoked = await get(`${DAILY}/${DAY}`, bearer(token));
    expect(revoked.statusCode).toBe(401);
    expect(revoked.headers['www-authenticate']).toMatch(/^Bearer realm="dcar", error="invalid_token"/);
  });

  it('says insufficient_scope on a 403 for a missing scope, and nothing for a disabled feature', async () => {
    const host = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
    const noTenant = await get(`${DAILY}/${DAY}`, bearer(host));
    expect(noTenant.statusCode).toBe(403);
    expect(noTenant.headers['www-authenticate']).toBe('Bearer realm="dcar", error="insufficient_scope", scope="dataservice_external"');

    const tenant = await seedTenant(env.knex, 'no-host-powers');
    const tenantToken = await requestToken(api.app, tenant.clientId, tenant.clientSecret);
    const hostRoute = await get('/api/host/tenants', bearer(tenantToken));
    expect(hostRoute.statusCode).toBe(403);
    expect(hostRoute.headers['www-authenticate']).toBe('Bearer realm="dcar", error="insufficient_scope", scope="host_admin"');

    const disabled = await seedTenant(env.knex, 'feature-off', { enabled: false });
    const disabledToken = await requestToken(api.app, disabled.clientId, disabled.clientSecret);
    const off = await get(`${DAILY}/${DAY}`, bearer(disabledToken));
    expect(off.statusCode).toBe(403);
    expect(off.headers['www-authenticate']).toBeUndefined();
  });

  it('is not sent on a success', async () => {
    const client = await seedTenant(env.knex, 'welcome');
    const token = await requestToken(api.app, client.clientId, client.clientSecret);
    const response = await get(`${DAILY}/${DAY}`, bearer(token));
    expect(response.statusCode).toBe(200);
    expect(response.headers['www-authenticate']).toBeUndefined();
  });
});

describe('security headers', () => {
  it('are sent on every API answer, success or error, with a policy that loads and frames nothing', async () => {
    const client = await seedTenant(env.knex, 'headers');
    const token = await requestToken(api.app, client.clientId, client.clientSecret);
    const answers = [
      await get(`${DAILY}/${DAY}`, bearer(token)),
      await get(`${DAILY}/${DAY}`),
      await get('/healthz'),
      await get('/no/such/route'),
      await api.app.inject({
        method: 'POST',
        url: '/connect/token',
        payload: 'grant_type=password',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    ];
    for (const response of answers) {
      expect(response.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
      expect(response.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(response.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('keep the external answers, which hold download links, out of every cache', async () => {
    const client = await seedTenant(env.knex, 'uncached');
    const token = await requestToken(api.app, client.clientId, client.clientSecret);
    for (const response of [await get(`${DAILY}/${DAY}`, bearer(token)), await get(DAILY, bearer(token)), await get(`${DAILY}/${DAY}`)]) {
      expect(response.headers['cache-control']).toBe('no-store');
    }
  });

  it('let the docs page and Bull Board load their own scripts, styles and images, over plain HTTP too', async () => {
    const basic = `Basic ${Buffer.from(`${env.config.auth.hostClientId}:${env.config.auth.hostClientSecret}`).toString('base64')}`;
    for (const [url, headers] of [
      ['/docs', {}],
      ['/docs/static/swagger-initializer.js', {}],
      ['/docs/json', {}],
      ['/admin/queues', { authorization: basic }],
    ] as const) {
      const response = await get(url, headers);
      expect(response.statusCode, url).toBe(200);
      const policy = String(response.headers['content-security-policy']);
      expect(policy, url).toContain("script-src 'self'");
      expect(policy, url).toContain("default-src 'self'");
      expect(policy, url).toContain("img-src 'self' data:");
      expect(policy, url).not.toContain('upgrade-insecure-requests');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
  });
});
