import { createTestEnvironment, freePort, startService, waitFor, type ServiceProcess, type TestEnvironment } from '@dcar/testing';
import { startTcpGate, type TcpGate } from '@dcar/testing/tcp-gate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * SIGTERM while a dependency is away or stuck: the worker and the scheduler stop cleanly (exit 0,
 * "shut down") instead of waiting on a Redis or PostgreSQL that never answers until their shutdown
 * budget runs out and they exit 1.
 */
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

async function gateFor(url: string, defaultPort: number): Promise<{ gate: TcpGate; url: string }> {
  const target = new URL(url);
  const gate = await startTcpGate({ host: target.hostname, port: Number(target.port || defaultPort) });
  gate.open();
  gates.push(gate);
  target.port = String(gate.port);
  return { gate, url: target.toString() };
}

describe.each([
  ['worker', 'redis', 'away'],
  ['worker', 'redis', 'stuck'],
  ['worker', 'postgres', 'stuck'],
  ['scheduler', 'redis', 'away'],
  ['scheduler', 'redis', 'stuck'],
  ['scheduler', 'postgres', 'stuck'],
] as const)('a %s whose %s is %s', (service, dependency, state) => {
  it('stops on SIGTERM with exit code 0', async () => {
    const redis = await gateFor(env.env.REDIS_URL!, 6379);
    const postgres = await gateFor(env.env.DATABASE_URL!, 5432);
    const port = await freePort();
    const child = startService(service, {
      ...env.env,
      LOG_LEVEL: 'info',
      REDIS_URL: redis.url,
      DATABASE_URL: postgres.url,
      WORKER_METRICS_PORT: String(port),
      SCHEDULER_METRICS_PORT: String(port),
      // Far longer than a clean stop needs: reaching it is the failure this test looks for.
      SHUTDOWN_TIMEOUT_MS: '60000',
    });
    processes.push(child);
    await waitFor(
      async () => {
        if (child.child.exitCode !== null) throw new Error(`${service} exited: ${child.output()}`);
        const answer = await fetch(`http://127.0.0.1:${String(port)}/readyz`).catch(() => null);
        return answer?.status === 200 || undefined;
      },
      { what: `the ${service} to be ready`, timeoutMs: 60_000 },
    );
    const gate = dependency === 'redis' ? redis.gate : postgres.gate;
    if (state === 'away') await gate.close();
    else gate.freeze();
    await waitFor(
      async () => {
        const answer = await fetch(`http://127.0.0.1:${String(port)}/readyz`);
        return answer.status === 503 || undefined;
      },
      { what: `the ${service} to notice`, timeoutMs: 60_000 },
    );

    const code = await child.kill('SIGTERM');
    expect(code, child.output()).toBe(0);
    expect(child.output()).toContain('"msg":"shut down"');
    expect(child.output()).not.toContain('shutdown timed out');
  }, 150_000);
});

describe.each(['away', 'stuck'] as const)('a scheduler started while its redis is %s', (state) => {
  it('stops on SIGTERM with exit code 0 before it ever started', async () => {
    const redis = await gateFor(env.env.REDIS_URL!, 6379);
    if (state === 'away') await redis.gate.close();
    else redis.gate.freeze();
    const port = await freePort();
    const child = startService('scheduler', {
      ...env.env,
      LOG_LEVEL: 'info',
      REDIS_URL: redis.url,
      SCHEDULER_METRICS_PORT: String(port),
      SHUTDOWN_TIMEOUT_MS: '60000',
    });
    processes.push(child);
    // Up (healthz) and waiting on Redis: readyz names it.
    await waitFor(
      async () => {
        if (child.child.exitCode !== null) throw new Error(`scheduler exited: ${child.output()}`);
        const answer = await fetch(`http://127.0.0.1:${String(port)}/readyz`).catch(() => null);
        return answer?.status === 503 || undefined;
      },
      { what: 'the scheduler to answer /readyz while it waits for Redis', timeoutMs: 60_000 },
    );

    const code = await child.kill('SIGTERM');
    expect(code, child.output()).toBe(0);
    expect(child.output()).toContain('"msg":"shut down"');
    expect(child.output()).not.toContain('scheduler started');
  }, 150_000);
});
