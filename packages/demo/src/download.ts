import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface Downloaded {
  path: string;
  size: number;
  /** Hex SHA-256 of the bytes downloaded, computed while they were written. */
  sha256: string;
  /** Where a link to the API redirected (the store's presigned URL); null for a direct store link. */
  redirectedTo: string | null;
  cleanup(): Promise<void>;
}

/**
 * Downloads an hour's ZIP through its link, as a client would, to a temporary file. A link to the
 * API answers 302 to a short-lived store URL, which is followed here step by step (so the demo can
 * show it); a direct store link answers 200 at once.
 */
export async function download(url: string): Promise<Downloaded> {
  const directory = await mkdtemp(join(tmpdir(), 'dcar-download-'));
  const cleanup = () => rm(directory, { recursive: true, force: true });
  try {
    let response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(60_000) });
    let redirectedTo: string | null = null;
    if (response.status === 302) {
      redirectedTo = response.headers.get('location');
      await response.arrayBuffer();
      if (!redirectedTo) throw new Error('the link answered 302 without a Location');
      response = await fetch(redirectedTo, { signal: AbortSignal.timeout(300_000) });
    }
    if (!response.ok || !response.body) {
      const body = (await response.json().catch(() => ({}))) as { error?: string };
      throw new Error(`download failed with HTTP ${response.status}${body.error ? `: ${body.error}` : ''}`);
    }
    const path = join(directory, 'archive.zip');
    const hash = createHash('sha256');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(response.body, hashing, createWriteStream(path));
    return { path, size, sha256: hash.digest('hex'), redirectedTo, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
