import { createTestEnvironment, startService, waitFor, type ServiceProcess, type TestEnvironment } from '@dcar/testing';
import { startTcpGate, type TcpGate } from '@dcar/testing/tcp-gate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let env: TestEnvironment;
let gate: TcpGate;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
  // PostgreSQL behind a gate the test can shut, as a database going away would look.
  const database = new URL(env.env.DATABASE_URL!);
  gate = await startTcpGate({ host: database.hostname, port: Number(database.port || 5432) });
  gate.open();
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')));
  await gate?.close();
  await env?.close();
});

function start(extra: Record<string, string>): ServiceProcess {
  const database = new URL(env.env.DATABASE_URL!);
  database.port = String(gate.port);
  const service = startService('worker', { ...env.env, LOG_LEVEL: 'info', DATABASE_URL: database.toString(), ...extra });
  processes.push(service);
  return service;
}

function logLines(service: ServiceProcess): Array<Record<string, unknown>> {
  return service
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function started(service: ServiceProcess): Promise<number> {
  const line = await waitFor(
    () => {
      if (service.child.exitCode !== null) throw new Error(`worker exited: ${service.output()}`);
      return logLines(service).find((l) => l.msg === 'worker started');
    },
    { what: 'the worker to start', timeoutMs: 60_000 },
  );
  return line.metricsPort as number;
}

describe('worker /readyz and its metrics port', () => {
  it('takes a free port with WORKER_METRICS_PORT=0; a second replica on a taken port stops with one line; /readyz follows PostgreSQL', async () => {
    const first = start({ WORKER_METRICS_PORT: '0' });
    const port = await started(first);
    expect(port).toBeGreaterThan(0);

    // Ready once its connections are up: Redis may still be connecting when it logs that it started.
    const ready = await waitFor(
      async () => {
        const answer = await fetch(`http://127.0.0.1:${port}/readyz`);
        return answer.status === 200 ? await answer.json() : undefined;
      },
      { what: 'the worker to be ready', timeoutMs: 30_000 },
    );
    expect(ready).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', store: 'ok' } });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    // Two replicas on one host, the same port: the second says so in one line and exits 1.
    const second = start({ WORKER_METRICS_PORT: String(port) });
    expect(await second.exited).toBe(1);
    const output = second.output().trim().split('\n');
    expect(output).toHaveLength(1);
    expect(JSON.parse(output[0]!)).toMatchObject({
      level: 'fatal',
      code: 'EADDRINUSE',
      msg: `worker could not start: metrics port ${port} on 0.0.0.0 is already in use (another replica on this host?): set WORKER_METRICS_PORT to a free port, or 0 for any free one`,
    });

    // PostgreSQL goes away: 503 naming it, within the health check's 5 s.
    await gate.close();
    const down = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) });
    expect([down.status, await down.json()]).toEqual([503, { status: 'unavailable', checks: { postgres: 'unavailable', redis: 'ok', store: 'ok' } }]);
    expect(logLines(first)).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'readiness check failed', dependency: 'postgres' }));
  });
});
