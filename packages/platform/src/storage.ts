import { CreateBucketCommand, HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Config } from './config.js';

function clientConfig(s3: Config['s3']): S3ClientConfig {
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    // MinIO and s3rver do not speak the SDK's newer default checksums on every operation.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** Client for the services' own traffic (S3_ENDPOINT). */
export function createS3Client(s3: Config['s3']): S3Client {
  return new S3Client(clientConfig(s3));
}

/** Creates the buckets that do not exist yet; safe to call from every process at start. */
export async function ensureBuckets(client: S3Client, buckets: string[]): Promise<void> {
  for (const bucket of buckets) {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch {
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
      }
    }
  }
}
