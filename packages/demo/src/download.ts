import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Downloads `url` (a presigned link, as a client would) to a temporary file; returns its path, size and a clean-up. */
export async function download(url: string): Promise<{ path: string; size: number; cleanup(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'dcar-download-'));
  const cleanup = () => rm(directory, { recursive: true, force: true });
  const path = join(directory, 'archive.zip');
  const response = await fetch(url);
  if (!response.ok || !response.body) {
    await cleanup();
    throw new Error(`download failed with HTTP ${response.status}`);
  }
  const file = createWriteStream(path);
  await pipeline(response.body, file);
  return { path, size: file.bytesWritten, cleanup };
}
