import { open } from 'node:fs/promises';

/** What a finished Ogg Opus file says about itself. */
export interface OggOpusInfo {
  channels: number;
  /** Audio length from the last page's granule position, pre-skip removed (Opus always counts at 48 kHz). */
  durationSeconds: number;
  sizeBytes: number;
}

const CAPTURE = Buffer.from('OggS');
const PAGE_HEADER_BYTES = 27;
// A page is at most 27 + 255 + 255 * 255 bytes: a tail this long always holds the last page's start.
const TAIL_BYTES = 65_536 + 512;

interface PageHeader {
  granule: bigint;
  sequence: number;
  headerType: number;
  /** Total page length (header, segment table and body). */
  length: number;
  bodyOffset: number;
}

function parsePageHeader(buffer: Buffer, offset: number): PageHeader | null {
  if (offset + PAGE_HEADER_BYTES > buffer.length) return null;
  if (!buffer.subarray(offset, offset + 4).equals(CAPTURE) || buffer[offset + 4] !== 0) return null;
  const segments = buffer[offset + 26] ?? 0;
  const tableEnd = offset + PAGE_HEADER_BYTES + segments;
  if (tableEnd > buffer.length) return null;
  let bodyLength = 0;
  for (let i = offset + PAGE_HEADER_BYTES; i < tableEnd; i++) bodyLength += buffer[i] ?? 0;
  return {
    granule: buffer.readBigInt64LE(offset + 6),
    sequence: buffer.readUInt32LE(offset + 18),
    headerType: buffer[offset + 5] ?? 0,
    length: PAGE_HEADER_BYTES + segments + bodyLength,
    bodyOffset: tableEnd,
  };
}

/**
 * Checks that a file is a complete Ogg Opus stream with audio in it, reading only its head and
 * tail: the first page must carry `OpusHead`, the last page must end the file and the stream
 * (end-of-stream flag) and be past the two header pages with a granule beyond the pre-skip.
 * ffmpeg can exit 0 having written only the headers (a WAV header without samples), and a killed
 * ffmpeg leaves a truncated file: both are rejected. Returns null for anything else.
 */
export async function inspectOggOpus(path: string): Promise<OggOpusInfo | null> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size < PAGE_HEADER_BYTES * 3) return null;
    const head = Buffer.alloc(Math.min(size, 4096));
    await file.read(head, 0, head.length, 0);
    const first = parsePageHeader(head, 0);
    if (!first || first.bodyOffset + 19 > head.length) return null;
    if (head.toString('latin1', first.bodyOffset, first.bodyOffset + 8) !== 'OpusHead') return null;
    const channels = head[first.bodyOffset + 9] ?? 0;
    const preSkip = head.readUInt16LE(first.bodyOffset + 10);

    const tailStart = Math.max(0, size - TAIL_BYTES);
    const tail = Buffer.alloc(size - tailStart);
    await file.read(tail, 0, tail.length, tailStart);
    for (let at = tail.lastIndexOf(CAPTURE); at >= 0; at = at > 0 ? tail.lastIndexOf(CAPTURE, at - 1) : -1) {
      const last = parsePageHeader(tail, at);
      if (!last || at + last.length !== tail.length) continue;
      const endOfStream = (last.headerType & 0x04) !== 0;
      const samples = last.granule - BigInt(preSkip);
      if (!endOfStream || last.sequence < 2 || samples <= 0n) return null;
      return { channels, durationSeconds: Number(samples) / 48_000, sizeBytes: size };
    }
    return null;
  } finally {
    await file.close();
  }
}
