import { spawn, type ChildProcess } from 'node:child_process';
import { previousUtcDay } from '@dcar/domain';
import { createTestEnvironment, REPOSITORY_ROOT, sourceCommand, TEST_REDIS_URL, waitFor, type TestEnvironment } from '@dcar/testing';
import { startTcpGate, type TcpGate } from '@dcar/testing/tcp-gate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWN_ISSUER, signingKeyId } from '../src/auth/access-tokens.js';
import { DAILY, bearer, hs256Token, seedTenant } from './helpers.js';

/**
 * The API as its own process (main.ts), started while Redis refuses connections or accepts them
 * and never answers: it starts, answers /healthz, says 503 on /readyz and a clean 5xx where a
 * request needs Redis, each within 5 s.
 */
let env: TestEnvironment;
const children: ChildProcess[] = [];
const gates: TcpGate[] = [];
const timings: Record<string, Record<string, number>> = {};

beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(async () => {
  console.log(`seconds to answer: ${JSON.stringify(timings)}`);
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(gates.map((gate) => gate.close()));
  await env?.close();
});

async function startApi(redisUrl: string): Promise<{ address: string; child: ChildProcess; output: () => string }> {
  const { command, args } = sourceCommand('api');
  const child = spawn(command, args, {
    cwd: REPOSITORY_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env.env, REDIS_URL: redisUrl, LOG_LEVEL: 'info', API_PORT: '0', API_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const listening = await waitFor(
    () => {
      const line = output.split('\n').find((candidate) => candidate.includes('"msg":"api listening"'));
      if (line) return JSON.parse(line) as { address: string };
      if (child.exitCode !== null) throw new Error(`api exited ${child.exitCode}: ${output}`);
      return undefined;
    },
    { timeoutMs: 45_000, what: 'the api to listen' },
  );
  return { address: listening.address, child, output: () => output };
}

async function timed(scenario: string, name: string, request: () => Promise<Response>): Promise<Response> {
  const started = performance.now();
  try {
    return await request();
  } finally {
    (timings[scenario] ??= {})[name] = Math.round(performance.now() - started) / 1000;
  }
}

describe.each([
  ['refuses connections', 'drop' as const],
  ['accepts connections and never answers', 'hang' as const],
])('an API started while Redis %s', (_what, whileClosed) => {
  it('starts, answers /healthz, 503 on /readyz and a clean 5xx where it needs Redis', async () => {
    const target = new URL(TEST_REDIS_URL);
    const gate = await startTcpGate({ host: target.hostname, port: Number(target.port || 6379) }, { whileClosed });
    gates.push(gate);
    const api = await startApi(`redis://127.0.0.1:${gate.port}`);
    const address = api.address;
    const tenant = `down-${whileClosed}`;
    const { clientId } = await seedTenant(env.knex, tenant);
    const token = hs256Token(
      { alg: 'HS256', kid: signingKeyId(env.config.auth.signingKey) },
      { iss: OWN_ISSUER, sub: clientId, tenant_id: tenant, scope: 'dataservice_external', exp: Math.floor(Date.now() / 1000) + 600 },
      env.config.auth.signingKey,
    );
    const bound = { signal: AbortSignal.timeout(20_000) };

    expect((await timed(whileClosed, 'healthz', () => fetch(`${address}/healthz`, bound))).status).toBe(200);
    const ready = await timed(whileClosed, 'readyz', () => fetch(`${address}/readyz`, bound));
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { redis: 'unavailable' } });
    const daily = await timed(whileClosed, 'daily', () => fetch(`${address}${DAILY}/${previousUtcDay(new Date())}`, { ...bound, headers: bearer(token) }));
    expect(daily.status).toBe(500);
    expect(await daily.json()).toEqual({ error: 'Internal server error.' });
    const tokenAnswer = await timed(whileClosed, 'token', () =>
      fetch(`${address}/connect/token`, {
        ...bound,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: 'wrong' }).toString(),
      }),
    );
    // A wrong secret is refused without the failure count, or the count's store fails the request: an answer either way.
    expect([401, 500]).toContain(tokenAnswer.status);
    expect(Object.keys((await tokenAnswer.json()) as object)).toEqual(['error']);

    // SIGTERM: a clean stop (exit 0), its Redis connection dropped rather than sent a QUIT that cannot be answered.
    const exited = new Promise<number | null>((resolve) => api.child.once('exit', (code) => resolve(code)));
    api.child.kill('SIGTERM');
    expect(await exited, api.output()).toBe(0);
  }, 90_000);
});
