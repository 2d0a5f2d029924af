import { connect } from 'node:net';
import { ContractMessages } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY, bearer, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

let env: TestEnvironment;
let api: TestApi;
let address: URL;
let token: string;

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env);
  address = new URL(await api.app.listen({ port: 0, host: '127.0.0.1' }));
  const tenant = await seedTenant(env.knex, 'framework');
  token = await requestToken(api.app, tenant.clientId, tenant.clientSecret);
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

/** Sends `request` as is over a plain socket and reads the whole answer (the server closes or answers with a length). */
function rawHttp(request: string | Buffer): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(address.port), address.hostname);
    const chunks: Buffer[] = [];
    const finish = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1];
      const bodyStart = text.indexOf('\r\n\r\n');
      if (length !== undefined && bodyStart >= 0 && Buffer.byteLength(text.slice(bodyStart + 4)) >= Number(length)) {
        socket.destroy();
        finish();
      }
    });
    socket.on('close', () => finish());
    socket.on('error', reject);
    socket.write(request);
  });
}

async function httpGet(path: string, headers: Record<string, string> = {}) {
  // fetch would normalise the path (e.g. encode '%zz' or resolve '..'): the raw request line is sent as written.
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${address.host}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const answer = await rawHttp(`${lines.join('\r\n')}\r\n\r\n`);
  return { ...answer, json: JSON.parse(answer.body) as unknown };
}

describe('errors the framework raises itself', () => {
  it('answer the daily endpoint’s 401 first for any path under it, then the contract’s own answers', async () => {
    const longDay = '2'.repeat(5000);
    const cases: Array<[string, number, string]> = [
      ['%zz', 400, ContractMessages.invalidDay],
      ['%E0%A4%A', 400, ContractMessages.invalidDay],
      [longDay, 400, ContractMessages.invalidDay],
      ['2025-01-01/extra', 404, 'Not found.'],
      ['%zz/extra', 400, ContractMessages.invalidDay],
      ['', 400, ContractMessages.invalidDay],
    ];
    for (const [day, status, message] of cases) {
      const anonymous = await httpGet(`${DAILY}/${day}`);
      expect({ day: day.slice(0, 20), status: anonymous.status, body: anonymous.json }).toEqual({
        day: day.slice(0, 20),
        status: 401,
        body: { error: ContractMessages.unauthorized },
      });
      const authorized = await httpGet(`${DAILY}/${day}`, bearer(token));
      expect({ day: day.slice(0, 20), status: authorized.status, body: authorized.json }).toEqual({ day: day.slice(0, 20), status, body: { error: message } });
    }
    const bare = await httpGet(DAILY);
    expect([bare.status, bare.json]).toEqual([401, { error: ContractMessages.unauthorized }]);
  });

  it('audit an undecodable day as it was sent', async () => {
    await env.knex('access_audit_log').del();
    const response = await httpGet(`${DAILY}/%zz`, { 'user-agent': 'probe' });
    const rows = await env.knex('access_audit_log').select('utc_day', 'status_code', 'request_id');
    expect(rows).toEqual([{ utc_day: '%zz', status_code: 401, request_id: response.headers['x-request-id'] }]);
  });

  it('have the contract’s { "error" } body on every other route too', async () => {
    const hostToken = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
    const answers = [
      await httpGet('/api/host/tenants/%zz', bearer(hostToken)),
      await httpGet(`/api/host/tenants/${'a'.repeat(5000)}`, bearer(hostToken)),
      await httpGet('/nowhere/%zz'),
    ];
    expect(answers.map((a) => a.status)).toEqual([400, 414, 400]);
    for (const answer of answers) {
      expect(Object.keys(answer.json as object)).toEqual(['error']);
      expect(typeof (answer.json as { error: unknown }).error).toBe('string');
    }
  });

  it('answer oversized headers and malformed requests with a JSON { "error" } body', async () => {
    const oversized = await rawHttp(`GET ${DAILY}/2025-01-01 HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(40_000)}\r\n\r\n`);
    expect(oversized.status).toBe(431);
    expect(oversized.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(oversized.body)).toEqual({ error: 'Request header fields too large.' });

    const garbage = await rawHttp('NOT-HTTP\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.body)).toEqual({ error: 'Bad request.' });
  });

  it('answer bodies the framework refuses with a JSON { "error" } body', async () => {
    const hostToken = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
    const put = (body: string, contentType: string) =>
      fetch(new URL('/api/host/tenants/t-body', address), { method: 'PUT', body, headers: { ...bearer(hostToken), 'content-type': contentType } });
    const answers = [
      await put('{"name":', 'application/json'),
      await put('name=x', 'text/csv'),
      await put(`{"name":"${'x'.repeat(2_000_000)}"}`, 'application/json'),
    ];
    expect(answers.map((a) => a.status)).toEqual([400, 415, 413]);
    for (const answer of answers) {
      const body = (await answer.json()) as object;
      expect(Object.keys(body)).toEqual(['error']);
    }
  });
});
