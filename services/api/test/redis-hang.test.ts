import { previousUtcDay } from '@dcar/domain';
import { createRedisConnection, redisReady } from '@dcar/platform';
import { TEST_REDIS_URL, createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { startTcpGate, type TcpGate } from '@dcar/testing/tcp-gate';
import { createRunQueues, type RunQueues } from '@dcar/runs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

/**
 * Redis that hangs: it accepted the API's connection and then stops answering (a stuck or
 * overloaded server, a network path that black-holes). Every request that needs it must still get
 * a clean 5xx `{ error }`, bounded by the connection's command timeout, never a hang.
 */
let env: TestEnvironment;
let gate: TcpGate;
let redis: Redis;
let api: TestApi;
let runQueues: RunQueues;
let tenantToken: string;
let hostToken: string;
const timings: Record<string, number> = {};

beforeAll(async () => {
  env = await createTestEnvironment();
  const target = new URL(TEST_REDIS_URL);
  gate = await startTcpGate({ host: target.hostname, port: Number(target.port || 6379) });
  gate.open();
  // The API's own kind of connection, through the gate.
  redis = createRedisConnection(`redis://127.0.0.1:${gate.port}`, 'producer');
  redis.on('error', () => undefined);
  await redisReady(redis, 10_000);
  // Queues on it too (Bull Board and runs), as main.ts builds them.
  runQueues = createRunQueues(redis, env.redisPrefix);
  api = await startTestApi(env, { redis, runQueues });
  const credentials = await seedTenant(env.knex, 'frozen');
  tenantToken = await requestToken(api.app, credentials.clientId, credentials.clientSecret);
  hostToken = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
  gate.freeze();
});

afterAll(async () => {
  console.log(`seconds to answer with Redis hanging: ${JSON.stringify(timings)}`);
  await api?.close();
  redis?.disconnect();
  await runQueues?.close().catch(() => undefined);
  await gate?.close();
  await env?.close();
});

async function timed<T>(name: string, request: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await request();
  } finally {
    timings[name] = Math.round(performance.now() - started) / 1000;
  }
}

describe('an API whose Redis hangs', () => {
  it('answers the daily endpoint with a clean 500', async () => {
    const response = await timed('daily', () => api.app.inject({ method: 'GET', url: `${DAILY}/${previousUtcDay(new Date())}`, headers: bearer(tenantToken) }));
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: 'Internal server error.' });
  }, 15_000);

  it('reports itself not ready, naming Redis', async () => {
    const response = await timed('readyz', () => api.app.inject({ method: 'GET', url: '/readyz' }));
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ status: 'unavailable', checks: { postgres: 'ok', redis: 'unavailable', store: 'ok' } });
  }, 15_000);

  it('answers /healthz', async () => {
    expect((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('refuses a run it cannot queue with 503, and leaves no run queued for good', async () => {
    await api.app.inject({
      method: 'PUT',
      url: '/api/host/tenants/frozen/features/daily-audio-recordings',
      headers: { ...bearer(hostToken), 'content-type': 'application/json' },
      payload: JSON.stringify({ enabled: true, retentionDays: 3 }),
    });
    const response = await timed('startRun', () =>
      api.app.inject({
        method: 'POST',
        url: '/api/host/daily-audio-recordings/runs',
        headers: { ...bearer(hostToken), 'content-type': 'application/json' },
        payload: JSON.stringify({ utcDay: previousUtcDay(new Date()), tenantIds: ['frozen'] }),
      }),
    );
    expect(response.statusCode).toBe(503);
    expect(Object.keys(response.json<object>())).toEqual(['error']);
    expect(response.json<{ error: string }>().error).toMatch(/could not be queued/);
    const runs: Array<{ state: string; finished_at: Date | null }> = await env.knex('archive_runs').select('state', 'finished_at');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ state: 'failed', finished_at: expect.any(Date) as Date });
  }, 15_000);

  it('answers Bull Board with a 5xx instead of hanging', async () => {
    const basic = `Basic ${Buffer.from(`${env.config.auth.hostClientId}:${env.config.auth.hostClientSecret}`).toString('base64')}`;
    const response = await timed('bullBoard', () => api.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: basic } }));
    expect(response.statusCode).toBeGreaterThanOrEqual(500);
    expect(Object.keys(response.json())).toContain('error');
  }, 15_000);
});
