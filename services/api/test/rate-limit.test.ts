import { ContractMessages } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

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
    expect(answers.map((a) => a.status)).toEqual([...Array(10).fill(200), 429, 429]);
    expect(answers.slice(0, 10).map((a) => a.remaining)).toEqual(['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);

    const other = await fetch(`${addresses[0]}${DAILY}/${day}`, { headers: bearer(quietToken) });
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-remaining')).toBe('9');
  });
});
