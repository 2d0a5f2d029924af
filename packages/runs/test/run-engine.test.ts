import { findArchiveRow } from '@dcar/archives/test-fixtures';
import { UserFacingError, addUtcDays, utcDayOf } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection, enqueueRoundJobId, type ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@dcar/testing';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunQueues,
  getRunReport,
  processArchiveRunJob,
  processNightly,
  startRun,
  type RoundEngineDeps,
  type RunQueues,
  type RunReport,
} from '../src/index.js';
import { startFakeArchiveWorker } from './fake-archive-worker.js';

let env: TestEnvironment;
let connection: Redis;
let queues: RunQueues;
let deps: RoundEngineDeps;
/** RETRY_ROUND_DELAY_SECONDS of these tests: 1 s. */
const RETRY_ROUND_DELAY_MS = 1000;
let runWorker: Worker;
let hourWorker: ReturnType<typeof startFakeArchiveWorker>;
const failing = new Set<string>();
const failInRoundOne = new Set<string>();

const today = utcDayOf(new Date());
const yesterday = addUtcDays(today, -1);

beforeAll(async () => {
  env = await createTestEnvironment();
  connection = createRedisConnection(env.config.redis.url, 'consumer');
  queues = createRunQueues(connection, env.redisPrefix);
  deps = { db: env.knex, queues, logger: createLogger({ service: 'test', level: 'silent' }), now: () => new Date(), retryRoundDelayMs: RETRY_ROUND_DELAY_MS };
  runWorker = new Worker(QueueNames.archiveRun, (job) => processArchiveRunJob(deps, job), {
    connection: createRedisConnection(env.config.redis.url, 'consumer'),
    prefix: env.redisPrefix,
    concurrency: 2,
  });
  hourWorker = startFakeArchiveWorker({
    db: env.knex,
    redisUrl: env.config.redis.url,
    prefix: env.redisPrefix,
    shouldFail: (data) => failing.has(`${data.tenantId}/${data.hour}`) || (data.round === 1 && failInRoundOne.has(data.tenantId)),
  });
  for (let i = 0; i < 30; i++) {
    const id = `t${String(i).padStart(2, '0')}`;
    await putTenant(env.knex, id, { name: id });
    await setDailyAudioFeature(env.knex, id, { enabled: true, retentionDays: 3 });
  }
  await putTenant(env.knex, 'disabled', { name: 'disabled' });
  await setDailyAudioFeature(env.knex, 'disabled', { enabled: false, retentionDays: 3 });
});

afterAll(async () => {
  await Promise.allSettled([runWorker?.close(), hourWorker?.close()]);
  await queues?.close();
  connection?.disconnect();
  await env?.close();
});

async function finished(runId: string): Promise<RunReport> {
  return waitFor(
    async () => {
      const report = await getRunReport(env.knex, runId);
      return report?.finishedAt ? report : undefined;
    },
    { timeoutMs: 45_000, what: `run ${runId} to finish` },
  );
}

async function rejection(promise: Promise<unknown>): Promise<UserFacingError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserFacingError);
  return error as UserFacingError;
}

describe('startRun validation', () => {
  it('refuses malformed days, unfinished days, unknown or disabled tenants and days beyond retention', async () => {
    const malformed = await rejection(startRun(deps, { utcDay: '2025-02-30', trigger: 'manual' }));
    expect([malformed.statusCode, malformed.message]).toEqual([400, "Invalid date format for 'utcDay'. Please use the format YYYY-MM-DD."]);

    const unfinished = await rejection(startRun(deps, { utcDay: today, trigger: 'manual' }));
    expect([unfinished.statusCode, unfinished.message]).toEqual([400, `utcDay must be a past day: ${today} has not ended yet`]);

    const unknown = await rejection(startRun(deps, { utcDay: yesterday, tenantIds: ['t00', 'nobody'], trigger: 'manual' }));
    expect([unknown.statusCode, unknown.message]).toEqual([404, 'tenant nobody not found']);

    const disabled = await rejection(startRun(deps, { utcDay: yesterday, tenantIds: ['disabled'], trigger: 'manual' }));
    expect([disabled.statusCode, disabled.message]).toEqual([400, 'the daily audio recordings feature is not enabled for tenant disabled']);

    const old = addUtcDays(today, -4);
    const beyond = await rejection(startRun(deps, { utcDay: old, tenantIds: ['t00'], trigger: 'manual' }));
    expect(beyond.statusCode).toBe(400);
    expect(beyond.message).toBe(
      `utcDay ${old} is older than tenant t00's retention of 3 day(s): the oldest day that can be generated is ${addUtcDays(today, -3)}`,
    );
    expect(await env.knex('archive_runs').count('* as n').first()).toEqual({ n: 0 });
  });
});

describe('a run', () => {
  it('retries failed tenant-hours in later rounds that start only after the previous round ended, and marks what fails three times', async () => {
    // 10 tenants fail all of round 1 (240 failed children: more than one page of a Redis hash scan);
    // one tenant-hour fails every time.
    for (let i = 0; i < 10; i++) failInRoundOne.add(`t${String(i).padStart(2, '0')}`);
    failing.add('t20/5');
    const day = addUtcDays(today, -2);
    const { runId, created } = await startRun(deps, { utcDay: day, trigger: 'manual' });
    expect(created).toBe(true);
    const report = await finished(runId);

    expect(report.state).toBe('completed_with_failures');
    expect(report.tenantCount).toBe(30);
    expect(report.rounds.map((r) => [r.round, r.jobs, r.failed])).toEqual([
      [1, 720, 241],
      [2, 241, 1],
      [3, 1, 1],
    ]);
    expect(report.jobCount).toBe(962);
    expect(report.counts).toEqual({ pending: 0, available: 719, no_data: 0, failed: 1, expired: 0 });
    const bad = report.hours.find((h) => h.tenantId === 't20' && h.hour === '05');
    expect(bad).toEqual({ tenantId: 't20', hour: '05', status: 'failed', attempts: 3, lastError: 'source store unreachable for t20 hour 5 round 3' });
    const flaky = report.hours.filter((h) => h.tenantId === 't03');
    expect(flaky.every((h) => h.status === 'available' && h.attempts === 2 && h.lastError === null)).toBe(true);
    expect(report.hours.filter((h) => h.tenantId === 't29').every((h) => h.attempts === 1)).toBe(true);

    // Round n+1's first job started RETRY_ROUND_DELAY_SECONDS after the last job of round n had
    // finished, held back by a BullMQ delayed job (no process slept through the wait).
    const jobsOf = async (round: number) =>
      (await queues.archiveHour.getJobs(['completed', 'failed'], 0, -1)).filter(
        (job: Job<ArchiveHourJobData>) => job.data.runId === runId && job.data.round === round,
      );
    const [r1, r2, r3] = await Promise.all([jobsOf(1), jobsOf(2), jobsOf(3)]);
    expect([r1.length, r2.length, r3.length]).toEqual([720, 241, 1]);
    const lastFinished = (jobs: Job[]) => Math.max(...jobs.map((j) => j.finishedOn ?? Infinity));
    const firstStarted = (jobs: Job[]) => Math.min(...jobs.map((j) => j.processedOn ?? -Infinity));
    expect(firstStarted(r2)).toBeGreaterThanOrEqual(lastFinished(r1) + RETRY_ROUND_DELAY_MS);
    expect(firstStarted(r3)).toBeGreaterThanOrEqual(lastFinished(r2) + RETRY_ROUND_DELAY_MS);
    for (const round of [2, 3]) {
      const ended = Date.parse(report.rounds[round - 2]!.finishedAt!);
      expect(Date.parse(report.rounds[round - 1]!.startedAt)).toBeGreaterThanOrEqual(ended + RETRY_ROUND_DELAY_MS);
      const enqueue = await queues.archiveRun.getJob(enqueueRoundJobId(runId, round));
      expect(enqueue?.opts.delay).toBe(RETRY_ROUND_DELAY_MS);
    }
    expect((await queues.archiveRun.getJob(enqueueRoundJobId(runId, 1)))?.opts.delay ?? 0).toBe(0);
    failInRoundOne.clear();
    failing.clear();
  });

  it('gives one nightly run per day however often it is triggered, and skips available hours unless forced', async () => {
    const day = addUtcDays(today, -1);
    const first = await startRun(deps, { utcDay: day, trigger: 'nightly' });
    const again = await Promise.all([startRun(deps, { utcDay: day, trigger: 'nightly' }), startRun(deps, { utcDay: day, trigger: 'nightly' })]);
    expect(first).toEqual({ runId: `nightly-${day}`, created: true });
    expect(again).toEqual([
      { runId: `nightly-${day}`, created: false },
      { runId: `nightly-${day}`, created: false },
    ]);
    const nightly = await finished(first.runId);
    expect(nightly.rounds.map((r) => r.jobs)).toEqual([720]);
    expect(nightly.state).toBe('completed');
    expect(await env.knex('archive_runs').where({ utc_day: day }).count('* as n').first()).toEqual({ n: 1 });

    const rerun = await finished((await startRun(deps, { utcDay: day, tenantIds: ['t01'], trigger: 'manual' })).runId);
    expect(rerun.rounds.map((r) => r.jobs)).toEqual([0]);
    expect(rerun.hours.every((h) => h.status === 'available' && h.attempts === 1)).toBe(true);

    const before = await findArchiveRow(env.knex, { tenantId: 't01', utcDay: day, hour: 0 });
    const forced = await finished((await startRun(deps, { utcDay: day, tenantIds: ['t01'], force: true, trigger: 'manual' })).runId);
    expect(forced.rounds.map((r) => r.jobs)).toEqual([24]);
    expect(forced.hours.every((h) => h.status === 'available' && h.attempts === 2)).toBe(true);
    const after = await findArchiveRow(env.knex, { tenantId: 't01', utcDay: day, hour: 0 });
    expect(after?.last_run_id).toBe(forced.runId);
    expect(after?.generated_at?.getTime()).toBeGreaterThan(before!.generated_at!.getTime());
  });
});

describe('a run report while a round runs', () => {
  it('gives the round’s job count as soon as the round is enqueued, before any job ended', async () => {
    // Queues no worker consumes: the round's jobs stay waiting while the report is read.
    const idleQueues = createRunQueues(connection, `${env.redisPrefix}-idle`);
    const idle: RoundEngineDeps = { ...deps, queues: idleQueues };
    try {
      const { runId } = await startRun(idle, { utcDay: yesterday, tenantIds: ['t20', 't21'], trigger: 'manual', force: true });
      await processArchiveRunJob(idle, { name: 'enqueue-round', id: 'enqueue', data: { runId, round: 1 } } as Job);
      const report = await getRunReport(env.knex, runId);
      expect(report).toMatchObject({ state: 'running', round: 1, finishedAt: null });
      expect(report?.rounds).toEqual([{ round: 1, jobs: 48, failed: null, startedAt: expect.any(String) as string, finishedAt: null }]);
      expect(await idleQueues.archiveHour.getWaitingCount()).toBe(48);
    } finally {
      await idleQueues.close();
    }
  });
});

describe('nightly trigger', () => {
  it('archives the day before the job was scheduled, even when it runs a day late', async () => {
    const scheduledFor = Date.parse('2025-12-13T00:15:00Z');
    const lateDeps = { ...deps, now: () => new Date('2025-12-14T09:00:00Z') };
    const job = { opts: { prevMillis: scheduledFor }, timestamp: scheduledFor - 60_000, delay: 60_000, data: {} } as unknown as Job<Record<string, never>>;
    expect(await processNightly(lateDeps, job)).toEqual({ runId: 'nightly-2025-12-12', created: true });
    expect(await processNightly(lateDeps, job)).toEqual({ runId: 'nightly-2025-12-12', created: false });
    const run = await env
      .knex<{ id: string; utc_day: string; trigger: string; tenant_count: number }>('archive_runs')
      .where({ id: 'nightly-2025-12-12' })
      .first('utc_day', 'trigger', 'tenant_count');
    expect(run).toEqual({ utc_day: '2025-12-12', trigger: 'nightly', tenant_count: 30 });
    await finished('nightly-2025-12-12');
  });
});
