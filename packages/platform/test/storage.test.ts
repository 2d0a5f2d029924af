import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPresignClient, createS3Client, ensureBuckets, loadSystemConfig } from '../src/index.js';
import { createTestS3, uniqueName } from '@dcar/testing';

let s3store: Awaited<ReturnType<typeof createTestS3>>;
beforeAll(async () => {
  s3store = await createTestS3();
});
afterAll(async () => {
  await s3store.close();
});

describe('object store', () => {
  it('creates missing buckets, idempotently, and round-trips objects path-style', async () => {
    const config = loadSystemConfig({ S3_ENDPOINT: s3store.store.endpoint });
    const client = createS3Client(config.s3);
    const bucket = uniqueName('new-');
    await ensureBuckets(client, [bucket, bucket, s3store.archiveBucket]);
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/b.txt', Body: 'hello' }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/b.txt' }));
    expect(await got.Body?.transformToString()).toBe('hello');
    client.destroy();
  });

  it('signs URLs for the public endpoint, not the internal one', async () => {
    const config = loadSystemConfig({ S3_ENDPOINT: s3store.store.endpoint, S3_PUBLIC_ENDPOINT: 'https://files.example.com' });
    const presigner = createPresignClient(config.s3);
    const url = new URL(
      await getSignedUrl(presigner, new GetObjectCommand({ Bucket: 'arc-bucket', Key: 'acme/x/01.zip' }), { expiresIn: 86_400 }),
    );
    expect(url.origin).toBe('https://files.example.com');
    expect(url.pathname).toBe('/arc-bucket/acme/x/01.zip');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('86400');
  });
});
