import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline as pipeStreams, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SourceFile } from '@dcar/archives';
import { serializeArchiveMetadata, unsafeStoragePathReason } from '@dcar/domain';
import type { Logger } from '@dcar/platform';
import type { ArchiveObject } from './archive-object.js';
import { abortReason, deferred, Semaphore, type Deferred } from './concurrency.js';
import { buildMetadata, countSessions, EntryNamer, type ArchivedFile } from './layout.js';
import type { WorkerMetrics } from './metrics.js';
import type { TranscodeItem, Transcoder } from './transcoder.js';
import type { UploadedArchive, ZipUpload } from './zip-upload.js';

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

/** What became of one source file before it goes into the ZIP. */
type FileOutcome = { status: 'missing' } | { status: 'converted' | 'unconvertible'; path: string; sizeBytes: number; originalSha256: string };

/** A source object downloaded to disk (with the SHA-256 of its bytes as read), or found missing in the store. */
type Fetched = { kind: 'missing' } | { kind: 'present'; path: string; bytes: number; sha256: string };

/** A pass-through stream that hashes what flows through it; `digest` settles when it ends. */
function hashingStream(): { stream: Transform; digest: Promise<string> } {
  const hash = createHash('sha256');
  let settle: (value: string) => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const digest = new Promise<string>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  digest.catch(() => undefined);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      settle(hash.digest('hex'));
      callback();
    },
  });
  // Destroyed before its end (a read error, an aborted build): no digest, and nobody waits for one.
  stream.once('close', () => fail(new Error('stream closed before its end')));
  return { stream, digest };
}

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
  /** Where the ZIP goes; the upload starts here and completes last. */
  archive: ArchiveObject;
  transcoder: Transcoder;
  metrics: WorkerMetrics;
  logger: Logger;
  /** The job's own empty directory; the caller removes it. */
  workDirectory: string;
  transcodeConcurrency: number;
  downloadConcurrency: number;
  batchLimits: BatchLimits;
  generatedAt: Date;
  utcDay: string;
  hour: number;
  /** Written into metadata.json: 1 for the hour's first archive, +1 for each that replaces it. */
  revision: number;
  signal: AbortSignal;
}

export interface BuiltArchive extends UploadedArchive {
  files: ArchivedFile[];
  sessionCount: number;
}

/**
 * Downloads, transcodes, zips and uploads one hour in a single pass with bounded memory and disk,
 * in three stages: **fetch** downloads a batch of consecutive files to disk, **transcode** turns
 * the batch into Opus (up to `transcodeConcurrency` ffmpeg processes), and **zip** adds entries
 * strictly in row order, deleting each spooled file once it is in the ZIP. Fetch and transcode run
 * ahead of the ZIP writer by at most a window of files, so a slow upload holds back the downloads
 * instead of filling the disk. `metadata.json` goes last, when every file's status is known. Any
 * error (store, network, disk, abort) aborts the upload: no object appears, and the error is rethrown.
 */
export async function buildArchive(options: BuildArchiveOptions): Promise<BuiltArchive> {
  const build = startBuild(options);
  const upload = options.archive.startUpload({
    onPartUploaded: (part, bytesSoFar) => options.logger.debug({ part, bytesSoFar }, 'archive part uploaded'),
  });
  const ahead = fetchAndTranscodeAhead(build);
  // Observed below (awaited or settled); a rejection while the ZIP writer waits must not count as unhandled.
  ahead.catch(() => undefined);
  try {
    const { archived, entriesHashed } = await zipInRowOrder(build, upload);
    await ahead;
    // metadata.json goes last and carries each entry's SHA-256: wait until yazl has read every entry
    // (hashed on the way into the ZIP, never read twice) while the upload keeps draining the ZIP.
    await Promise.race([entriesHashed, abortRejection(build.abort.signal), upload.failed]);
    const metadata = buildMetadata({
      generatedAt: options.generatedAt,
      utcDay: options.utcDay,
      hour: options.hour,
      revision: options.revision,
      files: archived,
    });
    upload.zip.addBuffer(Buffer.from(serializeArchiveMetadata(metadata)), 'metadata.json', { mtime: options.generatedAt, compress: true });
    const uploaded = await upload.complete();
    options.metrics.archiveBytes.inc(uploaded.sizeBytes);
    return { ...uploaded, files: archived, sessionCount: countSessions(archived.map((file) => file.source)) };
  } catch (error) {
    build.abort.abort(error);
    await upload.fail(error instanceof Error ? error : new Error(String(error)));
    await Promise.allSettled([ahead, ...build.running]);
    throw error;
  } finally {
    build.release();
  }
}

/** What the stages of one hour's build share. */
interface HourBuild {
  options: BuildArchiveOptions;
  /** Aborted by the job's signal or by the first error of any stage; every wait listens to it. */
  abort: AbortController;
  /** Files fetched or transcoded ahead of the ZIP writer and not in the ZIP yet: bounds the disk used. */
  window: Semaphore;
  downloadSlots: Semaphore;
  ffmpegSlots: Semaphore;
  /** Each file's outcome, settled by fetch and transcode, read in row order by zip. */
  outcomes: Deferred<FileOutcome>[];
  /** Batches in flight: a failed build waits for them to stop before its directory is removed. */
  running: Set<Promise<void>>;
  /** Stops following the job's signal. */
  release(): void;
}

function startBuild(options: BuildArchiveOptions): HourBuild {
  const abort = new AbortController();
  const forwardAbort = () => abort.abort(options.signal.reason);
  if (options.signal.aborted) forwardAbort();
  options.signal.addEventListener('abort', forwardAbort, { once: true });
  // Every queued download, transcode and window wait listens to this one signal.
  setMaxListeners(0, abort.signal);
  return {
    options,
    abort,
    window: new Semaphore(Math.max(16, options.batchLimits.maxFiles * options.transcodeConcurrency * 3)),
    downloadSlots: new Semaphore(options.downloadConcurrency),
    ffmpegSlots: new Semaphore(options.transcodeConcurrency),
    outcomes: options.files.map(() => deferred<FileOutcome>()),
    running: new Set(),
    release: () => options.signal.removeEventListener('abort', forwardAbort),
  };
}

/** Starts each batch once the window has room for it; an error here aborts the build. */
async function fetchAndTranscodeAhead(build: HourBuild): Promise<void> {
  const { options } = build;
  try {
    for (const batch of planBatches(options.files, options.batchLimits, options.transcodeConcurrency)) {
      await build.window.acquire(batch.length, build.abort.signal);
      const task = fetchAndTranscodeBatch(build, batch);
      build.running.add(task);
      void task.finally(() => build.running.delete(task));
    }
  } catch (error) {
    build.abort.abort(error);
    throw error;
  }
}

/** One batch through the fetch and transcode stages; settles each of its files' outcomes. */
async function fetchAndTranscodeBatch(build: HourBuild, indices: number[]): Promise<void> {
  try {
    const fetched = await Promise.all(indices.map((index) => build.downloadSlots.run(1, build.abort.signal, () => fetchSource(build, index))));
    const items: (TranscodeItem & { index: number; bytes: number; originalSha256: string })[] = [];
    fetched.forEach((result, position) => {
      const index = indices[position] as number;
      const outcome = build.outcomes[index];
      if (result.kind === 'missing') outcome?.resolve({ status: 'missing' });
      // ffmpeg has nothing to decode in an empty file: keep it (as zero bytes) without trying.
      else if (result.bytes === 0) outcome?.resolve({ status: 'unconvertible', path: result.path, sizeBytes: 0, originalSha256: result.sha256 });
      else
        items.push({
          index,
          bytes: result.bytes,
          originalSha256: result.sha256,
          inputPath: result.path,
          outputPath: join(build.options.workDirectory, `${index}.opus`),
        });
    });
    if (items.length > 0) await transcode(build, items);
  } catch (error) {
    build.abort.abort(error);
    for (const index of indices) build.outcomes[index]?.reject(error);
  }
}

/** Stage 1, fetch: one source object to a file of the work directory. */
async function fetchSource(build: HourBuild, index: number): Promise<Fetched> {
  const { options } = build;
  const signal = build.abort.signal;
  const source = options.files[index] as SourceFile;
  // An untrusted key that could climb out of the source bucket (a store resolves "..") is never read.
  const unsafe = unsafeStoragePathReason(source.storagePath);
  if (unsafe !== null) {
    options.logger.warn(
      { fileId: source.id, messageId: source.messageId, reason: unsafe },
      'source storage_path is not a plain object key; not read, recorded as missing',
    );
    return { kind: 'missing' };
  }
  let body: Readable;
  let expected: number | undefined;
  try {
    const response = await options.s3.send(new GetObjectCommand({ Bucket: options.sourceBucket, Key: source.storagePath }), { abortSignal: signal });
    body = response.Body as Readable;
    expected = response.ContentLength;
  } catch (error) {
    if (isMissingObject(error)) return { kind: 'missing' };
    throw error;
  }
  const path = join(options.workDirectory, `${index}.src`);
  // The source's SHA-256 as read from the store, computed on the way to disk (metadata.json's originalSha256).
  const hashing = hashingStream();
  await pipeline(body, hashing.stream, createWriteStream(path), { signal });
  const { size } = await stat(path);
  // A connection cut at the wrong moment can end the body early without an error.
  if (expected !== undefined && size !== expected) throw new Error(`source download truncated (${size} of ${expected} bytes)`);
  options.metrics.sourceBytes.inc(size);
  return { kind: 'present', path, bytes: size, sha256: await hashing.digest };
}

/** Stage 2, transcode: a batch of fetched files in one ffmpeg slot; a file ffmpeg cannot decode keeps its original bytes. */
async function transcode(build: HourBuild, items: (TranscodeItem & { index: number; bytes: number; originalSha256: string })[]): Promise<void> {
  const { options } = build;
  const { results, processes, seconds } = await build.ffmpegSlots.run(1, build.abort.signal, async () => {
    const started = performance.now();
    const outcome = await options.transcoder.transcodeBatch(items, build.abort.signal);
    return { ...outcome, seconds: (performance.now() - started) / 1000 };
  });
  options.metrics.transcodeSeconds.observe(seconds);
  options.metrics.ffmpegProcesses.inc(processes);
  for (const [position, item] of items.entries()) {
    const result = results[position];
    const outcome = build.outcomes[item.index];
    if (result?.ok) {
      options.metrics.audioSeconds.inc(result.durationSeconds);
      await rm(item.inputPath, { force: true });
      outcome?.resolve({ status: 'converted', path: item.outputPath, sizeBytes: result.sizeBytes, originalSha256: item.originalSha256 });
    } else {
      const source = options.files[item.index] as SourceFile;
      options.logger.warn({ fileId: source.id, messageId: source.messageId, reason: result?.reason }, 'source is not decodable, keeping the original bytes');
      outcome?.resolve({ status: 'unconvertible', path: item.inputPath, sizeBytes: item.bytes, originalSha256: item.originalSha256 });
    }
  }
}

/**
 * Stage 3, zip: every file in row order, named as it goes into the ZIP. Each stored file leaves
 * the window (and the disk) once yazl has read it; a missing one at once. Each entry's bytes are
 * hashed as yazl reads them (stored, so they are the entry's bytes in the ZIP): `entriesHashed`
 * settles once the last entry has been read, when every file's `sha256` is set.
 */
async function zipInRowOrder(build: HourBuild, upload: ZipUpload): Promise<{ archived: ArchivedFile[]; entriesHashed: Promise<void> }> {
  const { options } = build;
  const aborted = abortRejection(build.abort.signal);
  const namer = new EntryNamer();
  const archived: ArchivedFile[] = [];
  // yazl reads entries strictly in order: the last entry's hash settling means every one has.
  let lastEntryHashed: Promise<void> = Promise.resolve();
  for (const [index, source] of options.files.entries()) {
    const outcome = await Promise.race([build.outcomes[index]?.promise as Promise<FileOutcome>, aborted]);
    const file = namer.name(source, outcome.status, outcome.status === 'missing' ? null : outcome.originalSha256);
    archived.push(file);
    options.metrics.files.inc({ status: outcome.status });
    if (outcome.status === 'missing' || file.entryPath === null) {
      build.window.release(1);
      continue;
    }
    const { path } = outcome;
    const hashing = hashingStream();
    lastEntryHashed = hashing.digest.then((sha256) => {
      file.sha256 = sha256;
    });
    upload.zip.addReadStreamLazy(file.entryPath, { compress: false, size: outcome.sizeBytes, mtime: source.recordedAt }, (callback) => {
      const stream = createReadStream(path);
      stream.once('close', () => {
        build.window.release(1);
        void rm(path, { force: true });
      });
      // A read error destroys the hashing stream with it, which yazl reports as the ZIP's error.
      callback(
        null,
        pipeStreams(stream, hashing.stream, () => undefined),
      );
    });
  }
  return { archived, entriesHashed: lastEntryHashed };
}

/** Rejects when `signal` aborts; never resolves. Handled here so an unused rejection is not fatal. */
function abortRejection(signal: AbortSignal): Promise<never> {
  const rejection = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(abortReason(signal));
    else signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
  });
  rejection.catch(() => undefined);
  return rejection;
}
