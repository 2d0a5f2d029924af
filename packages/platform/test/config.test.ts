import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_JWT_SIGNING_KEY, DEVELOPMENT_WEBHOOK_SECRET_KEY, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('gives working developer defaults for every variable', () => {
    const config = loadConfig({});
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/dcar');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.s3).toMatchObject({
      endpoint: 'http://127.0.0.1:9000',
      publicEndpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      accessKeyId: 'minioadmin',
      secretAccessKey: 'minioadmin',
    });
    expect(config.api).toEqual({ port: 3000, host: '0.0.0.0', rateLimitPerHour: 10 });
    expect(config.scheduler.nightlyCron).toBe('15 0 * * *');
    expect(config.auth.signingKey).toBe(DEVELOPMENT_JWT_SIGNING_KEY);
    expect(config.worker.transcodeConcurrency).toBeGreaterThanOrEqual(1);
  });

  it('reads values and keeps the public endpoint apart', () => {
    const config = loadConfig({
      S3_ENDPOINT: 'http://minio:9000',
      S3_PUBLIC_ENDPOINT: 'https://files.example.com',
      RATE_LIMIT_PER_HOUR: '25',
      WORKER_CONCURRENCY: '4',
      TRANSCODE_CONCURRENCY: '3',
    });
    expect(config.s3.endpoint).toBe('http://minio:9000');
    expect(config.s3.publicEndpoint).toBe('https://files.example.com');
    expect(config.api.rateLimitPerHour).toBe(25);
    expect(config.worker).toMatchObject({ concurrency: 4, transcodeConcurrency: 3 });
  });

  it.each([
    [{ S3_ENDPOINT: 'nope' }, /^Invalid configuration: S3_ENDPOINT must be a URL starting with http:\/\/ or https:\/\/ \(got "nope"\)$/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must be a URL starting with postgres:/],
    [{ API_PORT: '70000' }, /API_PORT must be an integer from 0 to 65535/],
    [{ RATE_LIMIT_PER_HOUR: 'ten' }, /RATE_LIMIT_PER_HOUR must be an integer/],
    [{ WORKER_CONCURRENCY: '0' }, /WORKER_CONCURRENCY must be an integer from 1/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ NIGHTLY_CRON: 'every night' }, /NIGHTLY_CRON must be a cron pattern/],
    [{ S3_ARCHIVE_BUCKET: 'A' }, /S3_ARCHIVE_BUCKET must be an S3 bucket name/],
    [{ AUTH_JWKS_URL: 'http://idp/jwks' }, /AUTH_ISSUER must be set/],
    [{ WEBHOOK_ALLOW_INSECURE: 'yes' }, /^Invalid configuration: WEBHOOK_ALLOW_INSECURE must be true or false \(got "yes"\)$/],
    [{ WEBHOOK_SECRET_KEY: 'short' }, /^Invalid configuration: WEBHOOK_SECRET_KEY must be at least 32 characters$/],
  ])('stops on %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never echoes a secret it refuses', () => {
    expect(() => loadConfig({ JWT_SIGNING_KEY: 'short-secret' })).toThrow(/^Invalid configuration: JWT_SIGNING_KEY must be at least 32 characters$/);
  });

  it('refuses development secrets in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SIGNING_KEY must be set when NODE_ENV=production/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SIGNING_KEY: 'k'.repeat(40) })).toThrow(/HOST_CLIENT_SECRET/);
    const production = { NODE_ENV: 'production', JWT_SIGNING_KEY: 'k'.repeat(40), HOST_CLIENT_SECRET: 'h'.repeat(20) };
    expect(() => loadConfig(production)).toThrow(/^Invalid configuration: WEBHOOK_SECRET_KEY must be set to a non-default value when NODE_ENV=production$/);
    expect(() => loadConfig({ ...production, WEBHOOK_SECRET_KEY: DEVELOPMENT_WEBHOOK_SECRET_KEY })).toThrow(/WEBHOOK_SECRET_KEY/);
    expect(loadConfig({ ...production, WEBHOOK_SECRET_KEY: 'w'.repeat(40) }).webhooks).toEqual({ secretKey: 'w'.repeat(40), allowInsecure: false, concurrency: 10 });
  });
});
