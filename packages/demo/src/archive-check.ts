import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { ArchiveMetadata } from '@dcar/domain';
import yauzl from 'yauzl';

const execFileAsync = promisify(execFile);

export interface ArchiveEntry {
  path: string;
  /** 0 = stored (the contract wants no deflate for audio). */
  compressionMethod: number;
  size: number;
}

type EntryVisitor = (entry: yauzl.Entry, open: () => Promise<NodeJS.ReadableStream>) => Promise<'continue' | 'stop'>;

/** Walks a ZIP's entries in central-directory order, one at a time. */
function visitEntries(zipPath: string, visit: EntryVisitor): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true }, (openError, zip) => {
      if (openError || !zip) return reject(openError ?? new Error(`cannot open ${zipPath}`));
      const fail = (error: unknown) => {
        zip.close();
        reject(error);
      };
      const open = (entry: yauzl.Entry) =>
        new Promise<NodeJS.ReadableStream>((resolveStream, rejectStream) =>
          zip.openReadStream(entry, (error, stream) => (error || !stream ? rejectStream(error) : resolveStream(stream))),
        );
      zip.on('error', fail);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        visit(entry, () => open(entry)).then((next) => {
          if (next === 'stop') {
            zip.close();
            resolve();
          } else zip.readEntry();
        }, fail);
      });
      zip.readEntry();
    });
  });
}

/** Reads a ZIP file's central directory and its `metadata.json`. */
export async function readArchive(zipPath: string): Promise<{ entries: ArchiveEntry[]; metadata: ArchiveMetadata }> {
  const entries: ArchiveEntry[] = [];
  let metadata: ArchiveMetadata | null = null;
  await visitEntries(zipPath, async (entry, open) => {
    entries.push({ path: entry.fileName, compressionMethod: entry.compressionMethod, size: entry.uncompressedSize });
    if (entry.fileName === 'metadata.json') {
      const chunks: Buffer[] = [];
      for await (const chunk of await open()) chunks.push(chunk as Buffer);
      metadata = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ArchiveMetadata;
    }
    return 'continue';
  });
  if (!metadata) throw new Error(`${zipPath} has no metadata.json`);
  return { entries, metadata };
}

/** Extracts one entry of a ZIP to `target`. */
export async function extractEntry(zipPath: string, entryPath: string, target: string): Promise<void> {
  let found = false;
  await visitEntries(zipPath, async (entry, open) => {
    if (entry.fileName !== entryPath) return 'continue';
    await pipeline(await open(), createWriteStream(target));
    found = true;
    return 'stop';
  });
  if (!found) throw new Error(`${zipPath} has no entry ${entryPath}`);
}

export interface OpusProbe {
  formatName: string;
  codecName: string;
  channels: number;
  sampleRate: number;
  durationSeconds: number;
  bitRate: number;
}

/** What ffprobe reads in an audio file: container, codec, channels, duration and bit rate. */
export async function probeAudio(path: string): Promise<OpusProbe> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path]);
  const probe = JSON.parse(stdout) as {
    format: { format_name: string; duration: string; bit_rate: string; size: string };
    streams: Array<{ codec_type: string; codec_name: string; channels: number; sample_rate: string }>;
  };
  const audio = probe.streams.find((s) => s.codec_type === 'audio');
  if (!audio) throw new Error(`${path} has no audio stream`);
  return {
    formatName: probe.format.format_name,
    codecName: audio.codec_name,
    channels: audio.channels,
    sampleRate: Number(audio.sample_rate),
    durationSeconds: Number(probe.format.duration),
    bitRate: Number(probe.format.bit_rate),
  };
}

/** Downloads `url` to a temporary file; returns its path, size and a clean-up. */
export async function download(url: string): Promise<{ path: string; size: number; status: number; cleanup(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'dcar-download-'));
  const path = join(directory, 'archive.zip');
  const response = await fetch(url);
  if (!response.ok || !response.body) {
    await rm(directory, { recursive: true, force: true });
    throw new Error(`download failed with HTTP ${response.status}`);
  }
  const file = createWriteStream(path);
  await pipeline(response.body, file);
  return { path, size: file.bytesWritten, status: response.status, cleanup: () => rm(directory, { recursive: true, force: true }) };
}
