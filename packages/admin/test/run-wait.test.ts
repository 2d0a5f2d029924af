import { execFile } from 'node:child_process';
import { insertArchiveRows } from '@dcar/archives/test-fixtures';
import { previousUtcDay } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection, type ArchiveHourJobData } from '@dcar/platform';
import { createRunQueues, processArchiveRunJob, type RunQueues } from '@dcar/runs';
import { createTestEnvironment, REPOSITORY_ROOT, sourceCommand, type TestEnvironment } from '@dcar/testing';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let env: TestEnvironment;
let connection: Redis;
let queues: RunQueues;
const closers: Array<() => Promise<unknown>> = [];
const day = previousUtcDay(new Date());

beforeAll(async () => {
  env = await createTestEnvironment();
  connection = createRedisConnection(env.config.redis.url, 'producer');
  queues = createRunQueues(connection, env.redisPrefix);
  for (const tenantId of ['alpha', 'beta']) {
    await putTenant(env.knex, tenantId, { name: tenantId });
    await setDailyAudioFeature(env.knex, tenantId, { enabled: true, retentionDays: 3 });
  }
});
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});
afterAll(async () => {
  await queues?.close();
  connection?.disconnect();
  await env?.close();
});

/** Runs the CLI as an operator would, in this file's database and Redis prefix, with stderr not a terminal. */
function admin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const { command, args: commandArgs } = sourceCommand('admin', args);
    execFile(command, commandArgs, { cwd: REPOSITORY_ROOT, env: { ...process.env, ...env.env, LOG_LEVEL: 'warn' } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The scheduler's part, in this process: the archive-run queue's rounds. */
function startRunEngine(): void {
  const workerConnection = createRedisConnection(env.config.redis.url, 'consumer');
  const deps = { db: env.knex, queues, logger: createLogger({ service: 'test', level: 'silent' }), now: () => new Date(), retryRoundDelayMs: 0 };
  const worker = new Worker(QueueNames.archiveRun, (job) => processArchiveRunJob(deps, job), {
    connection: workerConnection,
    prefix: env.redisPrefix,
    concurrency: 2,
  });
  closers.push(async () => {
    await worker.close();
    workerConnection.disconnect();
  });
}

/** The workers' part: every tenant-hour job completes, except `failOnce`'s hours in round 1. */
function startHourWorker(failOnce: (data: ArchiveHourJobData) => boolean): void {
  const workerConnection = createRedisConnection(env.config.redis.url, 'consumer');
  const worker = new Worker<ArchiveHourJobData>(
    QueueNames.archiveHour,
    (job) => {
      if (job.data.round === 1 && failOnce(job.data)) return Promise.reject(new Error('store unreachable'));
      return Promise.resolve({ status: 'available' });
    },
    { connection: workerConnection, prefix: env.redisPrefix, concurrency: 8 },
  );
  closers.push(async () => {
    await worker.close();
    workerConnection.disconnect();
  });
}

const stderrLines = (stderr: string) => stderr.trim().split('\n');

describe('pnpm admin run --wait', () => {
  it('warns that no scheduler consumes the runs, then gives up after --timeout with the run still going', async () => {
    const result = await admin(['run', day, '--tenant', 'alpha', '--wait', '--timeout', '3', '--stall-warning', '1']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = stderrLines(result.stderr);
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^warning: run manual-${day}-[0-9a-f]+ has not progressed for \\d+ s: no scheduler is consuming the archive-run queue with REDIS_PREFIX=${env.redisPrefix}: start one`,
        ),
      ),
    );
    const error = JSON.parse(lines.at(-1)!) as { error: string };
    expect(error.error).toMatch(
      new RegExp(
        `^run manual-${day}-[0-9a-f]+ did not finish within 3 s \\(queued, no round started\\); it carries on: follow it with pnpm admin runs --day ${day}$`,
      ),
    );
  });

  it('shows round 1 waiting and warns that no worker consumes the tenant-hours', async () => {
    startRunEngine();
    const result = await admin(['run', day, '--tenant', 'alpha', '--wait', '--timeout', '4', '--stall-warning', '2']);
    expect(result.code).toBe(1);
    const lines = stderrLines(result.stderr);
    expect(lines).toContain('round 1: 0/24 done, 0 failed');
    expect(lines).toContainEqual(expect.stringMatching(/has not progressed for \d+ s: no worker is consuming the archive-hour queue with REDIS_PREFIX=/));
    expect((JSON.parse(lines.at(-1)!) as { error: string }).error).toMatch(/did not finish within 4 s \(running, round 1: 0\/24 done, 0 failed\)/);
  });

  it('prints each round as it ends, then the run summary on stdout', async () => {
    startRunEngine();
    startHourWorker((data) => data.tenantId === 'beta' && data.hour < 2);
    const result = await admin(['run', day, '--tenant', 'alpha', '--tenant', 'beta', '--force', '--wait', '--timeout', '120']);
    expect(result.stderr).not.toContain('warning');
    expect(result.code).toBe(0);
    const lines = stderrLines(result.stderr);
    expect(lines).toContainEqual(expect.stringMatching(/^round 1: 46\/48 done, 2 failed(, [\d.]+ jobs\/s)? \(round over\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^round 2: 2\/2 done, 0 failed(, [\d.]+ jobs\/s)? \(round over\)$/));
    const summary = JSON.parse(result.stdout) as { state: string; rounds: Array<{ round: number; jobs: number; failed: number }> };
    expect(summary.state).toBe('completed');
    expect(summary.rounds.map((r) => [r.round, r.jobs, r.failed])).toEqual([
      [1, 48, 2],
      [2, 2, 0],
    ]);
    expect(summary).not.toHaveProperty('hours');
  });

  it('refuses --timeout without --wait, and a timeout that is not a positive number of seconds', async () => {
    for (const args of [
      ['run', day, '--timeout', '5'],
      ['run', day, '--wait', '--timeout', '0'],
    ]) {
      const result = await admin(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^error: --timeout (and --stall-warning need --wait|must be a whole number of seconds, at least 1)\nusage: pnpm admin run /,
      );
    }
  });
});

describe('pnpm admin runs', () => {
  it('lists the runs of a day, newest first, with their state; refuses a bad day', async () => {
    const result = await admin(['runs', '--day', day]);
    expect(result.code).toBe(0);
    const runs = JSON.parse(result.stdout) as Array<{ runId: string; utcDay: string; state: string; trigger: string; startedAt: string }>;
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(runs.every((run) => run.utcDay === day && run.trigger === 'manual')).toBe(true);
    expect(runs.map((run) => run.startedAt)).toEqual([...runs.map((run) => run.startedAt)].sort().reverse());
    expect(runs[0]).toMatchObject({ state: 'completed', force: true, tenantCount: 2, jobCount: 50 });
    expect(runs[0]).not.toHaveProperty('hours');

    expect(JSON.parse((await admin(['runs', '--day', '2020-02-30'])).stderr)).toEqual({
      error: "Invalid date format for 'utcDay'. Please use the format YYYY-MM-DD.",
    });
    expect(JSON.parse((await admin(['runs', '--day', '1999-01-01'])).stdout)).toEqual([]);
  });
});

describe('pnpm admin reconcile --wait', () => {
  it('warns that no scheduler consumes the runs, then gives up after --timeout instead of waiting forever', async () => {
    // An archived hour whose rows changed since: the pass regenerates it, as a run nobody carries out here.
    await insertArchiveRows(
      env.knex,
      [{ tenant_id: 'alpha', utc_day: day, hour: 4, status: 'no_data', generated_at: new Date(), source_file_count: 0, source_digest: '0' }],
      { replace: true },
    );
    await env.knex('conversation_audio_files').insert({
      tenant_id: 'alpha',
      external_conversation_id: 'conv',
      session_id: 's',
      message_id: 1,
      type: 'agent_tts',
      storage_path: 'alpha/late.wav',
      size_bytes: 100,
      recorded_at: new Date(`${day}T04:30:00Z`),
    });
    const result = await admin(['reconcile', '--tenant', 'alpha', '--wait', '--timeout', '3', '--stall-warning', '1']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = stderrLines(result.stderr);
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^warning: run reconcile-manual-[0-9a-f]+ has not progressed for \\d+ s: no scheduler is consuming the archive-run queue with REDIS_PREFIX=${env.redisPrefix}: start one`,
        ),
      ),
    );
    const error = JSON.parse(lines.at(-1)!) as { error: string };
    expect(error.error).toMatch(/^run reconcile-manual-[0-9a-f]+ did not finish within 3 s \(queued, no round started\); it carries on/);
  });

  it('refuses --timeout without --wait', async () => {
    const result = await admin(['reconcile', '--timeout', '5']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: --timeout and --stall-warning need --wait\nusage: pnpm admin reconcile /);
  });
});
