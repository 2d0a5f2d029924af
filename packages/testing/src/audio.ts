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

/** What a voice agent and its callers say; clips pick sentences by seed, so the same seed says the same words. */
const SENTENCES = [
  'Thank you for calling. How can I help you with your account today?',
  'I would like to check the status of my order, please.',
  'Of course. Could you tell me the order number written on your receipt?',
  'It is four seven two, nine nine one, eight three.',
  'Thank you. I can see the parcel left our warehouse yesterday evening.',
  'When will it arrive? I need it before the weekend.',
  'The courier expects to deliver it on Thursday between nine and noon.',
  'Can I change the delivery address to my office instead?',
  'Yes, I have updated the address. You will receive a confirmation by email.',
  'Is there anything else I can help you with today?',
  'No, that is all. Thank you very much for your help.',
  'You are welcome. Have a lovely day, and goodbye.',
];

const VOICES = ['en-us', 'en-us+f3', 'en-gb', 'en-us+m3', 'en-gb+f2'];
// espeak-ng speaks about 2.6 words a second at 160 words a minute; a little extra text is trimmed.
const WORDS_PER_SECOND = 2.6;

/** The words of a clip: sentences in a seed-dependent order until they fill `seconds`. */
export function speechText(seconds: number, seed: number): string {
  const sentences: string[] = [];
  let words = 0;
  for (let i = 0; words < seconds * WORDS_PER_SECOND + 3; i++) {
    const sentence = SENTENCES[(seed + i * 5) % SENTENCES.length] as string;
    sentences.push(sentence);
    words += sentence.split(' ').length;
  }
  return sentences.join(' ');
}

/**
 * A clip of real speech, as an agent's TTS produces it: espeak-ng reads `speechText` in a
 * seed-dependent voice, pitch and speed; ffmpeg trims or pads it to the exact length and mixes in
 * a little pink "line noise" (digital silence between words would make VBR encoders look far below
 * their target bitrate, and libopus treats tone-and-noise signals as music, which costs a third of
 * what speech does). Deterministic: espeak-ng's output and bitexact muxing depend only on the spec.
 */
function speechArgs(spec: AudioSpec, speechWav: string): string[] {
  const seed = spec.seed ?? 1;
  const d = spec.seconds.toFixed(3);
  const r = spec.sampleRate;
  const layout = spec.channels === 1 ? 'mono' : 'stereo';
  return [
    '-i',
    speechWav,
    '-filter_complex',
    [
      `[0:a]aresample=${r},apad,atrim=duration=${d},asetpts=N/SR/TB[speech]`,
      `anoisesrc=d=${d}:c=pink:r=${r}:a=0.02:seed=${seed}[noise]`,
      `[speech][noise]amix=inputs=2:weights=1 1:normalize=0,aformat=sample_fmts=s16:channel_layouts=${layout}[out]`,
    ].join(';'),
    '-map',
    '[out]',
  ];
}

async function speak(spec: AudioSpec, path: string): Promise<void> {
  const seed = spec.seed ?? 1;
  const voice = VOICES[seed % VOICES.length] as string;
  const words = String(150 + (seed % 4) * 10);
  const pitch = String(35 + (seed % 7) * 5);
  await runProcess('espeak-ng', ['-v', voice, '-s', words, '-p', pitch, '-w', path, speechText(spec.seconds, seed)]);
}

function cacheKey(spec: AudioSpec): string {
  const id = `${spec.format}|${spec.seconds}|${spec.sampleRate}|${spec.channels}|${spec.seed ?? 1}|speech-v1`;
  return createHash('sha256').update(id).digest('hex').slice(0, 24);
}

const CACHE_DIRECTORY = join(tmpdir(), 'dcar-audio-cache');
// Only clips being synthesised are held here (so parallel requests share one ffmpeg); finished
// clips are read back from disk, which keeps a process that seeds hundreds of rows small.
const inFlight = new Map<string, Promise<Buffer>>();

function runProcess(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} exited with ${String(code)}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
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
  const speechWav = `${partial}.speech.wav`;
  try {
    await speak(spec, speechWav);
    await runProcess('ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-y',
      ...speechArgs(spec, speechWav),
      '-ar',
      String(spec.sampleRate),
      '-ac',
      String(spec.channels),
      '-fflags',
      '+bitexact',
      '-flags:a',
      '+bitexact',
      '-map_metadata',
      '-1',
      ...ENCODER_ARGS[spec.format],
      partial,
    ]);
    renameSync(partial, path);
  } finally {
    rmSync(partial, { force: true });
    rmSync(speechWav, { force: true });
  }
  return readFileSync(path);
}

/**
 * A clip of synthetic speech (espeak-ng, see `speechArgs`) in the given container and codec. Clips are cached
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
