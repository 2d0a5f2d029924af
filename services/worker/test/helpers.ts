import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createLogger } from '@dcar/platform';
import { Registry } from 'prom-client';
import yauzl from 'yauzl';
import { createWorkerMetrics } from '../src/metrics.js';
import { createArchiveHourProcessor, type ArchiveHourDeps } from '../src/processor.js';
import { createTranscoder } from '../src/transcoder.js';
import type { TestEnvironment } from '@dcar/testing';

const run = promisify(execFile);

export function processorFor(env: TestEnvironment, overrides: Partial<ArchiveHourDeps> = {}) {
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry);
  const processor = createArchiveHourProcessor({
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
  return { processor, registry, metrics };
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

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  compressionMethod: number;
  content: Buffer;
}

/** Downloads an object to a temp file and reads every entry of the ZIP, in central-directory order. */
export async function readZipObject(s3: S3Client, bucket: string, key: string): Promise<{ entries: ZipEntry[]; bytes: Buffer; directory: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'dcar-zip-test-'));
  const path = join(directory, 'archive.zip');
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await pipeline(response.Body as Readable, createWriteStream(path));
  const zip = await yauzl.openPromise(path, { lazyEntries: true });
  const entries: ZipEntry[] = [];
  for await (const entry of zip.eachEntry()) {
    const stream = await zip.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    entries.push({ name: entry.fileName, compressionMethod: entry.compressionMethod, content: Buffer.concat(chunks) });
  }
  zip.close();
  return { entries, bytes: await readFile(path), directory };
}

export interface ProbedAudio {
  formatName: string;
  codecName: string;
  channels: number;
  sampleRate: number;
  durationSeconds: number;
  bitRate: number;
}

/** What ffprobe (JSON output) reads in a file. */
export async function probe(content: Buffer, directory: string, name = 'probe.opus'): Promise<ProbedAudio> {
  const path = join(directory, name);
  await writeFile(path, content);
  try {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,channels,sample_rate:format=format_name,duration,bit_rate', '-of', 'json', path]);
    const parsed = JSON.parse(stdout) as {
      streams: { codec_name: string; channels: number; sample_rate: string }[];
      format: { format_name: string; duration: string; bit_rate: string };
    };
    const stream = parsed.streams[0];
    if (!stream || parsed.streams.length !== 1) throw new Error(`expected one stream, got ${parsed.streams.length}`);
    return {
      formatName: parsed.format.format_name,
      codecName: stream.codec_name,
      channels: stream.channels,
      sampleRate: Number(stream.sample_rate),
      durationSeconds: Number(parsed.format.duration),
      bitRate: Number(parsed.format.bit_rate),
    };
  } finally {
    await rm(path, { force: true });
  }
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}
