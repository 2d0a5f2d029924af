import type { LookupAddress } from 'node:dns';
import { Writable } from 'node:stream';
import { ContractMessages } from '@dcar/domain';
import { REDACTED_PATHS } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { createSecretBox, emitWebhookEvents, WebhookEventTypes, type WebhookEvent } from '@dcar/webhooks';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostMessages } from '@dcar/api-schemas';
import { bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

// The host's webhook endpoints with production URL rules (no WEBHOOK_ALLOW_INSECURE); host names
// resolve through a table, as DNS would answer them.
const DNS: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34'],
  'other.example.com': ['2606:2800:220:1::1'],
  'internal.example.com': ['10.0.0.5'],
  'sneaky.example.com': ['93.184.216.34', '169.254.169.254'],
};
const resolveHost = (hostname: string): Promise<LookupAddress[]> => {
  const addresses = DNS[hostname];
  if (!addresses) return Promise.reject(new Error(`getaddrinfo ENOTFOUND ${hostname}`));
  return Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
};

interface WebhookView {
  url: string;
  enabled: boolean;
  secret?: string;
  createdAt: string;
  updatedAt: string;
}
interface WebhookRow {
  tenant_id: string;
  secret_ciphertext: string;
}

let env: TestEnvironment;
let api: TestApi;
let hostToken: string;
let logs = '';

beforeAll(async () => {
  env = await createTestEnvironment();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs += String(chunk);
      done();
    },
  });
  // The production redaction, at the most verbose level: nothing may carry a secret into the log.
  const logger = pino({ level: 'trace', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
  api = await startTestApi(env, { logger, resolveHost });
  hostToken = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

function host(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown, token = hostToken) {
  return api.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
}

const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;

describe('webhook endpoints', () => {
  it('need a valid token (401) with host_admin (403)', async () => {
    const tenant = await seedTenant(env.knex, 'guarded');
    const tenantToken = await requestToken(api.app, tenant.clientId, tenant.clientSecret);
    const anonymous = await api.app.inject({ method: 'PUT', url: '/api/host/tenants/guarded/webhook', payload: { url: 'https://hooks.example.com/x' } });
    expect([anonymous.statusCode, anonymous.json()]).toEqual([401, { error: ContractMessages.unauthorized }]);
    for (const [method, path] of [
      ['PUT', '/webhook'],
      ['GET', '/webhook'],
      ['DELETE', '/webhook'],
      ['POST', '/webhook/rotate-secret'],
      ['GET', '/webhook/deliveries'],
    ] as const) {
      const forbidden = await host(
        method,
        `/api/host/tenants/guarded${path}`,
        method === 'PUT' ? { url: 'https://hooks.example.com/x' } : undefined,
        tenantToken,
      );
      expect([method, path, forbidden.statusCode, forbidden.json()]).toEqual([method, path, 403, { error: HostMessages.missingHostScope }]);
    }
    expect(await env.knex('tenant_webhooks').count('* as n').first()).toEqual({ n: 0 });
  });

  it('register a webhook (secret shown once), read it without the secret, change, rotate and delete it', async () => {
    await seedTenant(env.knex, 'acme');
    const created = await host('PUT', '/api/host/tenants/acme/webhook', { url: 'https://hooks.example.com/dcar?token=abc', enabled: true });
    expect(created.statusCode).toBe(200);
    const first = created.json<WebhookView & { secret: string }>();
    expect(first).toEqual({
      url: 'https://hooks.example.com/dcar?token=abc',
      enabled: true,
      secret: expect.stringMatching(SECRET) as string,
      createdAt: expect.any(String) as string,
      updatedAt: expect.any(String) as string,
    });

    const read = await host('GET', '/api/host/tenants/acme/webhook');
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual({ url: 'https://hooks.example.com/dcar?token=abc', enabled: true, createdAt: first.createdAt, updatedAt: first.updatedAt });
    expect(read.body).not.toContain('whsec_');

    // Stored encrypted: the column is not the secret, yet opens to it with the configured key.
    const row = (await env.knex<WebhookRow>('tenant_webhooks').where({ tenant_id: 'acme' }).first())!;
    expect(row.secret_ciphertext).not.toContain(first.secret);
    expect(row.secret_ciphertext).not.toContain(first.secret.slice('whsec_'.length, 30));
    expect(createSecretBox(env.config.webhooks.secretKey).open('acme', row.secret_ciphertext)).toBe(first.secret);

    const changed = await host('PUT', '/api/host/tenants/acme/webhook', { url: 'https://other.example.com/hook', enabled: false });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toEqual({
      url: 'https://other.example.com/hook',
      enabled: false,
      createdAt: first.createdAt,
      updatedAt: expect.any(String) as string,
    });
    // Omitting `enabled` turns it on.
    expect((await host('PUT', '/api/host/tenants/acme/webhook', { url: 'https://other.example.com/hook' })).json()).toMatchObject({ enabled: true });
    expect((await env.knex<WebhookRow>('tenant_webhooks').where({ tenant_id: 'acme' }).first())?.secret_ciphertext).toBe(row.secret_ciphertext);

    const rotated = await host('POST', '/api/host/tenants/acme/webhook/rotate-secret');
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json()).toEqual({
      url: 'https://other.example.com/hook',
      enabled: true,
      secret: expect.stringMatching(SECRET) as string,
      createdAt: first.createdAt,
      updatedAt: expect.any(String) as string,
    });
    expect(rotated.json<WebhookView>().secret).not.toBe(first.secret);
    const rotatedRow = (await env.knex<WebhookRow>('tenant_webhooks').where({ tenant_id: 'acme' }).first())!;
    expect(createSecretBox(env.config.webhooks.secretKey).open('acme', rotatedRow.secret_ciphertext)).toBe(rotated.json<WebhookView>().secret);

    const deleted = await host('DELETE', '/api/host/tenants/acme/webhook');
    expect([deleted.statusCode, deleted.body]).toEqual([204, '']);
    const gone = { error: 'no webhook is registered for tenant acme' };
    expect([(await host('GET', '/api/host/tenants/acme/webhook')).statusCode, (await host('GET', '/api/host/tenants/acme/webhook')).json()]).toEqual([
      404,
      gone,
    ]);
    expect((await host('DELETE', '/api/host/tenants/acme/webhook')).json()).toEqual(gone);
    expect((await host('POST', '/api/host/tenants/acme/webhook/rotate-secret')).json()).toEqual(gone);

    // Registered again: a new webhook, with a new secret shown.
    const again = await host('PUT', '/api/host/tenants/acme/webhook', { url: 'https://hooks.example.com/dcar' });
    expect(again.json<WebhookView>().secret).toMatch(SECRET);
    expect([first.secret, rotated.json<WebhookView>().secret]).not.toContain(again.json<WebhookView>().secret);

    for (const secret of [first.secret, rotated.json<WebhookView>().secret, again.json<WebhookView>().secret] as string[]) {
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(secret.slice('whsec_'.length));
    }
    expect(logs).toContain('webhook registered');
    expect(logs).not.toContain('token=abc');
  });

  it('refuse bodies of the wrong shape (400), unknown tenants (404) and URLs that break the rules (400)', async () => {
    await seedTenant(env.knex, 'strict');
    const cases: Array<[unknown, number, string | RegExp]> = [
      [{}, 400, "body must have required property 'url'"],
      [{ url: 123 }, 400, 'body.url must be string'],
      [{ url: '' }, 400, /url/],
      [{ url: ['https://hooks.example.com/x'] }, 400, 'body.url must be string'],
      [{ url: 'https://hooks.example.com/x', enabled: 'yes' }, 400, 'body.enabled must be boolean'],
      [{ url: 'https://hooks.example.com/x', enabled: 'true' }, 400, 'body.enabled must be boolean'],
      [{ url: 'https://hooks.example.com/x', enabled: 1 }, 400, 'body.enabled must be boolean'],
      [{ url: 'https://hooks.example.com/x', secret: 'whsec_mine' }, 400, "body must NOT have additional property 'secret'"],
      [{ url: 'not a url' }, 400, 'url must be an absolute URL, e.g. https://hooks.example.com/dcar'],
      [{ url: 'http://hooks.example.com/x' }, 400, 'url must start with https://'],
      [{ url: 'https://user:pw@hooks.example.com/x' }, 400, 'url must not contain credentials'],
      [
        { url: 'https://internal.example.com/x' },
        400,
        /internal\.example\.com resolves to 10\.0\.0\.5 \(private, loopback, link-local or otherwise not public\)/,
      ],
      [{ url: 'https://sneaky.example.com/x' }, 400, /resolves to 169\.254\.169\.254/],
      [{ url: 'https://127.0.0.1/x' }, 400, /127\.0\.0\.1/],
      [{ url: 'https://[::1]:8443/x' }, 400, /::1/],
      [{ url: 'https://localhost/x' }, 400, 'url must name a public host: localhost is a local or private-use name'],
      [{ url: 'https://metadata.google.internal/x' }, 400, /metadata\.google\.internal is a local or private-use name/],
      [{ url: `https://hooks.example.com/${'a'.repeat(2048)}` }, 400, /2048/],
    ];
    for (const [payload, status, message] of cases) {
      const response = await host('PUT', '/api/host/tenants/strict/webhook', payload);
      expect({ payload, status: response.statusCode }).toEqual({ payload, status });
      expect(response.json<{ error: string }>().error).toMatch(message);
    }
    expect(await env.knex('tenant_webhooks').where({ tenant_id: 'strict' }).count('* as n').first()).toEqual({ n: 0 });

    const unknown = await host('PUT', '/api/host/tenants/nobody/webhook', { url: 'https://hooks.example.com/x' });
    expect([unknown.statusCode, unknown.json()]).toEqual([404, { error: 'tenant nobody not found' }]);
    for (const [method, path] of [
      ['GET', '/webhook'],
      ['DELETE', '/webhook'],
      ['POST', '/webhook/rotate-secret'],
      ['GET', '/webhook/deliveries'],
    ] as const) {
      const response = await host(method, `/api/host/tenants/nobody${path}`);
      expect([method, path, response.statusCode, response.json()]).toEqual([method, path, 404, { error: 'tenant nobody not found' }]);
    }
    expect((await host('PUT', '/api/host/tenants/bad%20id/webhook', { url: 'https://hooks.example.com/x' })).statusCode).toBe(400);
  });

  it('accept an https:// host that does not resolve now: deliveries check its addresses when they connect', async () => {
    await seedTenant(env.knex, 'unresolved');
    const response = await host('PUT', '/api/host/tenants/unresolved/webhook', { url: 'https://hooks.not-yet-in-dns.example/dcar' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ url: 'https://hooks.not-yet-in-dns.example/dcar', enabled: true, secret: expect.stringMatching(SECRET) as string });
  });

  it('accept http:// and loopback URLs when WEBHOOK_ALLOW_INSECURE=true', async () => {
    const relaxed = await startTestApi(env, { config: { ...env.config, webhooks: { ...env.config.webhooks, allowInsecure: true } }, resolveHost });
    try {
      await seedTenant(env.knex, 'dev');
      const token = await requestToken(relaxed.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
      const response = await relaxed.app.inject({
        method: 'PUT',
        url: '/api/host/tenants/dev/webhook',
        headers: bearer(token),
        payload: { url: 'http://127.0.0.1:9999/hook' },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ url: 'http://127.0.0.1:9999/hook', enabled: true });
    } finally {
      await relaxed.close();
    }
  });

  it('list the last 100 deliveries, newest first', async () => {
    await seedTenant(env.knex, 'busy');
    expect((await host('GET', '/api/host/tenants/busy/webhook/deliveries')).json()).toEqual([]);
    await host('PUT', '/api/host/tenants/busy/webhook', { url: 'https://hooks.example.com/busy' });
    const event = (i: number): WebhookEvent => ({
      tenantId: 'busy',
      type: WebhookEventTypes.hourRegenerated,
      idempotencyKey: `test:${i}`,
      data: { tenantId: 'busy', utcDay: '2025-12-12', hour: '08', revision: i, fileCount: 1, sha256: null },
    });
    // No consumer runs here: every delivery stays pending.
    const emit = (events: WebhookEvent[], at: Date) =>
      emitWebhookEvents({ db: env.knex, queue: api.runQueues.webhookDelivery, logger: pino({ level: 'silent' }), now: () => at }, events);
    await emit(
      Array.from({ length: 104 }, (_, i) => event(i)),
      new Date(Date.now() - 60_000),
    );
    await emit([event(104)], new Date());

    const response = await host('GET', '/api/host/tenants/busy/webhook/deliveries');
    expect(response.statusCode).toBe(200);
    const deliveries = response.json<Array<Record<string, unknown>>>();
    expect(deliveries).toHaveLength(100);
    const newest = (await env.knex<{ id: string; idempotency_key: string }>('webhook_deliveries').where({ idempotency_key: 'test:104' }).first())!;
    expect(deliveries[0]).toEqual({
      eventId: newest.id,
      type: 'daily_audio_recordings.hour.regenerated',
      state: 'pending',
      attempts: 0,
      lastStatusCode: null,
      lastError: null,
      createdAt: expect.any(String) as string,
      deliveredAt: null,
      failedAt: null,
    });
    expect(await api.runQueues.webhookDelivery.getJob(newest.id)).toBeDefined();
  });

  it('are described in the OpenAPI document', async () => {
    const openapi = (await api.app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/api/host/tenants/{tenantId}/webhook',
        '/api/host/tenants/{tenantId}/webhook/rotate-secret',
        '/api/host/tenants/{tenantId}/webhook/deliveries',
      ]),
    );
  });
});
