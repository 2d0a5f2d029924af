import { createTestEnvironment, freePort, startService, waitFor, type ServiceProcess, type TestEnvironment } from '@dcar/testing';
import { startTcpGate, type TcpGate } from '@dcar/testing/tcp-gate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let env: TestEnvironment;
const processes: ServiceProcess[] = [];
const gates: TcpGate[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')));
  await Promise.all(gates.map((g) => g.close()));
  await env?.close();
});

const logLines = (service: ServiceProcess) =>
  service
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('scheduler /readyz', () => {
  it('answers 200 with its own PostgreSQL and Redis on the free port SCHEDULER_METRICS_PORT=0 took', async () => {
    const scheduler = startService('scheduler', { ...env.env, LOG_LEVEL: 'info', SCHEDULER_METRICS_PORT: '0', REPLICA_ID: 'scheduler-a' });
    processes.push(scheduler);
    const line = await waitFor(
      () => {
        if (scheduler.child.exitCode !== null) throw new Error(`scheduler exited: ${scheduler.output()}`);
        return logLines(scheduler).find((l) => l.msg === 'scheduler started');
      },
      { what: 'the scheduler to start', timeoutMs: 60_000 },
    );
    expect(line).toMatchObject({ level: 'info', replica: 'scheduler-a', metricsPort: expect.any(Number) as number });
    const ready = await fetch(`http://127.0.0.1:${String(line.metricsPort)}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { postgres: 'ok', redis: 'ok' } }]);
  });

  it('started while Redis is away: answers /healthz, names redis on /readyz, logs only JSON lines, and starts once Redis is there', async () => {
    const redisUrl = new URL(env.env.REDIS_URL!);
    const gate = await startTcpGate({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    gates.push(gate);
    redisUrl.port = String(gate.port);
    const port = await freePort();
    const scheduler = startService('scheduler', { ...env.env, LOG_LEVEL: 'info', REDIS_URL: redisUrl.toString(), SCHEDULER_METRICS_PORT: String(port) });
    processes.push(scheduler);
    const base = `http://127.0.0.1:${String(port)}`;
    const notReady = await waitFor(
      async () => {
        if (scheduler.child.exitCode !== null) throw new Error(`scheduler exited: ${scheduler.output()}`);
        const answer = await fetch(`${base}/readyz`).catch(() => null);
        return answer ? { status: answer.status, body: await answer.json() } : undefined;
      },
      { what: '/readyz of a scheduler waiting for Redis', timeoutMs: 60_000 },
    );
    expect(notReady).toEqual({ status: 503, body: { status: 'unavailable', checks: { postgres: 'ok', redis: 'unavailable' } } });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // Scrapes answer too, without the queue figures Redis would give (bounded: the abort is the failure).
    const scrape = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(30_000) });
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('dcar_archive_hours{status="failed"');
    // Reconnection attempts were made meanwhile: each is a JSON log line, never a raw stack trace.
    await waitFor(() => logLines(scheduler).some((l) => l.msg === 'redis connection error; reconnecting'), { what: 'a reconnection line', timeoutMs: 30_000 });

    gate.open();
    await waitFor(() => logLines(scheduler).some((l) => l.msg === 'scheduler started'), {
      what: 'the scheduler to start once Redis is there',
      timeoutMs: 60_000,
    });
    // Its other connections reconnect on their own backoff: ready once the probe's connection is back.
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200 || undefined, { what: '/readyz 200 once Redis is back', timeoutMs: 60_000 });
    const output = scheduler.output().trim().split('\n');
    expect(output.filter((line) => !line.startsWith('{'))).toEqual([]);
  });
});
