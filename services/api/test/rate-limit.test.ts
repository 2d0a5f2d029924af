import { ContractMessages } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

const MINUTE = 60_000;

let env: TestEnvironment;
let replicas: TestApi[];
let addresses: string[];

beforeAll(async () => {
  env = await createTestEnvironment();
  replicas = [await startTestApi(env), await startTestApi(env)];
  addresses = await Promise.all(replicas.map((replica) => replica.app.listen({ port: 0, host: '127.0.0.1' })));
});

afterAll(async () => {
  await Promise.all((replicas ?? []).map((replica) => replica.close()));
  await env?.close();
});

describe('per-tenant download limit', () => {
  it('is shared by two API instances on one Redis, per tenant, with Retry-After on the 429', async () => {
    const busy = await seedTenant(env.knex, 'busy');
    const quiet = await seedTenant(env.knex, 'quiet');
    const busyToken = await requestToken(replicas[0]!.app, busy.clientId, busy.clientSecret);
    const quietToken = await requestToken(replicas[1]!.app, quiet.clientId, quiet.clientSecret);
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

    const answers: Array<{ status: number; remaining: string | null }> = [];
    for (let i = 0; i < 12; i++) {
      const response = await fetch(`${addresses[i % 2]}${DAILY}/${day}`, { headers: bearer(busyToken) });
      answers.push({ status: response.status, remaining: response.headers.get('x-ratelimit-remaining') });
      if (response.status === 429) {
        expect(await response.json()).toEqual({ error: ContractMessages.rateLimited });
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(response.headers.get('x-ratelimit-limit')).toBe('10');
      } else {
        await response.arrayBuffer();
      }
    }
    expect(answers.map((a) => a.status)).toEqual([...Array<number>(10).fill(200), 429, 429]);
    expect(answers.slice(0, 10).map((a) => a.remaining)).toEqual(['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);

    const other = await fetch(`${addresses[0]}${DAILY}/${day}`, { headers: bearer(quietToken) });
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-remaining')).toBe('9');
  });
});

describe('the download limit over a sliding hour', () => {
  it('never lets more than the limit pass in any 60 minutes, also across a window boundary', async () => {
    const start = Date.parse('2030-01-01T00:00:00Z');
    let clock = start;
    const api = await startTestApi(env, { limitsClock: () => clock });
    try {
      const tenant = await seedTenant(env.knex, 'sliding');
      const token = await requestToken(api.app, tenant.clientId, tenant.clientSecret);
      const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      const get = async (times: number) => {
        const answers: Array<{ status: number; retryAfter: string | undefined }> = [];
        for (let i = 0; i < times; i++) {
          const response = await api.app.inject({ method: 'GET', url: `${DAILY}/${day}`, headers: bearer(token) });
          answers.push({ status: response.statusCode, retryAfter: response.headers['retry-after'] });
        }
        return answers;
      };
      const passed = (n: number) => Array<{ status: number; retryAfter: string | undefined }>(n).fill({ status: 200, retryAfter: undefined });

      expect(await get(5)).toEqual(passed(5)); // t
      clock = start + 30 * MINUTE;
      expect(await get(5)).toEqual(passed(5)); // t+30 min: 10 in the last hour
      clock = start + 59 * MINUTE;
      // Until t+60 min, when the five of t leave the hour.
      expect(await get(1)).toEqual([{ status: 429, retryAfter: '60' }]);
      clock = start + 61 * MINUTE;
      // Five of t+30 min are still in the hour: five more pass, the sixth waits until t+90 min.
      expect(await get(6)).toEqual([...passed(5), { status: 429, retryAfter: String(29 * 60) }]);
      clock = start + 90 * MINUTE;
      expect(await get(6)).toEqual([...passed(5), { status: 429, retryAfter: String(31 * 60) }]);
    } finally {
      await api.close();
    }
  });

  it('lets exactly the limit through of 50 concurrent requests across two replicas, each refusal with Retry-After', async () => {
    const now = Date.parse('2030-02-01T00:00:00Z');
    const pair = [await startTestApi(env, { limitsClock: () => now }), await startTestApi(env, { limitsClock: () => now })];
    try {
      const pairAddresses = await Promise.all(pair.map((replica) => replica.app.listen({ port: 0, host: '127.0.0.1' })));
      const tenant = await seedTenant(env.knex, 'crowd');
      const token = await requestToken(pair[0]!.app, tenant.clientId, tenant.clientSecret);
      const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      const answers = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const response = await fetch(`${pairAddresses[i % 2]}${DAILY}/${day}`, { headers: bearer(token) });
          await response.arrayBuffer();
          return { status: response.status, retryAfter: response.headers.get('retry-after') };
        }),
      );
      expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
      expect(answers.filter((a) => a.status === 429)).toEqual(Array(40).fill({ status: 429, retryAfter: '3600' }));
    } finally {
      await Promise.all(pair.map((replica) => replica.close()));
    }
  });
});
