import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createLogger } from '@dcar/platform';
import { Registry } from 'prom-client';
import { createWorkerMetrics } from '../src/metrics.js';
import { createTenantHourArchiver, type TenantHourArchiverDeps } from '../src/archive-tenant-hour.js';
import { createTranscoder } from '../src/transcoder.js';
import type { TestEnvironment } from '@dcar/testing';
import { probeAudioFile, readZipFile, type ProbedAudio, type ZipEntry } from '@dcar/testing/archive';

export function archiverFor(env: TestEnvironment, overrides: Partial<TenantHourArchiverDeps> = {}) {
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry);
  const archiveTenantHour = createTenantHourArchiver({
    db: env.knex,
    s3: env.s3,
    buckets: { source: env.config.s3.sourceBucket, archive: env.config.s3.archiveBucket },
    logger: createLogger({ service: 'worker-test', level: 'silent' }),
    metrics,
    transcoder: createTranscoder(),
    now: () => new Date(),
    tempDirectory: tmpdir(),
    transcodeConcurrency: 2,
    ...overrides,
  });
  return { archiveTenantHour, registry, metrics };
}

export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

/** Downloads an object to a temp file and reads every entry of the ZIP, in central-directory order. */
export async function readZipObject(s3: S3Client, bucket: string, key: string): Promise<{ entries: ZipEntry[]; bytes: Buffer; directory: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'dcar-zip-test-'));
  const path = join(directory, 'archive.zip');
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await pipeline(response.Body as Readable, createWriteStream(path));
  return { entries: await readZipFile(path), bytes: await readFile(path), directory };
}

/** What ffprobe reads in `content`, written to `directory` for the probe. */
export async function probe(content: Buffer, directory: string, name = 'probe.opus'): Promise<ProbedAudio> {
  const path = join(directory, name);
  await writeFile(path, content);
  try {
    return await probeAudioFile(path);
  } finally {
    await rm(path, { force: true });
  }
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}
