import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Config } from '@dcar/platform';
import { DEFAULT_PRESIGN_EXPIRY_SECONDS } from '../src/presign.js';

/**
 * An SDK client that only signs, for the address clients reach (S3_PUBLIC_ENDPOINT): the signature
 * covers the host. Configured as the services' own client is, with the public endpoint.
 */
export function createSdkPresignClient(s3: S3Config): S3Client {
  return new S3Client({
    endpoint: s3.publicEndpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}) },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The AWS SDK's presigned GET: the reference the in-process presigner is tested and measured against. */
export function sdkPresignGet(client: S3Client, input: { bucket: string; key: string; signingDate: Date; expiresInSeconds?: number }): Promise<string> {
  return getSignedUrl(client, new GetObjectCommand({ Bucket: input.bucket, Key: input.key }), {
    expiresIn: input.expiresInSeconds ?? DEFAULT_PRESIGN_EXPIRY_SECONDS,
    signingDate: input.signingDate,
  });
}
