import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { findArchiveRow, findArchiveRows } from '@dcar/archives/test-fixtures';
import { addUtcDays, hourWindow, utcDayOf } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection, roundParentJobId, type ArchiveHourJobData } from '@dcar/platform';
import { createRunQueues, getRunReport, startRun, type RunEngineDeps, type RunQueues, type RunReport } from '@dcar/runs';
import { createTestEnvironment, REPOSITORY_ROOT, sourceCommand, startService, waitFor, type ServiceProcess, type TestEnvironment } from '@dcar/testing';
import { seedConversationAudio } from '@dcar/testing/seed';
import { startS3FaultProxy, type S3FaultProxy } from '@dcar/testing/s3-fault-proxy';
import { QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The whole run machinery with real worker processes transcoding real audio through an S3 store
// that, via a fault proxy, is unreachable for one tenant during round 1 and for one tenant-hour always.
let env: TestEnvironment;
let proxy: S3FaultProxy;
let connection: Redis;
let queues: RunQueues;
let deps: RunEngineDeps;
let roundEvents: QueueEvents;
const processes: ServiceProcess[] = [];
const day = addUtcDays(utcDayOf(new Date()), -1);
const TENANTS = ['alpha', 'bravo', 'charlie'];
const HOURS_WITH_AUDIO = [3, 7, 15];
const alwaysUnreachable = new Set<string>();
let bravoUnreachable = true;

function output(): string {
  return processes.map((p) => p.output()).join('\n');
}

async function finishedRun(runId: string): Promise<RunReport> {
  return waitFor(
    async () => {
      const report = await getRunReport(env.knex, runId);
      return report?.finishedAt ? report : undefined;
    },
    { timeoutMs: 50_000, what: `run ${runId} to finish; services said:\n${output()}` },
  );
}

async function storedSha256(key: string): Promise<string> {
  const object = await env.s3.send(new GetObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key }));
  return createHash('sha256')
    .update(await object.Body!.transformToByteArray())
    .digest('hex');
}

beforeAll(async () => {
  env = await createTestEnvironment();
  proxy = await startS3FaultProxy(env.config.s3.endpoint);
  const sourcePrefix = `/${env.config.s3.sourceBucket}/`;
  proxy.failWhen = ({ path }) =>
    path.startsWith(sourcePrefix) && ((bravoUnreachable && path.startsWith(`${sourcePrefix}bravo/`)) || alwaysUnreachable.has(path.slice(sourcePrefix.length)));

  for (const tenantId of TENANTS) {
    await putTenant(env.knex, tenantId, { name: tenantId });
    await setDailyAudioFeature(env.knex, tenantId, { enabled: true, retentionDays: 3 });
    const seeded = await seedConversationAudio({
      knex: env.knex,
      s3: env.s3,
      bucket: env.config.s3.sourceBucket,
      tenantId,
      rows: HOURS_WITH_AUDIO.flatMap((hour) =>
        [0, 1].map((i) => ({
          externalConversationId: `conv-${hour}`,
          sessionId: 'session-1',
          messageId: hour * 10 + i,
          type: i === 0 ? 'agent_tts' : 'user_audio',
          recordedAt: new Date(hourWindow(day, hour).start.getTime() + i * 60_000),
          format: i === 0 ? ('wav_pcm' as const) : ('wav_mulaw' as const),
          seconds: 2,
        })),
      ),
    });
    if (tenantId === 'charlie') {
      for (const row of seeded.filter((r) => r.recordedAt.getUTCHours() === 7)) alwaysUnreachable.add(row.storagePath);
    }
  }

  connection = createRedisConnection(env.config.redis.url, 'consumer');
  queues = createRunQueues(connection, env.redisPrefix);
  deps = { db: env.knex, queues, logger: createLogger({ service: 'test', level: 'silent' }), now: () => new Date() };
  // The store comes back for bravo the moment round 1 is over (its parent starts), before round 2 is enqueued.
  roundEvents = new QueueEvents(QueueNames.archiveRun, { connection: createRedisConnection(env.config.redis.url, 'consumer'), prefix: env.redisPrefix });
  roundEvents.on('active', ({ jobId }) => {
    if (jobId.endsWith('.round-1')) bravoUnreachable = false;
  });
  await roundEvents.waitUntilReady();

  const serviceEnv = {
    ...env.env,
    LOG_LEVEL: 'warn',
    WORKER_METRICS_PORT: '0',
    SCHEDULER_METRICS_PORT: '0',
    WORKER_CONCURRENCY: '2',
    TRANSCODE_CONCURRENCY: '1',
  };
  processes.push(startService('scheduler', serviceEnv));
  for (let i = 0; i < 2; i++) processes.push(startService('worker', { ...serviceEnv, S3_ENDPOINT: proxy.endpoint }));
});

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.kill('SIGKILL')));
  await roundEvents?.close();
  await queues?.close();
  connection?.disconnect();
  await proxy?.close();
  await env?.close();
});

describe('rounds with real workers', () => {
  let firstRun: RunReport;

  it('retries an unreachable tenant after every round-1 job finished, and marks an always-failing hour failed after three attempts', async () => {
    const { runId } = await startRun(deps, { utcDay: day, trigger: 'manual' });
    firstRun = await finishedRun(runId);

    expect(firstRun.state).toBe('completed_with_failures');
    expect(firstRun.rounds.map((r) => [r.round, r.jobs, r.failed])).toEqual([
      [1, 72, 4],
      [2, 4, 1],
      [3, 1, 1],
    ]);
    expect(firstRun.counts).toEqual({ pending: 0, available: 8, no_data: 63, failed: 1, expired: 0 });
    const hour = (tenantId: string, h: string) => firstRun.hours.find((x) => x.tenantId === tenantId && x.hour === h);
    expect(hour('charlie', '07')).toMatchObject({ status: 'failed', attempts: 3 });
    expect(hour('charlie', '07')?.lastError).toBeTruthy();
    expect(firstRun.failedHours).toEqual([{ tenantId: 'charlie', hour: '07', error: expect.any(String) as string }]);
    for (const h of ['03', '07', '15']) {
      expect(hour('bravo', h)).toEqual({ tenantId: 'bravo', hour: h, status: 'available', attempts: 2, lastError: null });
      expect(hour('alpha', h)).toEqual({ tenantId: 'alpha', hour: h, status: 'available', attempts: 1, lastError: null });
    }
    expect(hour('bravo', '00')).toEqual({ tenantId: 'bravo', hour: '00', status: 'no_data', attempts: 1, lastError: null });

    const jobs = (await queues.archiveHour.getJobs(['completed', 'failed'], 0, -1)) as Array<Job<ArchiveHourJobData>>;
    const ofRound = (round: number) => jobs.filter((j) => j.data.runId === runId && j.data.round === round);
    const [r1, r2, r3] = [ofRound(1), ofRound(2), ofRound(3)];
    expect([r1.length, r2.length, r3.length]).toEqual([72, 4, 1]);
    const lastFinished = (js: Job[]) => Math.max(...js.map((j) => j.finishedOn ?? Infinity));
    const firstStarted = (js: Job[]) => Math.min(...js.map((j) => j.processedOn ?? -Infinity));
    expect(firstStarted(r2)).toBeGreaterThanOrEqual(lastFinished(r1));
    expect(firstStarted(r3)).toBeGreaterThanOrEqual(lastFinished(r2));
    expect(r2.map((j) => `${j.data.tenantId}/${j.data.hour}`).sort()).toEqual(['bravo/15', 'bravo/3', 'bravo/7', 'charlie/7']);
    expect(await queues.archiveRun.getJob(roundParentJobId(runId, 3))).toBeDefined();

    // The archive in the store is the one the row describes.
    const row = await findArchiveRow(env.knex, { tenantId: 'bravo', utcDay: day, hour: 7 });
    expect(await storedSha256(row?.object_key ?? '')).toBe(row?.sha256);
  });

  it('replaces the archives on a forced re-run', async () => {
    alwaysUnreachable.clear();
    const before = await findArchiveRows(env.knex, { tenantId: 'alpha', utcDay: day, hours: HOURS_WITH_AUDIO });
    const { runId } = await startRun(deps, { utcDay: day, tenantIds: ['alpha', 'charlie'], force: true, trigger: 'manual' });
    const forced = await finishedRun(runId);
    expect(forced.state).toBe('completed');
    expect(forced.rounds.map((r) => [r.jobs, r.failed])).toEqual([[48, 0]]);
    expect(forced.hours.find((h) => h.tenantId === 'charlie' && h.hour === '07')).toMatchObject({ status: 'available', attempts: 4, lastError: null });

    const after = await findArchiveRows(env.knex, { tenantId: 'alpha', utcDay: day, hours: HOURS_WITH_AUDIO });
    for (const [i, row] of after.entries()) {
      const old = before[i];
      expect(row.last_run_id).toBe(runId);
      expect(row.generated_at!.getTime()).toBeGreaterThan(old!.generated_at!.getTime());
      expect(row.sha256).not.toBe(old!.sha256);
      expect(await storedSha256(row.object_key!)).toBe(row.sha256);
    }
  });

  it('runs from `pnpm admin run --wait`, printing the summary and exiting non-zero when an hour failed', async () => {
    const hour7 = await env
      .knex<{ tenant_id: string; storage_path: string }>('conversation_audio_files')
      .where({ tenant_id: 'alpha' })
      .whereRaw("extract(hour from recorded_at at time zone 'UTC') = 7")
      .select('storage_path');
    for (const row of hour7) alwaysUnreachable.add(row.storage_path);
    const admin = (args: string[]) => {
      const { command, args: commandArgs } = sourceCommand('admin', args);
      return promisify(execFile)(command, commandArgs, {
        cwd: REPOSITORY_ROOT,
        env: { PATH: process.env.PATH ?? '', ...env.env },
      }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    };

    const today = utcDayOf(new Date());
    const refused = await admin(['run', today]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr.trim().split('\n').pop() ?? '')).toEqual({ error: `utcDay must be a past day: ${today} has not ended yet` });

    const waited = await admin(['run', day, '--tenant', 'alpha', '--force', '--wait']);
    expect(waited.code).toBe(1);
    const summary = JSON.parse(waited.stdout) as Omit<RunReport, 'hours'> & { hours?: unknown };
    expect(summary).toMatchObject({ utcDay: day, trigger: 'manual', force: true, state: 'completed_with_failures', tenantCount: 1 });
    expect(summary.counts).toEqual({ pending: 0, available: 3, no_data: 21, failed: 0, expired: 0 });
    expect(summary.rounds.map((r) => [r.jobs, r.failed])).toEqual([
      [24, 1],
      [1, 1],
      [1, 1],
    ]);
    expect(summary.failedHours).toEqual([{ tenantId: 'alpha', hour: '07', error: expect.any(String) as string }]);
    expect(summary.hours).toBeUndefined();
    // The archive from the earlier run stays available: a failed re-generation never removes one.
    expect((await findArchiveRow(env.knex, { tenantId: 'alpha', utcDay: day, hour: 7 }))?.status).toEqual('available');
  });
});
