import { setMaxListeners } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { serializeArchiveMetadata } from '@dcar/domain';
import type { Logger } from '@dcar/platform';
import { deferred, Semaphore } from './concurrency.js';
import { buildMetadata, countSessions, EntryNamer, type ArchivedFile, type SourceFile } from './layout.js';
import type { WorkerMetrics } from './metrics.js';
import type { TranscodeItem, Transcoder } from './transcoder.js';
import { startZipUpload, type UploadedArchive } from './zip-upload.js';

export interface BatchLimits {
  /** Most inputs per ffmpeg process. */
  maxFiles: number;
  /** Sum of the inputs' sizes per process: a long recording gets a process of its own. */
  maxBytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxFiles: 16, maxBytes: 8 * 1024 * 1024 };

/**
 * Consecutive runs of files (indices into `files`) to transcode together, in order. Starting an
 * ffmpeg costs tens of milliseconds of CPU, as much as encoding seconds of speech, so short clips
 * share a process; but the batches shrink towards the end of the hour (to about a quarter of what
 * is left per transcode slot) so every slot runs until the end instead of one finishing a long
 * last batch alone.
 */
export function planBatches(files: readonly Pick<SourceFile, 'sizeBytes'>[], limits: BatchLimits, parallelism: number): number[][] {
  const batches: number[][] = [];
  let next = 0;
  while (next < files.length) {
    const remaining = files.length - next;
    const target = Math.max(1, Math.min(limits.maxFiles, Math.ceil(remaining / (parallelism * 4))));
    const batch = [next];
    let bytes = files[next]?.sizeBytes ?? 0;
    for (next++; next < files.length && batch.length < target; next++) {
      const size = files[next]?.sizeBytes ?? 0;
      if (bytes + size > limits.maxBytes) break;
      batch.push(next);
      bytes += size;
    }
    batches.push(batch);
  }
  return batches;
}

type FileOutcome =
  | { status: 'missing' }
  | { status: 'converted' | 'unconvertible'; path: string; sizeBytes: number };

type Fetched = { kind: 'missing' } | { kind: 'present'; path: string; bytes: number };

function isMissingObject(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  // A missing bucket is a configuration error of the whole system, never a missing file.
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || $metadata?.httpStatusCode === 404;
}

export interface BuildArchiveOptions {
  files: readonly SourceFile[];
  s3: S3Client;
  sourceBucket: string;
  archiveBucket: string;
  key: string;
  transcoder: Transcoder;
  metrics: WorkerMetrics;
  logger: Logger;
  /** The job's own empty directory; the caller removes it. */
  workDirectory: string;
  transcodeConcurrency: number;
  downloadConcurrency: number;
  batchLimits: BatchLimits;
  partSizeBytes?: number;
  generatedAt: Date;
  utcDay: string;
  hour: number;
  signal: AbortSignal;
}

export interface BuiltArchive extends UploadedArchive {
  files: ArchivedFile[];
  sessionCount: number;
}

/**
 * Downloads, transcodes, zips and uploads one hour in a single pass with bounded memory and disk:
 * batches of consecutive files are downloaded to disk and transcoded (up to `transcodeConcurrency`
 * ffmpeg processes) ahead of the ZIP writer, which adds entries strictly in row order and deletes
 * each spooled file once it is in the ZIP. At most a window of files sits between the two, so a
 * slow upload holds back the downloads instead of filling the disk. `metadata.json` goes last,
 * when every file's status is known. Any error (store, network, disk, abort) aborts the upload:
 * no object appears, and the error is rethrown.
 */
export async function buildArchive(options: BuildArchiveOptions): Promise<BuiltArchive> {
  const { files, s3, metrics, logger } = options;
  const abort = new AbortController();
  const forwardAbort = () => abort.abort(options.signal.reason);
  if (options.signal.aborted) forwardAbort();
  options.signal.addEventListener('abort', forwardAbort, { once: true });
  const signal = abort.signal;
  // Every queued download, transcode and window wait listens to this one signal.
  setMaxListeners(0, signal);

  const upload = startZipUpload({
    s3,
    bucket: options.archiveBucket,
    key: options.key,
    ...(options.partSizeBytes ? { partSizeBytes: options.partSizeBytes } : {}),
    onPartUploaded: (part, bytesSoFar) => logger.debug({ part, bytesSoFar }, 'archive part uploaded'),
  });
  const windowFiles = Math.max(16, options.batchLimits.maxFiles * options.transcodeConcurrency * 3);
  const window = new Semaphore(windowFiles);
  const ffmpegSlots = new Semaphore(options.transcodeConcurrency);
  const downloadSlots = new Semaphore(options.downloadConcurrency);
  const outcomes = files.map(() => deferred<FileOutcome>());
  const running = new Set<Promise<void>>();

  const fetchSource = async (index: number): Promise<Fetched> => {
    const source = files[index] as SourceFile;
    let body: Readable;
    let expected: number | undefined;
    try {
      const response = await s3.send(new GetObjectCommand({ Bucket: options.sourceBucket, Key: source.storagePath }), { abortSignal: signal });
      body = response.Body as Readable;
      expected = response.ContentLength;
    } catch (error) {
      if (isMissingObject(error)) return { kind: 'missing' };
      throw error;
    }
    const path = join(options.workDirectory, `${index}.src`);
    await pipeline(body, createWriteStream(path), { signal });
    const { size } = await stat(path);
    // A connection cut at the wrong moment can end the body early without an error.
    if (expected !== undefined && size !== expected) throw new Error(`source download truncated (${size} of ${expected} bytes)`);
    metrics.sourceBytes.inc(size);
    return { kind: 'present', path, bytes: size };
  };

  const runBatch = async (indices: number[]): Promise<void> => {
    try {
      const fetched = await Promise.all(indices.map((index) => downloadSlots.run(1, signal, () => fetchSource(index))));
      const items: (TranscodeItem & { index: number; bytes: number })[] = [];
      fetched.forEach((result, position) => {
        const index = indices[position] as number;
        const outcome = outcomes[index];
        if (result.kind === 'missing') outcome?.resolve({ status: 'missing' });
        // ffmpeg has nothing to decode in an empty file: keep it (as zero bytes) without trying.
        else if (result.bytes === 0) outcome?.resolve({ status: 'unconvertible', path: result.path, sizeBytes: 0 });
        else items.push({ index, bytes: result.bytes, inputPath: result.path, outputPath: join(options.workDirectory, `${index}.opus`) });
      });
      if (items.length === 0) return;
      const { results, processes, seconds } = await ffmpegSlots.run(1, signal, async () => {
        const started = performance.now();
        const outcome = await options.transcoder.transcodeBatch(items, signal);
        return { ...outcome, seconds: (performance.now() - started) / 1000 };
      });
      metrics.transcodeSeconds.observe(seconds);
      metrics.ffmpegProcesses.inc(processes);
      for (const [position, item] of items.entries()) {
        const result = results[position];
        const outcome = outcomes[item.index];
        if (result?.ok) {
          metrics.audioSeconds.inc(result.durationSeconds);
          await rm(item.inputPath, { force: true });
          outcome?.resolve({ status: 'converted', path: item.outputPath, sizeBytes: result.sizeBytes });
        } else {
          const source = files[item.index] as SourceFile;
          logger.warn({ fileId: source.id, messageId: source.messageId, reason: result?.reason }, 'source is not decodable, keeping the original bytes');
          outcome?.resolve({ status: 'unconvertible', path: item.inputPath, sizeBytes: item.bytes });
        }
      }
    } catch (error) {
      abort.abort(error);
      for (const index of indices) outcomes[index]?.reject(error);
    }
  };

  const produce = async (): Promise<void> => {
    for (const batch of planBatches(files, options.batchLimits, options.transcodeConcurrency)) {
      await window.acquire(batch.length, signal);
      const task = runBatch(batch);
      running.add(task);
      void task.finally(() => running.delete(task));
    }
  };
  const producer = produce();
  producer.catch((error: unknown) => abort.abort(error));

  const aborted = abortRejection(signal);
  try {
    const namer = new EntryNamer();
    const archived: ArchivedFile[] = [];
    for (const [index, source] of files.entries()) {
      const outcome = await Promise.race([outcomes[index]?.promise as Promise<FileOutcome>, aborted]);
      const file = namer.name(source, outcome.status);
      archived.push(file);
      metrics.files.inc({ status: outcome.status });
      if (outcome.status === 'missing' || file.entryPath === null) {
        window.release(1);
        continue;
      }
      const { path } = outcome;
      upload.zip.addReadStreamLazy(file.entryPath, { compress: false, size: outcome.sizeBytes, mtime: source.recordedAt }, (callback) => {
        const stream = createReadStream(path);
        stream.once('close', () => {
          window.release(1);
          void rm(path, { force: true });
        });
        callback(null, stream);
      });
    }
    await producer;
    const metadata = buildMetadata({ generatedAt: options.generatedAt, utcDay: options.utcDay, hour: options.hour, files: archived });
    upload.zip.addBuffer(Buffer.from(serializeArchiveMetadata(metadata)), 'metadata.json', { mtime: options.generatedAt, compress: true });
    const uploaded = await upload.complete();
    metrics.archiveBytes.inc(uploaded.sizeBytes);
    return { ...uploaded, files: archived, sessionCount: countSessions(archived.map((file) => file.source)) };
  } catch (error) {
    abort.abort(error);
    await upload.fail(error instanceof Error ? error : new Error(String(error)));
    await Promise.allSettled([producer, ...running]);
    throw error;
  } finally {
    options.signal.removeEventListener('abort', forwardAbort);
  }
}

/** Rejects when `signal` aborts; never resolves. Handled here so an unused rejection is not fatal. */
function abortRejection(signal: AbortSignal): Promise<never> {
  const rejection = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  rejection.catch(() => undefined);
  return rejection;
}
