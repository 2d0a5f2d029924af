import { ContractMessages } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessAuditWriter, type AccessRecord } from '../src/audit.js';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

let env: TestEnvironment;
let api: TestApi;
let address: string;

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env, { config: { ...env.config, api: { ...env.config.api, rateLimitPerHour: 100_000 } } });
  address = await api.app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

/** Runs `tasks` with at most `lanes` in flight, results in input order. */
async function inLanes<T>(tasks: Array<() => Promise<T>>, lanes: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < tasks.length) {
        const index = next++;
        results[index] = await (tasks[index] as () => Promise<T>)();
      }
    }),
  );
  return results;
}

function record(overrides: Partial<AccessRecord>): AccessRecord {
  return { tenant_id: null, client_id: null, utc_day: null, status_code: 200, remote_address: '127.0.0.1', user_agent: null, request_id: 'r', ...overrides };
}

describe('the access audit log', () => {
  it('keeps answering and auditing good requests while NUL-carrying ones arrive in the same batches', async () => {
    const tenant = await seedTenant(env.knex, 'poisoned');
    const token = await requestToken(api.app, tenant.clientId, tenant.clientSecret);
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await env.knex('access_audit_log').del();

    const tasks = Array.from({ length: 600 }, (_, i) => async () => {
      const good = i % 2 === 0;
      const response = await fetch(`${address}${DAILY}/${good ? day : '%00'}`, { headers: good ? bearer(token) : {} });
      await response.arrayBuffer();
      return { good, status: response.status, requestId: response.headers.get('x-request-id') };
    });
    const answers = await inLanes(tasks, 40);

    const split = (good: boolean) => {
      const counts: Record<number, number> = {};
      for (const answer of answers.filter((a) => a.good === good)) counts[answer.status] = (counts[answer.status] ?? 0) + 1;
      return counts;
    };
    expect({ good: split(true), nul: split(false) }).toEqual({ good: { 200: 300 }, nul: { 401: 300 } });

    const rows: Array<{ request_id: string; utc_day: string; status_code: number }> = await env
      .knex('access_audit_log')
      .select('request_id', 'utc_day', 'status_code');
    expect(rows).toHaveLength(600);
    expect(new Set(rows.map((row) => row.request_id))).toEqual(new Set(answers.map((a) => a.requestId)));
    // What the request carried, escaped where PostgreSQL cannot store it.
    expect(rows.filter((row) => row.status_code === 401).every((row) => row.utc_day === '\\u0000')).toBe(true);
  });

  it('stores NUL, lone surrogates and backslashes in every text column as visible escapes', async () => {
    const writer = createAccessAuditWriter(env.knex, pino({ level: 'silent' }));
    await writer.record(
      record({
        tenant_id: 't\u0000x',
        client_id: 'c\ud800',
        utc_day: '2025\\u0000',
        remote_address: '\udc00',
        user_agent: 'agent\u0000/\ud83d\ude00',
        request_id: 'escapes',
      }),
    );
    const row = await env
      .knex<Record<'request_id' | 'tenant_id' | 'client_id' | 'utc_day' | 'remote_address' | 'user_agent', string>>('access_audit_log')
      .where({ request_id: 'escapes' })
      .first();
    expect([row?.tenant_id, row?.client_id, row?.utc_day, row?.remote_address, row?.user_agent]).toEqual([
      't\\u0000x',
      'c\\ud800',
      '2025\\\\u0000',
      '\\udc00',
      'agent\\u0000/\ud83d\ude00',
    ]);
  });

  it('fails only the record that cannot be written, never the others of its batch', async () => {
    const writer = createAccessAuditWriter(env.knex, pino({ level: 'silent' }));
    const records = Array.from({ length: 20 }, (_, i) =>
      // status_code is an integer column: 2^40 does not fit, whatever the escaping.
      record({ request_id: `batch-${i}`, status_code: i === 7 ? 2 ** 40 : 200 }),
    );
    const outcomes = await Promise.allSettled(records.map((r) => writer.record(r)));
    expect(outcomes.map((o) => o.status)).toEqual(records.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')));
    const written: Array<{ request_id: string }> = await env.knex('access_audit_log').where('request_id', 'like', 'batch-%').select('request_id');
    expect(written.map((r) => r.request_id).sort()).toEqual(
      records
        .filter((_, i) => i !== 7)
        .map((r) => r.request_id)
        .sort(),
    );
  });

  it('answers 500 to the request whose record cannot be written, whatever its status would have been', async () => {
    const response = await api.app.inject({ method: 'GET', url: `${DAILY}/2025-01-01` });
    expect(response.statusCode).toBe(401);
    await env.knex.schema.renameTable('access_audit_log', 'access_audit_log_moved');
    try {
      const unaudited = await api.app.inject({ method: 'GET', url: `${DAILY}/2025-01-01` });
      expect(unaudited.statusCode).toBe(500);
      expect(unaudited.json()).toEqual({ error: ContractMessages.internal });
    } finally {
      await env.knex.schema.renameTable('access_audit_log_moved', 'access_audit_log');
    }
  });
});
