import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedTenant, startTestApi, type TestApi } from './helpers.js';

let env: TestEnvironment;
let api: TestApi;
/** The throttle's clock, in ms: moved by the tests instead of waiting five minutes. */
let clock = Date.parse('2030-01-01T00:00:00Z');

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env, { limitsClock: () => clock });
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

function token(clientId: string, clientSecret: string, address: string) {
  return api.app.inject({
    method: 'POST',
    url: '/connect/token',
    remoteAddress: address,
    payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

function basicToken(clientId: string, clientSecret: string, address: string) {
  return api.app.inject({
    method: 'POST',
    url: '/connect/token',
    remoteAddress: address,
    payload: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
  });
}

function board(user: string, password: string, address: string) {
  return api.app.inject({
    method: 'GET',
    url: '/admin/queues',
    remoteAddress: address,
    headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  });
}

describe('guessing client secrets at POST /connect/token', () => {
  it('is refused with 429 after 20 failures for one client id from one address, right secret or not, until the window passes', async () => {
    const app = await seedTenant(env.knex, 'guessed');
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await token(app.clientId, `wrong-${i}`, '10.0.0.1')).statusCode);
    expect(statuses).toEqual(Array(20).fill(401));

    const refused = await token(app.clientId, 'wrong-21', '10.0.0.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({ error: 'too_many_requests' });
    expect(refused.headers['retry-after']).toBe('300');
    const right = await token(app.clientId, app.clientSecret, '10.0.0.1');
    expect([right.statusCode, right.json()]).toEqual([429, { error: 'too_many_requests' }]);
    // Through HTTP Basic it is the same client id.
    expect((await basicToken(app.clientId, app.clientSecret, '10.0.0.1')).statusCode).toBe(429);

    // Other addresses, and other client ids from the same address, are unaffected.
    expect((await token(app.clientId, app.clientSecret, '10.0.0.2')).statusCode).toBe(200);
    expect((await token(env.config.auth.hostClientId, 'wrong', '10.0.0.1')).statusCode).toBe(401);

    clock += 299_000;
    const later = await token(app.clientId, app.clientSecret, '10.0.0.1');
    expect([later.statusCode, later.headers['retry-after']]).toEqual([429, '1']);
    clock += 1_000;
    expect((await token(app.clientId, app.clientSecret, '10.0.0.1')).statusCode).toBe(200);
  });

  it('counts only failures: successful requests never lock a client out', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await token(env.config.auth.hostClientId, env.config.auth.hostClientSecret, '10.0.1.1')).statusCode);
    expect(statuses).toEqual(Array(30).fill(200));
  });

  it('lets exactly 20 of 50 concurrent wrong guesses be checked', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => token(env.config.auth.hostClientId, `guess-${i}`, '10.0.2.1')));
    const counts: Record<number, number> = {};
    for (const answer of answers) counts[answer.statusCode] = (counts[answer.statusCode] ?? 0) + 1;
    expect(counts).toEqual({ 401: 20, 429: 30 });
  });
});

describe('guessing the Bull Board password', () => {
  it('is refused with 429 after 20 failures for one user name from one address, until the window passes', async () => {
    const { hostClientId, hostClientSecret } = env.config.auth;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await board(hostClientId, `wrong-${i}`, '10.0.3.1')).statusCode);
    expect(statuses).toEqual(Array(20).fill(401));

    const refused = await board(hostClientId, hostClientSecret, '10.0.3.1');
    expect([refused.statusCode, refused.json(), refused.headers['retry-after']]).toEqual([429, { error: 'too_many_requests' }, '300']);
    expect((await board(hostClientId, hostClientSecret, '10.0.3.2')).statusCode).toBe(200);
    expect((await board('someone-else', 'x', '10.0.3.1')).statusCode).toBe(401);

    clock += 300_000;
    expect((await board(hostClientId, hostClientSecret, '10.0.3.1')).statusCode).toBe(200);
  });
});
