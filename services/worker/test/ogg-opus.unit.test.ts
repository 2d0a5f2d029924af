import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectOggOpus } from '../src/ogg-opus.js';

// Ogg pages built by hand (RFC 3533 framing, RFC 7845 headers): the inspection reads only the
// page headers, so no encoder is needed. The CRC is not checked by the inspection and left zero.
function page(input: { headerType: number; granule: bigint; sequence: number; body: Buffer }): Buffer {
  const segments: number[] = [];
  let left = input.body.length;
  while (left >= 255) {
    segments.push(255);
    left -= 255;
  }
  segments.push(left);
  const header = Buffer.alloc(27 + segments.length);
  header.write('OggS', 0, 'latin1');
  header[4] = 0;
  header[5] = input.headerType;
  header.writeBigInt64LE(input.granule, 6);
  header.writeUInt32LE(1234, 14);
  header.writeUInt32LE(input.sequence, 18);
  header[26] = segments.length;
  segments.forEach((size, index) => (header[27 + index] = size));
  return Buffer.concat([header, input.body]);
}

function opusHead(channels: number, preSkip: number): Buffer {
  const body = Buffer.alloc(19);
  body.write('OpusHead', 0, 'latin1');
  body[8] = 1;
  body[9] = channels;
  body.writeUInt16LE(preSkip, 10);
  body.writeUInt32LE(48_000, 12);
  return body;
}

function stream(input: { channels: number; preSkip: number; lastGranule: bigint; audioBytes?: number; endOfStream?: boolean }): Buffer {
  return Buffer.concat([
    page({ headerType: 0x02, granule: 0n, sequence: 0, body: opusHead(input.channels, input.preSkip) }),
    page({ headerType: 0, granule: 0n, sequence: 1, body: Buffer.from('OpusTags\0\0\0\0\0\0\0\0', 'latin1') }),
    page({ headerType: input.endOfStream === false ? 0 : 0x04, granule: input.lastGranule, sequence: 2, body: Buffer.alloc(input.audioBytes ?? 600, 7) }),
  ]);
}

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'dcar-ogg-unit-'));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function inspect(name: string, content: Buffer) {
  const path = join(directory, name);
  await writeFile(path, content);
  return inspectOggOpus(path);
}

describe('Ogg Opus inspection', () => {
  it('reads the channels and the duration (last granule less the pre-skip, at 48 kHz) of a complete stream', async () => {
    const whole = stream({ channels: 2, preSkip: 312, lastGranule: 312n + 96_000n });
    expect(await inspect('whole.opus', whole)).toEqual({ channels: 2, durationSeconds: 2, sizeBytes: whole.length });
  });

  it('rejects a truncated file, a stream without its end, headers only and anything that is not Ogg Opus', async () => {
    const whole = stream({ channels: 1, preSkip: 312, lastGranule: 48_312n });
    expect(await inspect('truncated.opus', whole.subarray(0, whole.length - 100))).toBeNull();
    expect(await inspect('open.opus', stream({ channels: 1, preSkip: 312, lastGranule: 48_312n, endOfStream: false }))).toBeNull();
    expect(await inspect('silent.opus', stream({ channels: 1, preSkip: 312, lastGranule: 312n }))).toBeNull();
    const notOpus = Buffer.from(whole);
    notOpus.write('OpusHexx', 28, 'latin1');
    expect(await inspect('not-opus.opus', notOpus)).toBeNull();
    expect(await inspect('text.opus', Buffer.from('this is not audio at all, just text '.repeat(10)))).toBeNull();
  });
});
