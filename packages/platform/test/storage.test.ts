import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, ensureBuckets, loadSystemConfig } from '../src/index.js';
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
});
