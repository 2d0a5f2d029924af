import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DEFAULT_PRESIGN_EXPIRY_SECONDS } from '../src/presign.js';

/** The AWS SDK's presigned GET: the reference the in-process presigner is tested and measured against. */
export function sdkPresignGet(
  client: S3Client,
  input: { bucket: string; key: string; signingDate: Date; expiresInSeconds?: number },
): Promise<string> {
  return getSignedUrl(client, new GetObjectCommand({ Bucket: input.bucket, Key: input.key }), {
    expiresIn: input.expiresInSeconds ?? DEFAULT_PRESIGN_EXPIRY_SECONDS,
    signingDate: input.signingDate,
  });
}
