import { generateKeyPairSync, createSign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ContractMessages, type UtcDay } from '@dcar/domain';
import { createApplication } from '@dcar/host';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWN_ISSUER, signingKeyId } from '../src/auth/access-tokens.js';
import { DAILY, bearer, hs256Token, seedTenant, startTestApi, type TestApi } from './helpers.js';

const PREVIOUS_KEY = 'previous-signing-key-still-accepted-0123456789';
const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'dcar-api';

let env: TestEnvironment;
let api: TestApi;
let jwksServer: Server;
const idpKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const idpKid = 'idp-key-1';

function rs256Token(payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const head = `${Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: idpKid, ...header })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${head}.${createSign('RSA-SHA256').update(head).sign(idpKey.privateKey).toString('base64url')}`;
}

function form(fields: Record<string, string>, headers: Record<string, string> = {}) {
  return api.app.inject({
    method: 'POST',
    url: '/connect/token',
    payload: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

beforeAll(async () => {
  // The test serves the issuer's JWKS itself, as an identity provider would.
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [{ ...idpKey.publicKey.export({ format: 'jwk' }), kid: idpKid, use: 'sig', alg: 'RS256' }] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const port = (jwksServer.address() as AddressInfo).port;
  env = await createTestEnvironment({
    JWT_PREVIOUS_SIGNING_KEYS: PREVIOUS_KEY,
    AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    AUTH_ISSUER: ISSUER,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_TENANT_CLAIM: 'org_id',
    TOKEN_TTL_SECONDS: '900',
  });
  api = await startTestApi(env);
});

afterAll(async () => {
  await api?.close();
  await env?.close();
  jwksServer?.closeAllConnections();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

describe('POST /connect/token', () => {
  it('issues an HS256 JWT with sub, tenant_id, scope and the configured lifetime to a tenant application', async () => {
    const { clientId, clientSecret } = await seedTenant(env.knex, 'tok');
    const response = await form({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json<{ access_token: string }>();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'dataservice_external' });
    const [header, payload] = body.access_token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: 'HS256', kid: signingKeyId(env.config.auth.signingKey) });
    expect(payload).toMatchObject({ sub: clientId, tenant_id: 'tok', scope: 'dataservice_external', iss: OWN_ISSUER });
    expect(Number(payload?.exp) - Number(payload?.iat)).toBe(900);
  });

  it('accepts HTTP Basic client authentication and gives the host client host_admin', async () => {
    const basic = Buffer.from(`${encodeURIComponent(env.config.auth.hostClientId)}:${encodeURIComponent(env.config.auth.hostClientSecret)}`).toString('base64');
    const response = await form({ grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` });
    expect(response.statusCode).toBe(200);
    expect(response.json<{ scope: string }>().scope).toBe('host_admin');
  });

  it('accepts a host secret with +, / and % in HTTP Basic both as sent (curl -u) and form-encoded (RFC 6749 §2.3.1)', async () => {
    // A secret from `openssl rand -base64` has + / =; curl, Postman and most HTTP clients put it in
    // Basic as it is, while RFC 6749 asks for it form-encoded first: both must authenticate.
    const secret = 'k9+Qx/Zr%41=b+c';
    const custom = await startTestApi(env, { config: { ...env.config, auth: { ...env.config.auth, hostClientSecret: secret } } });
    try {
      const ask = (user: string, password: string) =>
        custom.app.inject({
          method: 'POST',
          url: '/connect/token',
          payload: 'grant_type=client_credentials',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
        });
      const hostId = env.config.auth.hostClientId;
      for (const [how, password] of [
        ['as sent', secret],
        ['form-encoded', encodeURIComponent(secret)],
      ] as const) {
        const response = await ask(hostId, password);
        expect({ how, status: response.statusCode, scope: response.json<{ scope?: string }>().scope }).toEqual({ how, status: 200, scope: 'host_admin' });
      }
      // Neither reading of a wrong secret passes.
      for (const password of ['k9 Qx/Zr%41=b c', 'k9+Qx/ZrA=b+c', 'k9+Qx/Zr%41=b+']) {
        const response = await ask(hostId, password);
        expect({ password, status: response.statusCode, body: response.json<unknown>() }).toEqual({ password, status: 401, body: { error: 'invalid_client' } });
      }
    } finally {
      await custom.close();
    }
  });
  it('answers RFC 6749 §5.2 errors', async () => {
    const { clientId, clientSecret } = await seedTenant(env.knex, 'tok-errors');
    const ok = { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret };
    const cases: Array<[string, Promise<{ statusCode: number; json(): unknown; headers: Record<string, unknown> }>, number, string]> = [
      ['wrong secret', form({ ...ok, client_secret: 'nope' }), 401, 'invalid_client'],
      ['unknown client', form({ ...ok, client_id: 'app_unknown' }), 401, 'invalid_client'],
      ['wrong host secret', form({ ...ok, client_id: env.config.auth.hostClientId, client_secret: 'host-secret-wrong' }), 401, 'invalid_client'],
      ['no credentials', form({ grant_type: 'client_credentials' }), 401, 'invalid_client'],
      // PostgreSQL refuses NUL in text: such a client id can match no stored client (not a 500 from the lookup).
      ['NUL in the client id', form({ ...ok, client_id: `${clientId}\u0000` }), 401, 'invalid_client'],
      [
        'NUL in the Basic user',
        form({ grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('a%00b:x').toString('base64')}` }),
        401,
        'invalid_client',
      ],
      ['no grant type', form({ client_id: clientId, client_secret: clientSecret }), 400, 'invalid_request'],
      ['other grant', form({ ...ok, grant_type: 'password' }), 400, 'unsupported_grant_type'],
      ['scope not granted', form({ ...ok, scope: 'host_admin' }), 400, 'invalid_scope'],
      ['unknown scope', form({ ...ok, scope: 'dataservice_external admin' }), 400, 'invalid_scope'],
      [
        'repeated parameter',
        api.app.inject({
          method: 'POST',
          url: '/connect/token',
          payload: `grant_type=client_credentials&grant_type=client_credentials&client_id=${clientId}&client_secret=${clientSecret}`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
        400,
        'invalid_request',
      ],
      ['basic and body', form(ok, { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` }), 400, 'invalid_request'],
      [
        'bad json',
        api.app.inject({ method: 'POST', url: '/connect/token', payload: '{', headers: { 'content-type': 'application/json' } }),
        400,
        'invalid_request',
      ],
    ];
    for (const [name, pending, status, error] of cases) {
      const response = await pending;
      expect({ name, status: response.statusCode, body: response.json() }).toEqual({ name, status, body: { error } });
      if (error === 'invalid_client') expect(response.headers['www-authenticate']).toMatch(/^Basic /);
    }
    expect((await form({ ...ok, scope: 'dataservice_external' })).json<{ scope: string }>().scope).toBe('dataservice_external');
  });

  it('never grants host_admin to a tenant application, whatever it asks', async () => {
    await seedTenant(env.knex, 'tok-host');
    await expect(createApplication(env.knex, 'tok-host', { name: 'x', scopes: ['host_admin'] })).rejects.toThrow(/host_admin/);
    const forged = hs256Token(
      { alg: 'HS256', kid: signingKeyId(env.config.auth.signingKey) },
      { iss: OWN_ISSUER, sub: 'app_someone', scope: 'host_admin', exp: Math.floor(Date.now() / 1000) + 60 },
      env.config.auth.signingKey,
    );
    expect((await api.app.inject({ method: 'GET', url: '/api/host/tenants', headers: bearer(forged) })).statusCode).toBe(401);
  });
});

describe('accepted tokens', () => {
  it('reads the bearer token as RFC 6750 §2.1 writes it: any case of the scheme, one or more spaces', async () => {
    const { clientId } = await seedTenant(env.knex, 'spaced');
    const claims = { iss: OWN_ISSUER, sub: clientId, tenant_id: 'spaced', scope: 'dataservice_external', exp: Math.floor(Date.now() / 1000) + 60 };
    const token = hs256Token({ alg: 'HS256', kid: signingKeyId(env.config.auth.signingKey) }, claims, env.config.auth.signingKey);
    for (const authorization of [`Bearer ${token}`, `bearer ${token}`, `Bearer   ${token}`]) {
      const response = await api.app.inject({ method: 'GET', url: `${DAILY}/not-a-day`, headers: { authorization } });
      expect({ authorization, body: response.json<unknown>() }).toEqual({ authorization, body: { error: ContractMessages.invalidDay } });
    }
    for (const authorization of [`Bearer ${token} extra`, `Bearer`, `Basic ${token}`, token]) {
      const response = await api.app.inject({ method: 'GET', url: `${DAILY}/not-a-day`, headers: { authorization } });
      expect({ authorization, status: response.statusCode }).toEqual({ authorization, status: 401 });
    }
  });

  it('accepts tokens signed with a previous key during a rotation, not with unknown keys', async () => {
    const { clientId } = await seedTenant(env.knex, 'rotated');
    const claims = { iss: OWN_ISSUER, sub: clientId, tenant_id: 'rotated', scope: 'dataservice_external', exp: Math.floor(Date.now() / 1000) + 60 };
    const previous = hs256Token({ alg: 'HS256', kid: signingKeyId(PREVIOUS_KEY) }, claims, PREVIOUS_KEY);
    expect((await api.app.inject({ method: 'GET', url: `${DAILY}/not-a-day`, headers: bearer(previous) })).json()).toEqual({
      error: ContractMessages.invalidDay,
    });
    const retired = 'retired-signing-key-no-longer-listed-0123456789';
    const old = hs256Token({ alg: 'HS256', kid: signingKeyId(retired) }, claims, retired);
    expect((await api.app.inject({ method: 'GET', url: `${DAILY}/not-a-day`, headers: bearer(old) })).statusCode).toBe(401);
  });

  it('accepts an external issuer’s RS256 tokens (tenant from the configured claim, scopes from scope or scp)', async () => {
    await seedTenant(env.knex, 'oidc');
    const exp = Math.floor(Date.now() / 1000) + 300;
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10) as UtcDay;
    const base = { iss: ISSUER, aud: [AUDIENCE, 'other'], sub: 'svc-1', org_id: 'oidc', exp };
    const call = (token: string) => api.app.inject({ method: 'GET', url: `${DAILY}/${day}`, headers: bearer(token) });

    const withScope = await call(rs256Token({ ...base, scope: 'openid dataservice_external' }));
    expect(withScope.statusCode).toBe(200);
    expect(withScope.json<{ links: unknown[] }>().links).toHaveLength(24);
    expect((await call(rs256Token({ ...base, scp: ['dataservice_external'] }))).statusCode).toBe(200);
    expect((await call(rs256Token({ ...base, scope: 'openid' }))).json()).toEqual({ error: ContractMessages.missingScope });

    const refused = {
      wrongAudience: rs256Token({ ...base, aud: 'someone-else', scope: 'dataservice_external' }),
      wrongIssuer: rs256Token({ ...base, iss: 'https://evil.example/', scope: 'dataservice_external' }),
      expired: rs256Token({ ...base, exp: 1_700_000_000, scope: 'dataservice_external' }),
      unknownKid: rs256Token({ ...base, scope: 'dataservice_external' }, { kid: 'nope' }),
      // The classic confusion: HS256 "signed" with the issuer's public key as the HMAC secret.
      hs256WithPublicKey: hs256Token(
        { alg: 'HS256', kid: idpKid },
        { ...base, scope: 'dataservice_external' },
        idpKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      ),
    };
    for (const [name, token] of Object.entries(refused)) {
      expect({ name, status: (await call(token)).statusCode }).toEqual({ name, status: 401 });
    }
    // An external issuer never grants the host's powers.
    const hostClaim = rs256Token({ ...base, scope: 'host_admin' });
    expect((await api.app.inject({ method: 'GET', url: '/api/host/tenants', headers: bearer(hostClaim) })).statusCode).toBe(403);
  });
});
