import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { findArchiveRow } from '@dcar/archives/test-fixtures';
import { archiveKey, parseUtcDay } from '@dcar/domain';
import { archiveHourJobId, createRedisConnection, QueueNames, type ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, REPOSITORY_ROOT, sourceCommand, waitFor, type TestEnvironment } from '@dcar/testing';
import { seedConversationAudio, type SeedRow } from '@dcar/testing/seed';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { startTcpGate } from '@dcar/testing/tcp-gate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectExists, readZipObject } from './helpers.js';

const DAY = parseUtcDay('2025-12-12')!;
const TENANT = 'tenant-proc';

interface RunningWorker {
  child: ChildProcess;
  logs: { msg?: string; level?: string; [field: string]: unknown }[];
  exited: Promise<number | null>;
  stderr(): string;
}

let env: TestEnvironment;
let queue: Queue;
let connection: Redis;
const workers: RunningWorker[] = [];
const directories: string[] = [];

function startWorker(overrides: Record<string, string> = {}): RunningWorker {
  const { command, args } = sourceCommand('worker');
  const child = spawn(command, args, {
    cwd: REPOSITORY_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env.env, ...overrides },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const worker: RunningWorker = {
    child,
    stderr: () => '',
    logs: [],
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  let pending = '';
  let errors = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (errors += chunk));
  worker.stderr = () => errors;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('{')) worker.logs.push(JSON.parse(line) as RunningWorker['logs'][number]);
    }
  });
  workers.push(worker);
  return worker;
}

const logged = (worker: RunningWorker, msg: string) => () => (worker.logs.some((line) => line.msg === msg) ? true : undefined);

function speechHour(hour: number, clips: number, seconds = 30): SeedRow[] {
  return Array.from({ length: clips }, (_, i) => ({
    externalConversationId: 'conv-speech',
    sessionId: 'session-1',
    messageId: hour * 1000 + i,
    type: i % 2 ? 'user_audio' : 'agent_tts',
    recordedAt: new Date(Date.parse(`${DAY}T${String(hour).padStart(2, '0')}:10:00Z`) + i * 1000),
    format: 'wav_pcm' as const,
    sampleRate: 16000,
    seconds,
    seed: 1,
  }));
}

async function enqueue(hour: number): Promise<string> {
  const data: ArchiveHourJobData = { runId: 'run-p', tenantId: TENANT, utcDay: DAY, hour, round: 1, force: false };
  const jobId = archiveHourJobId(data);
  await queue.add(QueueNames.archiveHour, data, { jobId, attempts: 1 });
  return jobId;
}

async function archiveStatus(hour: number): Promise<string | undefined> {
  const row = await findArchiveRow(env.knex, { tenantId: TENANT, utcDay: DAY, hour });
  return row?.status;
}

beforeAll(async () => {
  env = await createTestEnvironment({
    LOG_LEVEL: 'debug',
    WORKER_METRICS_PORT: '0',
    WORKER_CONCURRENCY: '1',
    TRANSCODE_CONCURRENCY: '2',
    SHUTDOWN_TIMEOUT_MS: '6000',
  });
  connection = createRedisConnection(env.config.redis.url, 'producer');
  queue = new Queue(QueueNames.archiveHour, { connection, prefix: env.config.redis.prefix });
  const bigBlob = Buffer.alloc(6 * 1024 * 1024);
  await seedConversationAudio({
    knex: env.knex,
    s3: env.s3,
    bucket: env.config.s3.sourceBucket,
    tenantId: TENANT,
    rows: [
      // Two undecodable 6 MiB originals first: they are stored as they are, so the ZIP passes the
      // first 8 MiB part while the speech after them is still being transcoded.
      ...[1, 2].map((messageId) => ({
        externalConversationId: 'conv-a-blobs',
        sessionId: 'session-1',
        messageId,
        type: 'user_audio',
        recordedAt: new Date(`${DAY}T10:00:0${messageId}Z`),
        format: 'wav_pcm' as const,
        seconds: 1,
        content: bigBlob,
        storagePath: `${TENANT}/project/conversations/conv-a-blobs/session-1/${messageId}_user_audio.bin`,
      })),
      ...speechHour(10, 40),
      // Long enough to outlast the 1 s grace period on a fast machine (~9 CPU s of encoding), short
      // enough that a fresh worker finishes it on a machine busy with other test files.
      ...speechHour(11, 20, 20),
      // Short enough to finish within the 1 s grace period even on a busy machine.
      ...speechHour(12, 2, 3),
      ...speechHour(13, 2, 3),
    ],
  });
});

afterAll(async () => {
  for (const worker of workers) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  }
  await Promise.all(workers.map((worker) => worker.exited));
  await queue?.close();
  connection?.disconnect();
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  await env?.close();
});

describe('worker processes', () => {
  it('a worker killed mid-upload leaves no object, and its job completes on another worker', async () => {
    const key = archiveKey(TENANT, DAY, 10);
    const first = startWorker();
    await waitFor(logged(first, 'worker started'), { timeoutMs: 20_000, what: 'first worker to start' });
    const jobId = await enqueue(10);
    await waitFor(logged(first, 'archive part uploaded'), { timeoutMs: 90_000, intervalMs: 10, what: 'the first part of the ZIP to be uploaded' });
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await objectExists(env.s3, env.config.s3.archiveBucket, key)).toBe(false);
    expect(await archiveStatus(10)).not.toBe('available');

    const second = startWorker();
    // Stalled-job recovery: the dead worker's lock expires (15 s) and the next stalled check (10 s) requeues it.
    await waitFor(async () => ((await archiveStatus(10)) === 'available' ? true : undefined), {
      timeoutMs: 150_000,
      intervalMs: 250,
      what: 'the job to complete on the second worker',
    });
    expect(await (await queue.getJob(jobId))?.getState()).toBe('completed');
    const { entries, directory } = await readZipObject(env.s3, env.config.s3.archiveBucket, key);
    directories.push(directory);
    expect(entries).toHaveLength(43);
    expect(entries[0]).toMatchObject({ name: 'conv-a-blobs/session-1/message_1_user_audio.bin', compressionMethod: 0 });
    expect(entries[0]?.content.length).toBe(6 * 1024 * 1024);
    expect(entries.filter((entry) => entry.name.endsWith('.opus'))).toHaveLength(40);
    expect(second.logs.some((line) => line.msg === 'tenant-hour done' && line.jobId === jobId)).toBe(true);
  }, 300_000);

  it('on SIGTERM a worker hands its running job back past the grace period and exits; the job then completes elsewhere', async () => {
    const running = workers.at(-1)!;
    const jobId = await enqueue(11);
    await waitFor(async () => ((await (await queue.getJob(jobId))?.getState()) === 'active' ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the job to start',
    });
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.logs.some((line) => line.msg === 'jobs still running after the grace period, handing them back')).toBe(true);
    expect(await (await queue.getJob(jobId))?.getState()).toBe('waiting');
    expect(await archiveStatus(11)).not.toBe('available');
    expect(await objectExists(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, 11))).toBe(false);

    startWorker();
    await waitFor(async () => ((await archiveStatus(11)) === 'available' ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: 'the handed-back job to complete',
    });
    expect(await (await queue.getJob(jobId))?.getState()).toBe('completed');
    const row = await findArchiveRow(env.knex, { tenantId: TENANT, utcDay: DAY, hour: 11 });
    // The interrupted run was not an attempt that failed.
    expect(row).toMatchObject({ status: 'available', attempts: 1, last_error: null, file_count: 20 });
  }, 180_000);

  it('on SIGTERM a worker lets a job that ends within the grace period finish, then exits', async () => {
    const running = workers.at(-1)!;
    await waitFor(logged(running, 'worker started'), { timeoutMs: 20_000, what: 'the worker to start' });
    const jobId = await enqueue(12);
    await waitFor(
      async () => {
        const state = await (await queue.getJob(jobId))?.getState();
        return state === 'active' || state === 'completed' ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 10, what: 'the job to start' },
    );
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(await (await queue.getJob(jobId))?.getState()).toBe('completed');
    expect(await archiveStatus(12)).toBe('available');
    expect(running.logs.some((line) => line.msg === 'jobs still running after the grace period, handing them back')).toBe(false);
  }, 60_000);

  it('a worker started while the store does not answer logs one line, keeps trying, and takes its jobs once the store is back', async () => {
    // Only this test's worker may take the job: the earlier tests' workers are done.
    for (const worker of workers) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    }
    await Promise.all(workers.map((worker) => worker.exited));
    const store = new URL(env.config.s3.endpoint);
    const gate = await startTcpGate({ host: store.hostname, port: Number(store.port) }, { whileClosed: 'hang' });
    try {
      const stuck = startWorker({ S3_ENDPOINT: `http://127.0.0.1:${gate.port}`, S3_CONNECT_TIMEOUT_MS: '500', S3_REQUEST_TIMEOUT_MS: '500' });
      const jobId = await enqueue(13);
      await waitFor(logged(stuck, 'object store not reachable; retrying until it is'), {
        timeoutMs: 30_000,
        what: 'the worker to say the store is not reachable',
      });
      // Further attempts fail quietly (debug), and the process neither exits nor takes the job.
      await waitFor(() => (stuck.logs.filter((line) => line.msg === 'object store still not reachable').length >= 2 ? true : undefined), {
        timeoutMs: 30_000,
        what: 'two more attempts',
      });
      expect(stuck.child.exitCode).toBeNull();
      expect(await (await queue.getJob(jobId))?.getState()).toBe('waiting');
      expect(stuck.logs.filter((line) => ['warn', 'error', 'fatal'].includes(line.level ?? '')).map((line) => line.msg)).toEqual([
        'object store not reachable; retrying until it is',
      ]);
      expect(stuck.stderr()).toBe('');

      gate.open();
      await waitFor(async () => ((await archiveStatus(13)) === 'available' ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 250,
        what: 'the job to complete once the store answers',
      });
      expect(stuck.logs.some((line) => line.msg === 'object store reachable')).toBe(true);
      stuck.child.kill('SIGTERM');
      expect(await stuck.exited).toBe(0);
    } finally {
      await gate.close();
    }
  }, 120_000);
});
