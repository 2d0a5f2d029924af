import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { archiveKey, utcDayOf } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigV4Presigner } from '../src/presign.js';
import { DAILY, bearer, putArchiveRows, requestToken, seedTenant, startTestApi } from './helpers.js';

let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment();
});

afterAll(async () => {
  await env?.close();
});

describe('store links handed out by the API (DOWNLOAD_LINKS=direct)', () => {
  it('download the ZIP’s bytes from the store, and stop working once expired', async () => {
    const now = new Date();
    const day = utcDayOf(new Date(now.getTime() - 86_400_000));
    const { clientId, clientSecret } = await seedTenant(env.knex, 'dl');
    const zip = randomBytes(200_000);
    await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: archiveKey('dl', day, 13), Body: zip }));
    await putArchiveRows(env.knex, 'dl', day, [{ hour: 13, status: 'available', sessionCount: 1, fileCount: 1, sizeBytes: zip.length, generatedAt: now }]);

    // Presigned store URLs in the daily answer (DOWNLOAD_LINKS=direct), as before links went through the API.
    const direct = { ...env.config, downloads: { ...env.config.downloads, mode: 'direct' as const } };
    const api = await startTestApi(env, { config: direct });
    // Signed an hour ago with a 60 s lifetime: the same store, a link that has expired.
    const stale = await startTestApi(env, {
      config: direct,
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

      const staleBody = (await stale.app.inject({ method: 'GET', url: `${DAILY}/${day}`, headers: bearer(token) })).json<typeof body>();
      const expired = await fetch(staleBody.links[13]!.url!);
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('Request has expired');
    } finally {
      await api.close();
      await stale.close();
    }
  });
});
