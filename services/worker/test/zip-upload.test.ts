import { rm } from 'node:fs/promises';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startZipUpload } from '../src/zip-upload.js';
import { objectExists, readZipObject, sha256 } from './helpers.js';

let env: TestEnvironment;
const directories: string[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  await env?.close();
});

describe('zip upload', () => {
  it('writes ZIP64 when an hour has more than 65,535 entries, and reports the hash and size of what was stored', async () => {
    const upload = startZipUpload({ s3: env.s3, bucket: env.config.s3.archiveBucket, key: 'many.zip', encryption: null });
    const count = 70_000;
    for (let i = 0; i < count; i++) upload.zip.addBuffer(Buffer.from(`entry ${i}`), `c/s/message_${i}_t.opus`, { compress: false });
    const uploaded = await upload.complete();
    const { entries, bytes, directory } = await readZipObject(env.s3, env.config.s3.archiveBucket, 'many.zip');
    directories.push(directory);
    expect(entries).toHaveLength(count);
    expect(entries[count - 1]).toMatchObject({ name: `c/s/message_${count - 1}_t.opus`, compressionMethod: 0 });
    expect(entries[count - 1]?.content.toString()).toBe(`entry ${count - 1}`);
    // The ZIP64 end-of-central-directory record (signature 0x06064b50) is present.
    expect(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true);
    expect(uploaded).toEqual({ sha256: sha256(bytes), sizeBytes: bytes.length });
  });

  it('a failure after parts were uploaded leaves no object', async () => {
    const parts: number[] = [];
    const upload = startZipUpload({
      s3: env.s3,
      bucket: env.config.s3.archiveBucket,
      key: 'failed.zip',
      encryption: null,
      partSizeBytes: 5 * 1024 * 1024,
      onPartUploaded: (part) => parts.push(part),
    });
    upload.zip.addBuffer(Buffer.alloc(12 * 1024 * 1024, 1), 'big.bin', { compress: false });
    await waitFor(() => (parts.length > 0 ? true : undefined), { timeoutMs: 20_000, intervalMs: 5, what: 'a part to be uploaded' });
    await upload.fail(new Error('source store went away'));
    await expect(upload.complete()).rejects.toThrow();
    expect(await objectExists(env.s3, env.config.s3.archiveBucket, 'failed.zip')).toBe(false);
  });
});
