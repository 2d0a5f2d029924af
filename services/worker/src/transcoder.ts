import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import prism from 'prism-media';
import { inspectOggOpus } from './ogg-opus.js';

/**
 * Ogg Opus, 24 kbps, mono (CONTRACT §3.2). Constrained VBR keeps the rate near 24 kbps on any
 * input (plain VBR drifts from ~20 to ~39 kbps). The encoder keeps libopus' default `audio`
 * application: `voip` costs ~35 ms of CPU per file to settle (measured: 20 separate 29 s files
 * took 29% more CPU than the same audio as one stream, against 0% with `audio`), a large share
 * of a short clip. Bitexact muxing drops the random Ogg serial and encoder tag so the same source
 * gives the same bytes.
 */
export const OPUS_OUTPUT_ARGS: readonly string[] = [
  '-vn',
  '-sn',
  '-dn',
  '-ac',
  '1',
  '-c:a',
  'libopus',
  '-b:a',
  '24k',
  '-vbr',
  'constrained',
  '-map_metadata',
  '-1',
  '-fflags',
  '+bitexact',
  '-flags:a',
  '+bitexact',
  '-f',
  'ogg',
];

/**
 * Demuxers that open other files or addresses named inside their input. ffmpeg picks a demuxer by
 * probing the bytes, so a source object holding an HLS or DASH playlist or an ffconcat list would
 * make ffmpeg read media files of the worker's machine (another job's spooled sources included)
 * into the tenant's archive. An SDP or RTP/RTSP input would wait on the network.
 */
const REFERENCING_DEMUXERS = new Set(['hls', 'dash', 'concat', 'sdp', 'rtp', 'rtsp', 'imf', 'webm_dash_manifest', 'image2', 'lavfi']);

/** The names in a `ffmpeg -demuxers` / `-devices` listing: the lines after `--`, flags first (` D  name  description`). */
function listedNames(listing: string): string[] {
  const lines = listing.split('\n');
  const start = lines.findIndex((line) => line.trim() === '--');
  return lines.slice(start + 1).flatMap((line) => {
    const match = /^ D[E ] (\S+)/.exec(line);
    return match?.[1] ? [match[1]] : [];
  });
}

/**
 * Every input's `-format_whitelist`: each demuxer this ffmpeg has, except the referencing ones
 * and the input devices, so any audio format it decodes still is (CONTRACT §3.1). Read from the
 * ffmpeg itself, as builds differ in what they include.
 */
export function readableFormats(command: string): string {
  const list = (option: string) => listedNames(execFileSync(command, ['-hide_banner', option], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const devices = new Set(list('-devices'));
  const formats = list('-demuxers').filter((name) => !devices.has(name) && !name.split(',').some((alias) => REFERENCING_DEMUXERS.has(alias)));
  if (formats.length === 0) throw new Error(`${command} -demuxers listed no demuxers`);
  return formats.join(',');
}

export interface TranscodeItem {
  inputPath: string;
  outputPath: string;
}

export type TranscodeResult = { ok: true; durationSeconds: number; sizeBytes: number } | { ok: false; reason: string };

export interface TranscodeBatchOutcome {
  results: TranscodeResult[];
  /** ffmpeg processes started (1 when the batch went through in one, more after a fallback). */
  processes: number;
}

export interface Transcoder {
  /**
   * Transcodes every item, one result per item in the same order. Several inputs share one ffmpeg
   * process (starting one costs ~17 ms, a large share of a 2-5 s clip); if that process fails or
   * any output is not valid Ogg Opus, each item is redone in its own process, so one bad source
   * never changes its neighbours' outcome. Rejects only on abort or when ffmpeg cannot be started.
   */
  transcodeBatch(items: readonly TranscodeItem[], signal: AbortSignal): Promise<TranscodeBatchOutcome>;
}

class AbortedError extends Error {
  override name = 'AbortError';
}

/**
 * `quick`: read stream parameters from the headers only (`-analyzeduration 0`). By default ffmpeg
 * decodes up to 5 s of every compressed input to analyse it and then decodes it again; that cost
 * ~4% of a realistic hour's CPU. A file that quick probing cannot handle fails its batch and is
 * redone alone with `full` probing, ffmpeg's default.
 */
type Probing = 'quick' | 'full';

function batchArgs(items: readonly TranscodeItem[], probing: Probing, formats: string): string[] {
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'];
  for (const item of items) {
    if (probing === 'quick') args.push('-analyzeduration', '0');
    args.push('-format_whitelist', formats, '-i', item.inputPath);
  }
  items.forEach((item, index) => {
    args.push('-map', `${index}:a:0`, ...OPUS_OUTPUT_ARGS);
    // prism-media appends `pipe:1` as the last output: the last item is written through stdout.
    if (index < items.length - 1) args.push(item.outputPath);
  });
  return args;
}

/** Runs one ffmpeg through prism-media; resolves with its exit code and the end of its stderr. */
async function runFfmpeg(
  items: readonly TranscodeItem[],
  probing: Probing,
  formats: string,
  signal: AbortSignal,
): Promise<{ code: number | null; stderr: string }> {
  if (signal.aborted) throw new AbortedError('transcode aborted');
  const ffmpeg = new prism.FFmpeg({ args: batchArgs(items, probing, formats) });
  // prism-media hides the process' exit status (a failed transcode just ends the stream): keep the
  // handle to read the exit code, and drain stderr so a chatty decoder never blocks on a full pipe.
  const child = ffmpeg.process;
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  // Nothing is read from stdin (inputs are files, -nostdin); closing it is what ffmpeg expects.
  child.stdin?.end();
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  const last = items[items.length - 1];
  if (!last) throw new Error('empty transcode batch');
  const output = createWriteStream(last.outputPath);
  ffmpeg.on('error', () => undefined);
  child.stdout?.pipe(output);
  const onAbort = () => child.kill('SIGKILL');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const [code] = await Promise.all([exited, finished(output)]);
    if (signal.aborted) throw new AbortedError('transcode aborted');
    return { code, stderr };
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

async function checkOutputs(items: readonly TranscodeItem[]): Promise<TranscodeResult[]> {
  return Promise.all(
    items.map(async (item): Promise<TranscodeResult> => {
      const info = await inspectOggOpus(item.outputPath).catch(() => null);
      if (!info) return { ok: false, reason: 'output is not a complete Ogg Opus stream with audio' };
      if (info.channels !== 1) return { ok: false, reason: `output has ${info.channels} channels` };
      return { ok: true, durationSeconds: info.durationSeconds, sizeBytes: info.sizeBytes };
    }),
  );
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}

export function createTranscoder(): Transcoder {
  // The ffmpeg prism-media runs (on PATH, or ffmpeg-static), asked once.
  const formats = readableFormats(prism.FFmpeg.getInfo().command);
  const transcodeOne = async (item: TranscodeItem, signal: AbortSignal): Promise<TranscodeResult> => {
    const { code, stderr } = await runFfmpeg([item], 'full', formats, signal);
    if (code !== 0) {
      await rm(item.outputPath, { force: true });
      return { ok: false, reason: `ffmpeg exited with ${String(code)}${stderr ? `: ${lastLine(stderr)}` : ''}` };
    }
    const [result] = await checkOutputs([item]);
    if (!result?.ok) await rm(item.outputPath, { force: true });
    return result ?? { ok: false, reason: 'no result' };
  };

  return {
    async transcodeBatch(items, signal) {
      if (items.length === 0) return { results: [], processes: 0 };
      const first = items[0];
      if (items.length === 1 && first) return { results: [await transcodeOne(first, signal)], processes: 1 };
      const { code } = await runFfmpeg(items, 'quick', formats, signal);
      // Exit 0: each output stands on its own, so only the invalid ones are redone. Any other
      // exit: ffmpeg may have stopped early for every output, so all are redone one by one.
      const results: TranscodeResult[] = code === 0 ? await checkOutputs(items) : items.map(() => ({ ok: false, reason: 'batch failed' }));
      let processes = 1;
      for (const [index, item] of items.entries()) {
        if (results[index]?.ok) continue;
        await rm(item.outputPath, { force: true });
        results[index] = await transcodeOne(item, signal);
        processes++;
      }
      return { results, processes };
    },
  };
}
