import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { archiveKey, utcDayOf, type UtcDay } from '@dcar/domain';
import { loadConfig } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigV4Presigner } from '../src/presign.js';
import { createSdkPresignClient, sdkPresignGet } from './sdk-presign.js';
import { DAILY, bearer, putArchiveRows, requestToken, seedTenant, startTestApi } from './helpers.js';

let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment();
});

afterAll(async () => {
  await env?.close();
});

describe('in-process SigV4 presigner', () => {
  it('produces byte-identical URLs to the SDK’s getSignedUrl for the same inputs and time', async () => {
    const endpoints = ['http://127.0.0.1:9000', 'https://s3.example.com/', 'http://files.example.com:8080/base/path/'];
    const keys = ['t1/daily-conversation-audio-recordings/2025/12/12/03.zip', "odd key/ü+!'()*~=&?#.zip", 'a//b/'];
    const dates = [new Date('2025-12-13T02:15:32.123Z'), new Date('2024-02-29T23:59:59.999Z'), new Date()];
    for (const endpoint of endpoints) {
      const s3 = { ...env.config.s3, publicEndpoint: endpoint, region: 'eu-central-1', accessKeyId: 'AKIA/EXAMPLE', secretAccessKey: 'wJalr/K7MDENG+bPxRfiCY' };
      const client = createSdkPresignClient(s3);
      for (const expiresInSeconds of [60, 86_400]) {
        const presigner = createSigV4Presigner({ ...s3, endpoint, bucket: 'daily-audio-archives', expiresInSeconds });
        for (const key of keys) {
          for (const signingDate of dates) {
            const expected = await sdkPresignGet(client, { bucket: 'daily-audio-archives', key, signingDate, expiresInSeconds });
            expect(presigner.presignGet(key, signingDate)).toBe(expected);
          }
        }
      }
      client.destroy();
    }
  });

  it('signs URLs for the public endpoint, not the internal one (the SDK reference it is compared with)', async () => {
    const config = loadConfig({ S3_ENDPOINT: env.config.s3.endpoint, S3_PUBLIC_ENDPOINT: 'https://files.example.com' });
    const url = new URL(await sdkPresignGet(createSdkPresignClient(config.s3), { bucket: 'arc-bucket', key: 'acme/x/01.zip', signingDate: new Date() }));
    expect(url.origin).toBe('https://files.example.com');
    expect(url.pathname).toBe('/arc-bucket/acme/x/01.zip');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('86400');
  });
});

describe('links handed out by the API', () => {
  it('download the ZIP’s bytes from the store, and stop working once expired', async () => {
    const now = new Date();
    const day = utcDayOf(new Date(now.getTime() - 86_400_000)) as UtcDay;
    const { clientId, clientSecret } = await seedTenant(env.knex, 'dl');
    const zip = randomBytes(200_000);
    await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: archiveKey('dl', day, 13), Body: zip }));
    await putArchiveRows(env.knex, 'dl', day, [{ hour: 13, status: 'available', sessionCount: 1, fileCount: 1, sizeBytes: zip.length, generatedAt: now }]);

    const api = await startTestApi(env);
    // Signed an hour ago with a 60 s lifetime: the same store, a link that has expired.
    const stale = await startTestApi(env, {
      now: () => new Date(now.getTime() - 3_600_000),
      presigner: createSigV4Presigner({ ...env.config.s3, endpoint: env.config.s3.publicEndpoint, bucket: env.config.s3.archiveBucket, expiresInSeconds: 60 }),
    });
    try {
      const address = await api.app.listen({ port: 0, host: '127.0.0.1' });
      const token = await requestToken(api.app, clientId, clientSecret);
      const response = await fetch(`${address}${DAILY}/${day}`, { headers: bearer(token) });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { links: Array<{ url: string | null; sizeBytes: number }> };
      const link = body.links[13]!;
      expect(link.sizeBytes).toBe(zip.length);
      const download = await fetch(link.url!);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(zip)).toBe(true);

      const staleBody = (await stale.app.inject({ method: 'GET', url: `${DAILY}/${day}`, headers: bearer(token) })).json() as typeof body;
      const expired = await fetch(staleBody.links[13]!.url!);
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('Request has expired');
    } finally {
      await api.close();
      await stale.close();
    }
  });
});
