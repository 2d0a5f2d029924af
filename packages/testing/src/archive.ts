import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArchiveMetadata, type ArchiveMetadata } from '@dcar/domain';
import yauzl from 'yauzl';

const run = promisify(execFile);

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  compressionMethod: number;
  content: Buffer;
}

/** Every entry of a ZIP file with its bytes, in central-directory order (for archives of test and demo size). */
export async function readZipFile(path: string): Promise<ZipEntry[]> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true });
  const entries: ZipEntry[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      entries.push({ name: entry.fileName, compressionMethod: entry.compressionMethod, content: Buffer.concat(chunks) });
    }
  } finally {
    zip.close();
  }
  return entries;
}

/** The parsed `metadata.json` of an archive's entries. */
export function archiveMetadataOf(entries: readonly ZipEntry[]): ArchiveMetadata {
  const entry = entries.find((e) => e.name === 'metadata.json');
  if (!entry) throw new Error('the archive has no metadata.json');
  return parseArchiveMetadata(entry.content.toString('utf8'));
}

export interface ProbedAudio {
  formatName: string;
  codecName: string;
  channels: number;
  sampleRate: number;
  durationSeconds: number;
  bitRate: number;
}

/** What ffprobe (JSON output) reads in an audio file that must hold exactly one stream. */
export async function probeAudioFile(path: string): Promise<ProbedAudio> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_name,channels,sample_rate:format=format_name,duration,bit_rate',
    '-of',
    'json',
    path,
  ]);
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
}
