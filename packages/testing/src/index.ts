import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKnex, createS3Client, dropDatabase, ensureDatabase, loadSystemConfig, migrateToLatest, type SystemConfig, type Knex } from '@dcar/platform';
import { startLocalS3, type LocalS3 } from '@dcar/platform/local-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';

export * from './source-process.js';
export * from './ports.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

/** A fresh, migrated database of the test file's own; dropped by `drop()`. */
export async function createTestDatabase(): Promise<{ url: string; knex: Knex; drop(): Promise<void> }> {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${uniqueName('dcar_test_')}`;
  await ensureDatabase(url.toString());
  const knex = createKnex(url.toString(), { max: 5 });
  await migrateToLatest(knex);
  return {
    url: url.toString(),
    knex,
    drop: async () => {
      await knex.destroy();
      await dropDatabase(url.toString());
    },
  };
}

/** A Redis key prefix of the test file's own; `flush()` deletes every key under it. */
export function createTestRedis(): Promise<{ url: string; prefix: string; flush(): Promise<void> }> {
  const prefix = uniqueName('t');
  return Promise.resolve({
    url: TEST_REDIS_URL,
    prefix,
    flush: async () => {
      const redis = new Redis(TEST_REDIS_URL);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) await redis.unlink(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  });
}

/** The embedded S3 store on a free port, with buckets of the test file's own. */
export async function createTestS3(): Promise<{ store: LocalS3; sourceBucket: string; archiveBucket: string; close(): Promise<void> }> {
  const directory = mkdtempSync(join(tmpdir(), 'dcar-s3-'));
  const sourceBucket = uniqueName('src-');
  const archiveBucket = uniqueName('arc-');
  const store = await startLocalS3({ port: 0, directory, buckets: [sourceBucket, archiveBucket] });
  return {
    store,
    sourceBucket,
    archiveBucket,
    close: async () => {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export interface TestEnvironment {
  config: SystemConfig;
  /** The environment variables that give `config`, for starting services as child processes. */
  env: Record<string, string>;
  knex: Knex;
  s3: S3Client;
  redisPrefix: string;
  close(): Promise<void>;
}

/**
 * Everything a test file needs, isolated from every other file: its own database, Redis prefix,
 * S3 store and buckets. `overrides` are environment variables, validated like a service's.
 */
export async function createTestEnvironment(overrides: Record<string, string> = {}): Promise<TestEnvironment> {
  const [database, redis, s3store] = await Promise.all([createTestDatabase(), createTestRedis(), createTestS3()]);
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    S3_ENDPOINT: s3store.store.endpoint,
    S3_SOURCE_BUCKET: s3store.sourceBucket,
    S3_ARCHIVE_BUCKET: s3store.archiveBucket,
    // Retry rounds back to back (the default waits 5 minutes); a test of the spacing sets its own.
    RETRY_ROUND_DELAY_SECONDS: '0',
    ...overrides,
  };
  const config = loadSystemConfig(env);
  const s3 = createS3Client(config.s3);
  return {
    config,
    env,
    knex: database.knex,
    s3,
    redisPrefix: redis.prefix,
    close: async () => {
      s3.destroy();
      await Promise.allSettled([database.drop(), redis.flush(), s3store.close()]);
    },
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${options.what ?? 'condition'}${lastError ? `: ${lastError instanceof Error ? String(lastError) : JSON.stringify(lastError)}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
