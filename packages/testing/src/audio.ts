import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Source formats the recording platform produces, as far as the tests and benchmarks care. */
export type AudioFormat = 'wav_pcm' | 'wav_mulaw' | 'mp3' | 'ogg_vorbis' | 'webm_opus';

export const AUDIO_FORMATS: readonly AudioFormat[] = ['wav_pcm', 'wav_mulaw', 'mp3', 'ogg_vorbis', 'webm_opus'];

export interface AudioSpec {
  format: AudioFormat;
  seconds: number;
  sampleRate: number;
  channels: 1 | 2;
  /** Same seed, same bytes. */
  seed?: number;
}

const EXTENSIONS: Record<AudioFormat, string> = {
  wav_pcm: 'wav',
  wav_mulaw: 'wav',
  mp3: 'mp3',
  ogg_vorbis: 'ogg',
  webm_opus: 'webm',
};

/** File extension of a format's container, without the dot. */
export function audioExtension(format: AudioFormat): string {
  return EXTENSIONS[format];
}

const ENCODER_ARGS: Record<AudioFormat, string[]> = {
  wav_pcm: ['-c:a', 'pcm_s16le', '-f', 'wav'],
  wav_mulaw: ['-c:a', 'pcm_mulaw', '-f', 'wav'],
  mp3: ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'],
  ogg_vorbis: ['-c:a', 'libvorbis', '-q:a', '3', '-f', 'ogg'],
  webm_opus: ['-c:a', 'libopus', '-b:a', '32k', '-f', 'webm'],
};

/** Rates each encoder accepts; anything else is a mistake in a test, not something to resample silently. */
const ALLOWED_RATES: Record<AudioFormat, number[]> = {
  wav_pcm: [8000, 16000, 22050, 24000, 44100, 48000],
  wav_mulaw: [8000, 16000],
  mp3: [16000, 22050, 24000, 32000, 44100, 48000],
  ogg_vorbis: [16000, 22050, 24000, 44100, 48000],
  webm_opus: [48000],
};

/** The usual sample rate of a format in the platform's recordings. */
export function defaultSampleRate(format: AudioFormat): number {
  return format === 'wav_mulaw' ? 8000 : format === 'webm_opus' ? 48000 : 16000;
}

/**
 * Speech-like signal: pink noise shaped by a syllable-rate envelope with pauses, plus two voiced
 * tones whose pitch depends on the seed. Pauses keep a low noise floor, as real recordings do
 * (digital silence would make VBR encoders look far below their target bitrate). Deterministic
 * (noise seed, bitexact muxing).
 */
function filterGraph(spec: AudioSpec): string {
  const seed = spec.seed ?? 1;
  const d = spec.seconds.toFixed(3);
  const r = spec.sampleRate;
  const pitch = 110 + (seed % 13) * 9;
  const syllableHz = (3 + (seed % 5) * 0.4).toFixed(2);
  const phraseHz = (0.25 + (seed % 3) * 0.05).toFixed(2);
  const envelope = `0.03+2*max(0\\,sin(2*PI*${phraseHz}*t))*(0.3+0.7*abs(sin(2*PI*${syllableHz}*t)))`;
  return [
    `anoisesrc=d=${d}:c=pink:r=${r}:a=0.5:seed=${seed}[noise]`,
    `sine=f=${pitch}:r=${r}:d=${d}[f0]`,
    `sine=f=${pitch * 3}:r=${r}:d=${d}[f1]`,
    `[noise][f0][f1]amix=inputs=3:weights=3 2 1:normalize=1,volume='${envelope}':eval=frame,aformat=sample_fmts=s16:channel_layouts=${spec.channels === 1 ? 'mono' : 'stereo'}[out]`,
  ].join(';');
}

function cacheKey(spec: AudioSpec): string {
  const id = `${spec.format}|${spec.seconds}|${spec.sampleRate}|${spec.channels}|${spec.seed ?? 1}|v3`;
  return createHash('sha256').update(id).digest('hex').slice(0, 24);
}

const CACHE_DIRECTORY = join(tmpdir(), 'dcar-audio-cache');
// Only clips being synthesised are held here (so parallel requests share one ffmpeg); finished
// clips are read back from disk, which keeps a process that seeds hundreds of rows small.
const inFlight = new Map<string, Promise<Buffer>>();

function runFfmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`ffmpeg exited with ${String(code)}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

async function synthesizeToCache(spec: AudioSpec, key: string): Promise<Buffer> {
  const path = join(CACHE_DIRECTORY, `${key}.${audioExtension(spec.format)}`);
  try {
    return readFileSync(path);
  } catch {
    // Not cached on disk yet.
  }
  mkdirSync(CACHE_DIRECTORY, { recursive: true });
  // Containers like WAV and WebM write their header last (seeking back), so encode to a file;
  // renaming it into place keeps parallel test files from reading a half-written clip.
  const partial = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.partial`;
  try {
    await runFfmpeg([
      '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
      '-filter_complex', filterGraph(spec),
      '-map', '[out]',
      '-ar', String(spec.sampleRate),
      '-ac', String(spec.channels),
      '-fflags', '+bitexact', '-flags:a', '+bitexact', '-map_metadata', '-1',
      ...ENCODER_ARGS[spec.format],
      partial,
    ]);
    renameSync(partial, path);
  } finally {
    rmSync(partial, { force: true });
  }
  return readFileSync(path);
}

/**
 * A speech-like synthetic clip in the given container and codec, made by ffmpeg. Clips are cached
 * on disk per (format, seconds, rate, channels, seed), so seeding hundreds of rows synthesises each
 * distinct clip once.
 */
export function synthesizeAudio(spec: AudioSpec): Promise<Buffer> {
  if (!(spec.seconds > 0 && spec.seconds <= 3600)) throw new RangeError(`seconds must be in (0, 3600], got ${spec.seconds}`);
  if (!ALLOWED_RATES[spec.format].includes(spec.sampleRate)) {
    throw new RangeError(`${spec.format} does not take ${spec.sampleRate} Hz (use one of ${ALLOWED_RATES[spec.format].join(', ')})`);
  }
  const key = cacheKey(spec);
  let clip = inFlight.get(key);
  if (!clip) {
    clip = synthesizeToCache(spec, key).finally(() => inFlight.delete(key));
    inFlight.set(key, clip);
  }
  return clip;
}
