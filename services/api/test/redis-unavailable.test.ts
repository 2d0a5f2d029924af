import { previousUtcDay } from '@dcar/domain';
import { createRedisConnection, redisReady } from '@dcar/platform';
import { TEST_REDIS_URL, createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { startTcpGate, type TcpGate } from '@dcar/testing/tcp-gate';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

let env: TestEnvironment;
let gate: TcpGate;
let redis: Redis;
let api: TestApi;

beforeAll(async () => {
  env = await createTestEnvironment();
  const target = new URL(TEST_REDIS_URL);
  gate = await startTcpGate({ host: target.hostname, port: Number(target.port || 6379) });
  // The API's own kind of connection (fail fast, no offline queue), to a Redis that is not there yet.
  redis = createRedisConnection(`redis://127.0.0.1:${gate.port}`, 'producer');
  redis.on('error', () => undefined);
  api = await startTestApi(env, { redis });
});

afterAll(async () => {
  await api?.close();
  redis?.disconnect();
  await gate?.close();
  await env?.close();
});

describe('an API started before Redis is reachable', () => {
  it('answers a clean 500 where it needs Redis, reports itself not ready, and serves once Redis is there', async () => {
    const credentials = await seedTenant(env.knex, 'early');
    const token = await requestToken(api.app, credentials.clientId, credentials.clientSecret);
    const day = previousUtcDay(new Date());

    const refused = await api.app.inject({ method: 'GET', url: `${DAILY}/${day}`, headers: bearer(token) });
    expect(refused.statusCode).toBe(500);
    expect(refused.json()).toEqual({ error: 'Internal server error.' });
    const notReady = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json<{ checks: { redis: string } }>().checks.redis).toBe('unavailable');

    gate.open();
    await redisReady(redis, 30_000);
    const served = await api.app.inject({ method: 'GET', url: `${DAILY}/${day}`, headers: bearer(token) });
    expect(served.statusCode).toBe(200);
    expect((await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('gives up waiting for a Redis that does not come, with an error saying so', async () => {
    const closed = await startTcpGate({ host: '127.0.0.1', port: 1 });
    const connection = createRedisConnection(`redis://127.0.0.1:${closed.port}`, 'producer');
    connection.on('error', () => undefined);
    try {
      await expect(redisReady(connection, 300)).rejects.toThrow(/Redis is not reachable/);
    } finally {
      connection.disconnect();
      await closed.close();
    }
  });
});
