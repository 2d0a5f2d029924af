import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeAudio } from '@dcar/testing/audio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectOggOpus } from '../src/ogg-opus.js';
import { createTranscoder } from '../src/transcoder.js';
import { probe } from './helpers.js';

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'dcar-transcoder-test-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function input(name: string, content: Buffer): Promise<{ inputPath: string; outputPath: string }> {
  const inputPath = join(directory, name);
  await writeFile(inputPath, content);
  return { inputPath, outputPath: join(directory, `${name}.opus`) };
}

/** A WAV header announcing PCM audio, with no samples: ffmpeg exits 0 and writes only the Opus headers. */
function emptyWav(): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(0, 40);
  return header;
}

describe('transcoder', () => {
  it('one bad input in a batch never changes its neighbours: good files convert, bad ones are reported', async () => {
    const items = [
      await input('a.wav', await synthesizeAudio({ format: 'wav_pcm', seconds: 2, sampleRate: 16000, channels: 2, seed: 5 })),
      await input('b.mp3', Buffer.from('definitely not an mp3 '.repeat(100))),
      await input('c.wav', emptyWav()),
      await input('d.ogg', await synthesizeAudio({ format: 'ogg_vorbis', seconds: 3, sampleRate: 24000, channels: 1, seed: 6 })),
    ];
    const { results, processes } = await createTranscoder().transcodeBatch(items, new AbortController().signal);
    expect(results.map((result) => result.ok)).toEqual([true, false, false, true]);
    // The batch failed as a whole (a bad input stops ffmpeg), so each file was redone on its own.
    expect(processes).toBe(5);
    expect(results[1]).toMatchObject({ ok: false, reason: expect.stringMatching(/ffmpeg exited with 1/) as string });
    expect(results[2]).toMatchObject({ ok: false, reason: expect.stringMatching(/not a complete Ogg Opus stream/) as string });
    const a = await probe(await readFile(items[0]!.outputPath), directory, 'a-check.opus');
    expect(a).toMatchObject({ codecName: 'opus', channels: 1 });
    expect(a.durationSeconds).toBeCloseTo(2, 1);
    expect(results[3]).toMatchObject({ ok: true, durationSeconds: expect.closeTo(3, 1) as number });
  });

  it('a batch of good inputs runs in one ffmpeg process', async () => {
    const items = await Promise.all(
      [1, 2, 3].map(async (seed) =>
        input(`ok-${seed}.wav`, await synthesizeAudio({ format: 'wav_mulaw', seconds: seed, sampleRate: 8000, channels: 1, seed })),
      ),
    );
    const { results, processes } = await createTranscoder().transcodeBatch(items, new AbortController().signal);
    expect(processes).toBe(1);
    expect(results.map((result) => (result.ok ? Math.round(result.durationSeconds) : null))).toEqual([1, 2, 3]);
  });

  it('an abort kills ffmpeg and rejects', async () => {
    const item = await input('long.wav', await synthesizeAudio({ format: 'wav_pcm', seconds: 60, sampleRate: 48000, channels: 2, seed: 1 }));
    const controller = new AbortController();
    const running = createTranscoder().transcodeBatch([item], controller.signal);
    setImmediate(() => controller.abort(new Error('stop')));
    await expect(running).rejects.toThrow(/aborted/);
  });

  it('rejects a truncated Ogg Opus file', async () => {
    const item = await input('t.wav', await synthesizeAudio({ format: 'wav_pcm', seconds: 3, sampleRate: 16000, channels: 1, seed: 2 }));
    await createTranscoder().transcodeBatch([item], new AbortController().signal);
    const whole = await readFile(item.outputPath);
    expect(await inspectOggOpus(item.outputPath)).toMatchObject({ channels: 1, sizeBytes: whole.length });
    await writeFile(item.outputPath, whole.subarray(0, whole.length - 100));
    expect(await inspectOggOpus(item.outputPath)).toBeNull();
  });

  it('never follows a source that names other files: playlists and lists are not decoded, real formats still are', async () => {
    // A media file elsewhere on the worker's machine, which a hostile source object names.
    const elsewhere = join(directory, 'elsewhere');
    await mkdir(elsewhere);
    const secret = join(elsewhere, 'secret.mp3');
    await writeFile(secret, await synthesizeAudio({ format: 'mp3', seconds: 2, sampleRate: 16000, channels: 1, seed: 9 }));
    const hostile = [
      await input('hls.src', Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n${secret}\n#EXT-X-ENDLIST\n`)),
      await input('concat.src', Buffer.from(`ffconcat version 1.0\nfile ${join('elsewhere', 'secret.mp3')}\n`)),
      await input(
        'dash.src',
        Buffer.from(
          `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT2S"><Period><AdaptationSet mimeType="audio/mpeg"><Representation id="a" bandwidth="64000"><BaseURL>${secret}</BaseURL></Representation></AdaptationSet></Period></MPD>`,
        ),
      ),
    ];
    const formats = await Promise.all([
      input('m.src', await synthesizeAudio({ format: 'mp3', seconds: 1, sampleRate: 16000, channels: 1, seed: 3 })),
      input('w.src', await synthesizeAudio({ format: 'webm_opus', seconds: 1, sampleRate: 48000, channels: 1, seed: 4 })),
    ]);
    const { results } = await createTranscoder().transcodeBatch([...hostile, ...formats], new AbortController().signal);
    expect(results.map((result) => result.ok)).toEqual([false, false, false, true, true]);
    for (const result of results.slice(0, 3)) expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/ffmpeg exited with 1/) as string });
  });
});
