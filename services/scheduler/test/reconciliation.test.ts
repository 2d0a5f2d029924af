import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { findArchiveRow, insertArchiveRows } from '@dcar/archives/test-fixtures';
import { addUtcDays, hourWindow, utcDayOf, type ArchiveMetadata } from '@dcar/domain';
import { putTenant, setDailyAudioFeature } from '@dcar/host';
import { QueueNames, createLogger, createRedisConnection } from '@dcar/platform';
import { createRunQueues, getRunReport, reconcile, startRun, type ReconciledHour, type RunEngineDeps, type RunQueues, type RunReport } from '@dcar/runs';
import { createTestEnvironment, REPOSITORY_ROOT, sourceCommand, startService, waitFor, type ServiceProcess, type TestEnvironment } from '@dcar/testing';
import { archiveMetadataOf, readZipFile } from '@dcar/testing/archive';
import { seedConversationAudio, type SeedRow } from '@dcar/testing/seed';
import { startS3FaultProxy, type S3FaultProxy } from '@dcar/testing/s3-fault-proxy';
import { startWebhookReceiver, type WebhookReceiver } from '@dcar/testing/webhook-receiver';
import { createSecretBox, putWebhook, systemResolveHost } from '@dcar/webhooks';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Reconciliation (CONTRACT §3.3) with a real worker transcoding real audio and real schedulers:
// rows arrive late, disappear or change size after their hour was archived, and a pass regenerates
// exactly those hours, as a run of their own, through the same rounds and workers.
let env: TestEnvironment;
let proxy: S3FaultProxy;
let connection: Redis;
let queues: RunQueues;
let deps: RunEngineDeps;
let receiver: WebhookReceiver;
const processes: ServiceProcess[] = [];
const TENANT = 'alpha';
const day = addUtcDays(utcDayOf(new Date()), -1);
const olderDay = addUtcDays(utcDayOf(new Date()), -2);
const unreachable = new Set<string>();
let nextMessageId = 1000;

function output(): string {
  return processes.map((p) => p.output()).join('\n');
}

function row(utcDay: string, hour: number, minute: number, extra: Partial<SeedRow> = {}): SeedRow {
  const messageId = nextMessageId++;
  return {
    externalConversationId: `conv-${hour}`,
    sessionId: 'session-1',
    messageId,
    type: 'agent_tts',
    recordedAt: new Date(hourWindow(utcDay as never, hour).start.getTime() + minute * 60_000),
    format: 'wav_pcm',
    seconds: 1,
    ...extra,
  };
}

async function seed(rows: SeedRow[]) {
  return seedConversationAudio({ knex: env.knex, s3: env.s3, bucket: env.config.s3.sourceBucket, tenantId: TENANT, rows });
}

async function finishedRun(runId: string): Promise<RunReport> {
  return waitFor(
    async () => {
      const report = await getRunReport(env.knex, runId);
      return report?.finishedAt ? report : undefined;
    },
    { timeoutMs: 60_000, what: `run ${runId} to finish; services said:\n${output()}` },
  );
}

async function hourRow(utcDay: string, hour: number) {
  const found = await findArchiveRow(env.knex, { tenantId: TENANT, utcDay, hour });
  if (!found) throw new Error(`no archive row for ${utcDay} ${hour}`);
  return found;
}

async function storedObject(key: string): Promise<{ sha256: string; metadata: ArchiveMetadata }> {
  const object = await env.s3.send(new GetObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key }));
  const bytes = Buffer.from(await object.Body!.transformToByteArray());
  const directory = await mkdtemp(join(tmpdir(), 'reconcile-test-'));
  try {
    await writeFile(join(directory, 'a.zip'), bytes);
    return { sha256: createHash('sha256').update(bytes).digest('hex'), metadata: archiveMetadataOf(await readZipFile(join(directory, 'a.zip'))) };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function objectVersion(key: string): Promise<string | null> {
  try {
    const head = await env.s3.send(new HeadObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key }));
    return `${head.ETag}/${head.LastModified?.toISOString()}`;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
    throw error;
  }
}

function admin(args: string[]) {
  const { command, args: commandArgs } = sourceCommand('admin', args);
  return promisify(execFile)(command, commandArgs, { cwd: REPOSITORY_ROOT, env: { PATH: process.env.PATH ?? '', ...env.env } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** What `pnpm admin reconcile --wait` prints. */
interface PassOutput {
  checkedHours: number;
  changedHours: ReconciledHour[];
  retriedHours: ReconciledHour[];
  runId: string;
  state: string;
  failedHours: unknown[];
}

interface RegeneratedEvent {
  type: string;
  data: { hour: string } & Record<string, unknown>;
}

/** The hours of the day, as `HH`, that the pass said changed. */
function changedOf(result: { changedHours: Array<{ tenantId: string; utcDay: string; hour: string }> }, utcDay = day): string[] {
  return result.changedHours.filter((h) => h.tenantId === TENANT && h.utcDay === utcDay).map((h) => h.hour);
}

beforeAll(async () => {
  env = await createTestEnvironment({ WEBHOOK_ALLOW_INSECURE: 'true' });
  proxy = await startS3FaultProxy(env.config.s3.endpoint);
  const sourcePrefix = `/${env.config.s3.sourceBucket}/`;
  proxy.failWhen = ({ path }) => path.startsWith(sourcePrefix) && unreachable.has(path.slice(sourcePrefix.length));

  await putTenant(env.knex, TENANT, { name: TENANT });
  await setDailyAudioFeature(env.knex, TENANT, { enabled: true, retentionDays: 3 });
  receiver = await startWebhookReceiver();
  const logger = createLogger({ service: 'test', level: 'silent' });
  await putWebhook(
    { db: env.knex, secrets: createSecretBox(env.config.webhooks.secretKey), policy: { allowInsecure: true }, resolveHost: systemResolveHost, logger },
    TENANT,
    { url: `${receiver.url}/${TENANT}` },
  );
  // Hours 3 and 7 get two rows, 15 and 20 one each; the older day one row at 05.
  await seed([row(day, 3, 1), row(day, 3, 2), row(day, 7, 1), row(day, 7, 2), row(day, 15, 1), row(day, 20, 1), row(olderDay, 5, 1)]);

  connection = createRedisConnection(env.config.redis.url, 'consumer');
  queues = createRunQueues(connection, env.redisPrefix);
  deps = { db: env.knex, queues, logger, now: () => new Date() };
  // The pass runs from the test here (its schedule never fires), except in the replicas' test.
  const serviceEnv = {
    ...env.env,
    LOG_LEVEL: 'warn',
    WORKER_METRICS_PORT: '0',
    SCHEDULER_METRICS_PORT: '0',
    WORKER_CONCURRENCY: '2',
    TRANSCODE_CONCURRENCY: '1',
    RECONCILE_CRON: '0 0 1 1 *',
  };
  processes.push(startService('scheduler', serviceEnv));
  processes.push(startService('worker', { ...serviceEnv, S3_ENDPOINT: proxy.endpoint }));

  for (const utcDay of [olderDay, day]) {
    const { runId } = await startRun(deps, { utcDay, trigger: 'manual' });
    expect((await finishedRun(runId)).state).toBe('completed');
  }
});

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.kill('SIGKILL')));
  await queues?.close();
  connection?.disconnect();
  await receiver?.close();
  await proxy?.close();
  await env?.close();
});

describe('reconciliation', () => {
  it('leaves an unchanged day alone: nothing is rewritten, no run is created', async () => {
    const before = await hourRow(day, 3);
    const version = await objectVersion(before.object_key!);
    expect(before.revision).toBe(1);

    const result = await reconcile(deps, { trigger: 'manual' });
    // Two days within retention, 24 hours each, all compared.
    expect(result).toEqual({ checkedHours: 48, changedHours: [], retriedHours: [], runId: null });

    const after = await hourRow(day, 3);
    expect(after).toMatchObject({ sha256: before.sha256, generated_at: before.generated_at, revision: 1, attempts: before.attempts });
    expect(await objectVersion(before.object_key!)).toBe(version);
  });

  it('regenerates a late row, a row in a no_data hour, a removed row, all rows gone and a changed size, and nothing else', async () => {
    const before = new Map<number, Awaited<ReturnType<typeof hourRow>>>();
    for (const hour of [3, 7, 10, 15, 20, 21]) before.set(hour, await hourRow(day, hour));
    const untouchedVersion = await objectVersion(before.get(3)!.object_key!);
    expect(before.get(10)?.status).toBe('no_data');

    await seed([row(day, 3, 30)]); // late row in an archived hour
    await seed([row(day, 10, 5)]); // a row in a no_data hour
    const [removed]: Array<{ id: number }> = await env
      .knex('conversation_audio_files')
      .where({ tenant_id: TENANT })
      .whereRaw("extract(hour from recorded_at at time zone 'UTC') = 7")
      .orderBy('id')
      .limit(1)
      .select('id');
    await env.knex('conversation_audio_files').where({ id: removed!.id }).delete(); // one of two rows removed
    await env.knex('conversation_audio_files').where({ tenant_id: TENANT }).whereRaw("extract(hour from recorded_at at time zone 'UTC') = 15").delete(); // every row gone
    await env
      .knex('conversation_audio_files')
      .where({ tenant_id: TENANT })
      .whereRaw("extract(hour from recorded_at at time zone 'UTC') = 20")
      .update({ size_bytes: 12_345 }); // a corrected size

    const waited = await admin(['reconcile', '--wait']);
    expect(waited.code, `${waited.stderr}\n${output()}`).toBe(0);
    const summary = JSON.parse(waited.stdout) as PassOutput;
    expect(summary).toMatchObject({ checkedHours: 48, retriedHours: [], state: 'completed' });
    expect(changedOf(summary)).toEqual(['03', '07', '10', '15', '20']);
    expect(summary.changedHours).toHaveLength(5);
    expect(summary.runId).toMatch(/^reconcile-manual-/);

    const report = (await getRunReport(env.knex, summary.runId))!;
    expect(report).toMatchObject({ kind: 'reconcile', trigger: 'manual', utcDay: day, tenantCount: 1, jobCount: 5 });
    expect(report.hours.map((h) => `${h.utcDay}/${h.hour}/${h.status}`)).toEqual([
      `${day}/03/available`,
      `${day}/07/available`,
      `${day}/10/available`,
      `${day}/15/no_data`,
      `${day}/20/available`,
    ]);
    expect(report.counts).toMatchObject({ available: 4, no_data: 1, failed: 0 });
    expect(await queues.archiveHour.getJob(`${summary.runId}.${TENANT}.${day}.03.r1`)).toBeDefined();

    const late = await hourRow(day, 3);
    expect(late).toMatchObject({ status: 'available', revision: 2, file_count: 3, last_run_id: summary.runId });
    expect(late.sha256).not.toBe(before.get(3)!.sha256);
    expect(late.object_key).toBe(before.get(3)!.object_key);
    const stored = await storedObject(late.object_key!);
    expect(stored.sha256).toBe(late.sha256);
    expect(stored.metadata).toMatchObject({ revision: 2, totalFiles: 3 });
    expect(await objectVersion(late.object_key!)).not.toBe(untouchedVersion);

    expect(await hourRow(day, 7)).toMatchObject({ status: 'available', revision: 2, file_count: 1 });
    const noDataBefore = await hourRow(day, 10);
    expect(noDataBefore).toMatchObject({ status: 'available', revision: 2, file_count: 1 });
    expect((await storedObject(noDataBefore.object_key!)).metadata.revision).toBe(2);
    const gone = await hourRow(day, 15);
    expect(gone).toMatchObject({ status: 'no_data', revision: 2, file_count: 0, object_key: null, sha256: null });
    expect(await objectVersion(before.get(15)!.object_key!)).toBeNull();
    const resized = await hourRow(day, 20);
    expect(resized).toMatchObject({ status: 'available', revision: 2 });
    expect((await storedObject(resized.object_key!)).metadata.sessions[0]?.files[0]?.originalSizeBytes).toBe(12_345);
    // An hour without change kept its archive as it was.
    expect(await hourRow(day, 21)).toMatchObject({ status: 'no_data', revision: 1, generated_at: before.get(21)!.generated_at });

    // hour.regenerated, once per regenerated hour, with the new revision, file count and sha256.
    const events = await waitFor(
      () => {
        const regenerated = receiver.received
          .map((r) => JSON.parse(r.body) as RegeneratedEvent)
          .filter((b) => b.type === 'daily_audio_recordings.hour.regenerated');
        return regenerated.length >= 5 ? regenerated : undefined;
      },
      { timeoutMs: 30_000, what: `five hour.regenerated deliveries; services said:\n${output()}` },
    );
    expect(events.map((e) => e.data.hour).sort()).toEqual(['03', '07', '10', '15', '20']);
    expect(events.find((e) => e.data.hour === '03')?.data).toEqual({
      tenantId: TENANT,
      utcDay: day,
      hour: '03',
      revision: 2,
      fileCount: 3,
      sha256: late.sha256,
    });
    expect(events.find((e) => e.data.hour === '15')?.data).toEqual({ tenantId: TENANT, utcDay: day, hour: '15', revision: 2, fileCount: 0, sha256: null });

    // The next pass finds nothing left to do.
    expect(await reconcile(deps, { trigger: 'manual' })).toMatchObject({ changedHours: [], retriedHours: [], runId: null });
  });

  it('retries a failed hour, and a regeneration that failed is retried by the next pass while the old archive stays', async () => {
    await insertArchiveRows(
      env.knex,
      [{ tenant_id: TENANT, utc_day: day, hour: 12, status: 'failed', attempts: 3, last_error: 'Error: store unreachable', generated_at: null }],
      { replace: true },
    );
    const before = await hourRow(day, 3);
    const [late] = await seed([row(day, 3, 40)]);
    unreachable.add(late!.storagePath);

    const failing = await admin(['reconcile', '--tenant', TENANT, '--day', day, '--wait']);
    expect(failing.code, failing.stderr).toBe(1);
    const summary = JSON.parse(failing.stdout) as PassOutput;
    expect(summary).toMatchObject({ checkedHours: 24, state: 'completed_with_failures' });
    expect(changedOf(summary)).toEqual(['03']);
    expect(summary.retriedHours).toEqual([{ tenantId: TENANT, utcDay: day, hour: '12' }]);
    expect(summary.failedHours).toEqual([{ tenantId: TENANT, utcDay: day, hour: '03', error: expect.any(String) as string }]);
    expect(await hourRow(day, 12)).toMatchObject({ status: 'no_data', revision: 1 });
    // Three rounds failed: the archive in place stays available, readable and unchanged.
    const kept = await hourRow(day, 3);
    expect(kept).toMatchObject({ status: 'available', revision: before.revision, sha256: before.sha256, attempts: before.attempts + 3 });
    expect((await storedObject(kept.object_key!)).sha256).toBe(before.sha256);

    unreachable.clear();
    const retried = await reconcile(deps, { trigger: 'manual' });
    expect(changedOf(retried)).toEqual(['03']);
    expect((await finishedRun(retried.runId!)).state).toBe('completed');
    expect(await hourRow(day, 3)).toMatchObject({ status: 'available', revision: before.revision + 1, file_count: 4 });
  });

  it('refuses bad input with a clear message', async () => {
    const today = utcDayOf(new Date());
    await expect(reconcile(deps, { trigger: 'manual', utcDay: today })).rejects.toThrow(`utcDay must be a past day: ${today} has not ended yet`);
    await expect(reconcile(deps, { trigger: 'manual', tenantId: 'nobody' })).rejects.toThrow('tenant nobody not found');
    const usage = await admin(['reconcile', '--days', day]);
    expect(usage.code).toBe(2);
  });

  it('never regenerates a day past its retention', async () => {
    await seed([row(olderDay, 5, 30)]);
    await setDailyAudioFeature(env.knex, TENANT, { enabled: true, retentionDays: 1 });
    const before = await hourRow(olderDay, 5);

    const result = await reconcile(deps, { trigger: 'manual' });
    expect(result).toMatchObject({ checkedHours: 24, changedHours: [], runId: null });
    await expect(reconcile(deps, { trigger: 'manual', utcDay: olderDay, tenantId: TENANT })).rejects.toThrow(/older than tenant alpha's retention of 1 day/);
    expect(await hourRow(olderDay, 5)).toMatchObject({ revision: 1, sha256: before.sha256, generated_at: before.generated_at });
    await setDailyAudioFeature(env.knex, TENANT, { enabled: true, retentionDays: 3 });
  });

  it('with two scheduler replicas on RECONCILE_CRON, each due pass runs once and a changed hour is regenerated once', async () => {
    await Promise.all(processes.splice(0, 1).map((p) => p.kill()));
    const before = await hourRow(day, 20);
    await seed([row(day, 20, 45)]);
    const replicaEnv = { ...env.env, LOG_LEVEL: 'warn', SCHEDULER_METRICS_PORT: '0', RECONCILE_CRON: '*/2 * * * * *' };
    processes.push(startService('scheduler', replicaEnv), startService('scheduler', replicaEnv));

    // Several due passes go by: the first regenerates the hour, the ones after find nothing to do.
    const passes = await waitFor(
      async () => {
        const done = (await queues.maintenance.getJobs(['completed'], 0, -1)).filter((j) => j.name === 'reconcile');
        const regenerated = (await hourRow(day, 20)).revision > before.revision;
        return regenerated && done.length >= 4 ? done : undefined;
      },
      { timeoutMs: 60_000, what: `four scheduled passes and the hour regenerated; services said:\n${output()}` },
    );
    // One job per due instant, whichever replica ran it.
    const dueInstants = passes.map((j) => j.opts.prevMillis ?? j.timestamp);
    expect(new Set(dueInstants).size).toBe(dueInstants.length);
    const runs: Array<{ run_id: string }> = await env.knex('archive_run_hours').where({ tenant_id: TENANT, utc_day: day, hour: 20 }).select('run_id');
    const scheduledRuns = runs.map((r) => r.run_id).filter((id) => !id.startsWith('reconcile-manual-'));
    expect(scheduledRuns).toHaveLength(1);
    expect(scheduledRuns[0]).toMatch(/^reconcile-\d{8}T\d{6}Z$/);
    await finishedRun(scheduledRuns[0]!);
    expect(await hourRow(day, 20)).toMatchObject({ status: 'available', revision: before.revision + 1, file_count: 2 });
    expect(QueueNames.maintenance).toBe('maintenance');
  });
});
