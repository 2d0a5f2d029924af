import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordResult } from '@dcar/archives';
import { addUtcDays, utcDayOf, type UtcDay } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection, type ArchiveHourJobData } from '@dcar/platform';
import { createRunQueues, getRunReport, startRun, type RunQueues, type RunReport } from '@dcar/runs';
import { createTestEnvironment, freePort, startService, waitFor, type ServiceProcess, type TestEnvironment } from '@dcar/testing';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A Redis of this test's own (persisting to an append-only file, as production's does), so it can
// be restarted in the middle of a run without disturbing anyone else.
let redisDirectory: string;
let redisPort: number;
let redisServer: ChildProcess | null = null;
let env: TestEnvironment;
let connection: Redis;
let queues: RunQueues;
let hourWorker: Worker<ArchiveHourJobData>;
let scheduler: ServiceProcess;
let releaseHeldJobs: () => void = () => undefined;
const held = new Promise<void>((resolve) => (releaseHeldJobs = resolve));
let active = 0;

async function startRedis(): Promise<void> {
  redisServer = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--dir',
      redisDirectory,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
    ],
    {
      stdio: 'ignore',
    },
  );
  await waitFor(
    async () => {
      const probe = new Redis(redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG' ? true : undefined;
      } finally {
        probe.disconnect();
      }
    },
    { what: 'redis to accept connections' },
  );
}

async function stopRedis(): Promise<void> {
  const server = redisServer;
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  redisDirectory = mkdtempSync(join(tmpdir(), 'dcar-redis-'));
  redisPort = await freePort();
  await startRedis();
  env = await createTestEnvironment({ REDIS_URL: `redis://127.0.0.1:${redisPort}` });
  for (const id of ['one', 'two', 'three']) {
    await putTenant(env.knex, id, { name: id });
    await setDailyAudioFeature(env.knex, id, { enabled: true, retentionDays: 3 });
  }
  connection = createRedisConnection(env.config.redis.url, 'consumer');
  queues = createRunQueues(connection, env.redisPrefix);
  const workerConnection = createRedisConnection(env.config.redis.url, 'consumer');
  hourWorker = new Worker<ArchiveHourJobData>(
    QueueNames.archiveHour,
    async (job) => {
      active += 1;
      await held;
      const { tenantId, utcDay, hour, runId } = job.data;
      await recordResult(env.knex, { tenantId, utcDay: utcDay as UtcDay, hour }, { status: 'no_data' }, { runId, generatedAt: new Date() });
    },
    { connection: workerConnection, prefix: env.redisPrefix, concurrency: 4 },
  );
  // Connection errors while Redis is down are expected; what matters is that everything reconnects.
  for (const emitter of [hourWorker, connection, workerConnection]) emitter.on('error', () => undefined);
  scheduler = startService('scheduler', { ...env.env, LOG_LEVEL: 'warn', SCHEDULER_METRICS_PORT: '0' });
});

afterAll(async () => {
  await scheduler?.kill('SIGKILL');
  releaseHeldJobs();
  await hourWorker?.close(true);
  await queues?.close();
  connection?.disconnect();
  await env?.close();
  await stopRedis();
  rmSync(redisDirectory, { recursive: true, force: true });
});

describe('a Redis restart in the middle of a run', () => {
  it('is survived: the scheduler and workers reconnect and the run finishes with every hour done once', async () => {
    const utcDay = addUtcDays(utcDayOf(new Date()), -1);
    const { runId } = await startRun(
      { db: env.knex, queues, logger: createLogger({ service: 'test', level: 'silent' }), now: () => new Date() },
      { utcDay, trigger: 'manual' },
    );
    await waitFor(() => (active === 4 ? true : undefined), { what: 'the first hour jobs to be running' });

    await stopRedis();
    await startRedis();
    releaseHeldJobs();

    const report = await waitFor<RunReport>(
      async () => {
        const r = await getRunReport(env.knex, runId);
        return r?.finishedAt ? r : undefined;
      },
      { timeoutMs: 45_000, what: `the run to finish after the restart; scheduler said:\n${scheduler.output()}` },
    );
    expect(report.state).toBe('completed');
    expect(report.rounds.map((r) => [r.round, r.jobs, r.failed])).toEqual([[1, 72, 0]]);
    expect(report.counts).toEqual({ pending: 0, available: 0, no_data: 72, failed: 0, expired: 0 });
    expect(report.hours.every((h) => h.attempts === 1)).toBe(true);
    expect(scheduler.child.exitCode).toBeNull();
  });
});
