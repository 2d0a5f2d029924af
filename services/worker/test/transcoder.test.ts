import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeAudio } from '@dcar/testing/audio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planBatches } from '../src/archive-builder.js';
import type { SourceFile } from '@dcar/archives';
import { EntryNamer, safeSegment } from '../src/layout.js';
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
    expect(results[1]).toMatchObject({ ok: false, reason: expect.stringMatching(/ffmpeg exited with 1/) });
    expect(results[2]).toMatchObject({ ok: false, reason: expect.stringMatching(/not a complete Ogg Opus stream/) });
    const a = await probe(await readFile(items[0]!.outputPath), directory, 'a-check.opus');
    expect(a).toMatchObject({ codecName: 'opus', channels: 1 });
    expect(a.durationSeconds).toBeCloseTo(2, 1);
    expect(results[3]).toMatchObject({ ok: true, durationSeconds: expect.closeTo(3, 1) });
  });

  it('a batch of good inputs runs in one ffmpeg process', async () => {
    const items = await Promise.all(
      [1, 2, 3].map(async (seed) => input(`ok-${seed}.wav`, await synthesizeAudio({ format: 'wav_mulaw', seconds: seed, sampleRate: 8000, channels: 1, seed }))),
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
});

describe('layout', () => {
  const source = (overrides: Partial<SourceFile>): SourceFile => ({
    id: 1,
    externalConversationId: 'conv-1',
    sessionId: 'session-1',
    messageId: '7',
    type: 'agent_tts',
    storagePath: 't/x/7_agent_tts.WAV',
    sizeBytes: 10,
    recordedAt: new Date('2025-12-12T14:00:00Z'),
    ...overrides,
  });

  it('names entries by the contract, keeps the original extension for unconvertible files and never reuses a path', () => {
    const namer = new EntryNamer();
    expect(namer.name(source({}), 'converted')).toMatchObject({ fileName: 'message_7_agent_tts.opus', entryPath: 'conv-1/session-1/message_7_agent_tts.opus' });
    expect(namer.name(source({}), 'converted')).toMatchObject({ fileName: 'message_7_agent_tts-2.opus' });
    expect(namer.name(source({ messageId: '8' }), 'unconvertible')).toMatchObject({ fileName: 'message_8_agent_tts.wav' });
    expect(namer.name(source({ messageId: '9' }), 'missing')).toMatchObject({ fileName: 'message_9_agent_tts.opus', entryPath: null });
  });

  it('keeps ids from escaping their folder when the ZIP is extracted', () => {
    expect(safeSegment('../../etc')).toBe('.._.._etc');
    expect(safeSegment('..')).toBe('__');
    expect(safeSegment('a/b\\c d')).toBe('a_b_c_d');
    expect(safeSegment('conv-123')).toBe('conv-123');
    const namer = new EntryNamer();
    expect(namer.name(source({ externalConversationId: '..', sessionId: '/abs' }), 'converted').entryPath).toBe('__/_abs/message_7_agent_tts.opus');
  });

  it('plans consecutive batches that shrink towards the end and keep big files alone', () => {
    const files = Array.from({ length: 40 }, () => ({ sizeBytes: 1000 }));
    const batches = planBatches(files, { maxFiles: 16, maxBytes: 1_000_000 }, 2);
    expect(batches.flat()).toEqual(files.map((_, index) => index));
    expect(batches.map((batch) => batch.length)).toEqual([5, 5, 4, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(planBatches([{ sizeBytes: 10 }, { sizeBytes: 900 }, { sizeBytes: 10 }], { maxFiles: 16, maxBytes: 500 }, 1)).toEqual([[0], [1], [2]]);
  });
});
