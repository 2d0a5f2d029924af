import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { archiveKey, parseUtcDay } from '@dcar/domain';
import { archiveHourJobId, createRedisConnection, createS3Client, QueueNames, type ArchiveHourJobData, type ServerSideEncryption } from '@dcar/platform';
import { createTestEnvironment, REPOSITORY_ROOT, sourceCommand, waitFor, type TestEnvironment } from '@dcar/testing';
import { startS3FaultProxy, type FaultRequest, type S3FaultProxy } from '@dcar/testing/s3-fault-proxy';
import { seedConversationAudio } from '@dcar/testing/seed';
import type { S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startZipUpload } from '../src/zip-upload.js';
import { readZipObject } from './helpers.js';

// S3_SSE: the store must be asked to encrypt every archive. The embedded store ignores the
// headers, so the requests are observed on their way to it.

const KMS_KEY_ID = 'arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const DAY = parseUtcDay('2025-12-12')!;
const TENANT = 'tenant-sse';

let env: TestEnvironment;
let proxy: S3FaultProxy;
let throughProxy: S3Client;
let seen: FaultRequest[] = [];
const directories: string[] = [];
let connection: Redis | undefined;
let worker: ChildProcess | undefined;

beforeAll(async () => {
  env = await createTestEnvironment();
  proxy = await startS3FaultProxy(env.config.s3.endpoint);
  proxy.onRequest = (request) => seen.push(request);
  throughProxy = createS3Client({ ...env.config.s3, endpoint: proxy.endpoint });
});
afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    const exited = new Promise((resolve) => worker?.once('exit', resolve));
    worker.kill('SIGKILL');
    await exited;
  }
  connection?.disconnect();
  throughProxy?.destroy();
  await proxy?.close();
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  await env?.close();
});

/** The requests that create the object `key`: a single PUT, or CreateMultipartUpload (`POST ?uploads`). */
function creations(key: string): FaultRequest[] {
  const path = `/${env.config.s3.archiveBucket}/${key}`;
  return seen.filter((r) => r.path === path && ((r.method === 'PUT' && !r.query.has('partNumber')) || (r.method === 'POST' && r.query.has('uploads'))));
}

async function uploadZip(key: string, encryption: ServerSideEncryption | null, bytes: number): Promise<void> {
  const upload = startZipUpload({ s3: throughProxy, bucket: env.config.s3.archiveBucket, key, encryption, partSizeBytes: 5 * 1024 * 1024 });
  upload.zip.addBuffer(Buffer.alloc(bytes, 7), 'entry.bin', { compress: false });
  await upload.complete();
  const { entries, directory } = await readZipObject(env.s3, env.config.s3.archiveBucket, key);
  directories.push(directory);
  expect(entries[0]?.content.length).toBe(bytes);
}

describe('server-side encryption of archives', () => {
  it('asks for nothing when S3_SSE=none', async () => {
    seen = [];
    await uploadZip('none.zip', null, 1024);
    expect(creations('none.zip')).toHaveLength(1);
    expect(seen.filter((r) => 'x-amz-server-side-encryption' in r.headers)).toEqual([]);
  });

  it('sends AES256 on the single PUT of a small archive', async () => {
    seen = [];
    await uploadZip('aes.zip', { algorithm: 'AES256' }, 1024);
    const [put] = creations('aes.zip');
    expect(put).toMatchObject({ method: 'PUT' });
    expect(put?.headers['x-amz-server-side-encryption']).toBe('AES256');
    expect(put?.headers['x-amz-server-side-encryption-aws-kms-key-id']).toBeUndefined();
  });

  it('sends aws:kms and the key id on CreateMultipartUpload of a large archive', async () => {
    seen = [];
    await uploadZip('kms.zip', { algorithm: 'aws:kms', kmsKeyId: KMS_KEY_ID }, 12 * 1024 * 1024);
    const [create] = creations('kms.zip');
    expect(create).toMatchObject({ method: 'POST' });
    expect(create?.headers).toMatchObject({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': KMS_KEY_ID });
    expect(seen.filter((r) => r.query.has('partNumber')).length).toBeGreaterThanOrEqual(3);
  });

  it('a production worker, with no JWT key or host credentials in its environment, encrypts the archives it uploads', async () => {
    seen = [];
    await seedConversationAudio({
      knex: env.knex,
      s3: env.s3,
      bucket: env.config.s3.sourceBucket,
      tenantId: TENANT,
      rows: [1, 2].map((messageId) => ({
        externalConversationId: 'conv-sse',
        sessionId: 'session-1',
        messageId,
        type: 'user_audio',
        recordedAt: new Date(`${DAY}T09:00:0${messageId}Z`),
        format: 'wav_pcm' as const,
        sampleRate: 16000,
        seconds: 2,
        seed: messageId,
      })),
    });
    const workerEnv = {
      ...env.env,
      NODE_ENV: 'production',
      // The worker's own secret in production: the key its webhook deliveries decrypt with.
      WEBHOOK_SECRET_KEY: 'w'.repeat(40),
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: '0',
      S3_ENDPOINT: proxy.endpoint,
      S3_SSE: 'aws:kms',
      S3_SSE_KMS_KEY_ID: KMS_KEY_ID,
    };
    expect(Object.keys(workerEnv).filter((name) => /JWT|HOST_CLIENT/.test(name))).toEqual([]);
    const { command, args } = sourceCommand('worker');
    const child = spawn(command, args, { cwd: REPOSITORY_ROOT, env: { PATH: process.env.PATH ?? '', ...workerEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    worker = child;
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => (output.includes('"worker started"') ? true : child.exitCode !== null ? Promise.reject(new Error(output)) : undefined), {
      timeoutMs: 30_000,
      what: 'the worker to start',
    });
    expect(output).toContain('"archiveEncryption":"aws:kms"');

    connection = createRedisConnection(env.config.redis.url, 'producer');
    const queue = new Queue(QueueNames.archiveHour, { connection, prefix: env.config.redis.prefix });
    const data: ArchiveHourJobData = { runId: 'run-sse', tenantId: TENANT, utcDay: DAY, hour: 9, round: 1, force: false };
    await queue.add(QueueNames.archiveHour, data, { jobId: archiveHourJobId(data), attempts: 1 });
    await waitFor(
      async () => {
        const row = await env
          .knex<{ tenant_id: string; utc_day: string; hour: number; status: string }>('hourly_archives')
          .where({ tenant_id: TENANT, utc_day: DAY, hour: 9 })
          .first();
        return row?.status === 'available' ? row : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'the hour to be archived' },
    );
    await queue.close();

    const created = creations(archiveKey(TENANT, DAY, 9));
    expect(created).toHaveLength(1);
    expect(created[0]?.headers).toMatchObject({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': KMS_KEY_ID });
  }, 120_000);
});
