import { loadApiConfig } from '@dcar/platform';
import { describe, expect, it } from 'vitest';
import { createSigV4Presigner } from '../src/presign.js';
import { createSdkPresignClient, sdkPresignGet } from './sdk-presign.js';

// Signing is pure: no store is reached, the SDK only computes its URL.
const BASE_S3 = loadApiConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000' }).s3;

describe('in-process SigV4 presigner', () => {
  const endpoints = ['http://127.0.0.1:9000', 'https://s3.example.com/', 'http://files.example.com:8080/base/path/'];
  const keys = ['t1/daily-conversation-audio-recordings/2025/12/12/03.zip', "odd key/ü+!'()*~=&?#.zip", 'a//b/'];
  const dates = [new Date('2025-12-13T02:15:32.123Z'), new Date('2024-02-29T23:59:59.999Z'), new Date()];
  const variants = [
    { name: 'path-style', forcePathStyle: true, sessionToken: null },
    { name: 'virtual-hosted', forcePathStyle: false, sessionToken: null },
    { name: 'path-style with a session token', forcePathStyle: true, sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDO+token/with=odd&chars' },
    { name: 'virtual-hosted with a session token', forcePathStyle: false, sessionToken: 'IQoJb3JpZ2luX2VjEHUaCXVzLWVhc3QtMSJGMEQCIF' },
  ];

  it.each(variants)('produces byte-identical URLs to the SDK’s getSignedUrl for the same inputs and time: $name', async ({ forcePathStyle, sessionToken }) => {
    for (const endpoint of endpoints) {
      for (const bucket of ['daily-audio-archives', 'archives.example']) {
        // The SDK itself cannot address a dotted bucket virtual-hosted on an IP address (it builds an invalid URL).
        if (!forcePathStyle && bucket.includes('.') && endpoint.includes('127.0.0.1')) continue;
        const s3 = {
          ...BASE_S3,
          publicEndpoint: endpoint,
          region: 'eu-central-1',
          accessKeyId: 'AKIA/EXAMPLE',
          secretAccessKey: 'wJalr/K7MDENG+bPxRfiCY',
          forcePathStyle,
          sessionToken,
        };
        const client = createSdkPresignClient(s3);
        for (const expiresInSeconds of [60, 86_400]) {
          const presigner = createSigV4Presigner({ ...s3, endpoint, bucket, expiresInSeconds });
          for (const key of keys) {
            for (const signingDate of dates) {
              const expected = await sdkPresignGet(client, { bucket, key, signingDate, expiresInSeconds });
              expect(presigner.presignGet(key, signingDate)).toBe(expected);
            }
          }
        }
        client.destroy();
      }
    }
  });

  it('puts the bucket in the host name when virtual-hosted, and the session token in the signed query', () => {
    const presigner = createSigV4Presigner({
      ...BASE_S3,
      endpoint: 'https://s3.eu-central-1.amazonaws.com',
      bucket: 'arc-bucket',
      forcePathStyle: false,
      sessionToken: 'tok/en',
    });
    const url = new URL(presigner.presignGet('acme/x/01.zip', new Date()));
    expect(url.host).toBe('arc-bucket.s3.eu-central-1.amazonaws.com');
    expect(url.pathname).toBe('/acme/x/01.zip');
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe('tok/en');
  });

  it('signs URLs for the public endpoint, not the internal one (the SDK reference it is compared with)', async () => {
    const config = loadApiConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000', S3_PUBLIC_ENDPOINT: 'https://files.example.com' });
    const url = new URL(await sdkPresignGet(createSdkPresignClient(config.s3), { bucket: 'arc-bucket', key: 'acme/x/01.zip', signingDate: new Date() }));
    expect(url.origin).toBe('https://files.example.com');
    expect(url.pathname).toBe('/arc-bucket/acme/x/01.zip');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('86400');
  });
});
