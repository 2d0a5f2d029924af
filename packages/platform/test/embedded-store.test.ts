import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { freePort, startService, waitFor } from '@dcar/testing';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createS3Client, DEFAULT_S3_ENDPOINT, loadLocalS3Config, startEmbeddedStoreWhenUnset, type EmbeddedStore } from '../src/index.js';

const logger = createLogger({ service: 'test', level: 'silent' });
let directory: string;
const stores: EmbeddedStore[] = [];

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'dcar-embedded-store-'));
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await rm(directory, { recursive: true, force: true });
});

describe('the embedded store (CONTRACT §5: S3_ENDPOINT unset on a developer machine)', () => {
  it('is what an unset S3_ENDPOINT means, and only then', () => {
    expect(loadLocalS3Config({}).s3).toMatchObject({ embedded: true, endpoint: DEFAULT_S3_ENDPOINT, publicEndpoint: DEFAULT_S3_ENDPOINT });
    expect(loadLocalS3Config({ S3_ENDPOINT: 'http://store:9000' }).s3).toMatchObject({ embedded: false, endpoint: 'http://store:9000' });
  });

  it('is started by the first service, with both buckets, and used as it is by the next ones', async () => {
    // The default address, on a free port so that this test runs beside anything else.
    const s3 = { ...loadLocalS3Config({}).s3, endpoint: `http://127.0.0.1:${await freePort()}` };
    const config = { nodeEnv: 'development', s3 };

    const first = await startEmbeddedStoreWhenUnset(config, logger, directory);
    expect(first).not.toBeNull();
    stores.push(first!);
    // A second service (or `pnpm local:s3` started earlier) finds the port taken and starts nothing.
    expect(await startEmbeddedStoreWhenUnset(config, logger, directory)).toBeNull();

    const client = createS3Client(s3);
    await client.send(new PutObjectCommand({ Bucket: s3.sourceBucket, Key: 't/a.wav', Body: 'audio' }));
    await client.send(new PutObjectCommand({ Bucket: s3.archiveBucket, Key: 't/00.zip', Body: 'zip' }));
    const got = await client.send(new GetObjectCommand({ Bucket: s3.sourceBucket, Key: 't/a.wav' }));
    expect(await got.Body?.transformToString()).toBe('audio');
    client.destroy();
  });

  it('is never started with S3_ENDPOINT set, nor in production', async () => {
    const s3 = { ...loadLocalS3Config({}).s3, endpoint: `http://127.0.0.1:${await freePort()}` };
    expect(await startEmbeddedStoreWhenUnset({ nodeEnv: 'development', s3: { ...s3, embedded: false } }, logger, directory)).toBeNull();
    expect(await startEmbeddedStoreWhenUnset({ nodeEnv: 'production', s3 }, logger, directory)).toBeNull();
    // Nothing listens there: the store was not started.
    const client = createS3Client({ ...s3, connectTimeoutMs: 500 });
    await expect(client.send(new GetObjectCommand({ Bucket: s3.sourceBucket, Key: 'x' }))).rejects.toThrow();
    client.destroy();
  });

  // Seen by hand: `start:api`, `start:scheduler` and `start:worker` started together each found the
  // port free, and the ones that lost the race to listen stopped with EADDRINUSE.
  it('is hosted by exactly one of several services started at the same moment, and the others use it', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/host-embedded-store.ts', import.meta.url));
    for (let round = 0; round < 3; round++) {
      const endpoint = `http://127.0.0.1:${await freePort()}`;
      const services = Array.from({ length: 3 }, () => startService(fixture, {}, { args: [endpoint, directory], stdin: true }));
      try {
        // Loaded and waiting, so that "go" starts them within a millisecond of each other.
        await waitFor(() => services.every((service) => service.output().includes('ready\n')) || undefined, {
          what: 'the services to load',
          timeoutMs: 60_000,
        });
        for (const { child } of services) child.stdin?.write('go\n');
        const answer = (output: string) => /^(hosting|using another|failed: .*)$/m.exec(output)?.[1];
        const answers = await waitFor(
          () => (services.every((service) => answer(service.output())) ? services.map((service) => answer(service.output())) : undefined),
          {
            what: 'every service to start',
            timeoutMs: 30_000,
          },
        );
        expect(answers.sort(), `round ${String(round)}`).toEqual(['hosting', 'using another', 'using another']);
      } finally {
        await Promise.all(services.map((service) => service.kill('SIGKILL')));
      }
    }
  }, 120_000);
});
