import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEVELOPMENT_DOWNLOAD_LINK_KEY,
  DEVELOPMENT_HOST_CLIENT_SECRET,
  DEVELOPMENT_JWT_SIGNING_KEY,
  DEVELOPMENT_WEBHOOK_SECRET_KEY,
  loadAdminConfig,
  loadApiConfig,
  loadMigrateConfig,
  loadSchedulerConfig,
  loadSystemConfig,
  loadWorkerConfig,
} from '../src/config.js';

const directory = mkdtempSync(join(tmpdir(), 'dcar-config-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function secretFile(name: string, content: string): string {
  const path = join(directory, name);
  writeFileSync(path, content);
  return path;
}

/** The whole message, one line, nothing else. */
const exactly = (message: string) => new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

const STRONG = 'k'.repeat(40);
const PRODUCTION_WEBHOOKS = { WEBHOOK_SECRET_KEY: 'w'.repeat(40) };
const PRODUCTION_API = {
  NODE_ENV: 'production',
  JWT_SIGNING_KEY: STRONG,
  HOST_CLIENT_SECRET: 'h'.repeat(40),
  DOWNLOAD_LINK_KEY: 'd'.repeat(40),
  ...PRODUCTION_WEBHOOKS,
};

describe('configuration', () => {
  it('gives working developer defaults for every variable', () => {
    const config = loadSystemConfig({});
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/dcar');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.s3).toMatchObject({
      endpoint: 'http://127.0.0.1:9000',
      publicEndpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      accessKeyId: 'minioadmin',
      secretAccessKey: 'minioadmin',
    });
    // Loopback: a developer's API, on the development secrets, is not reachable from the network.
    expect(config.api).toEqual({ port: 3000, host: '127.0.0.1', rateLimitPerHour: 10, trustProxy: false });
    expect(config).toMatchObject({ logLevel: 'info', logFormat: undefined, replicaId: undefined });
    expect(config.scheduler.nightlyCron).toBe('15 0 * * *');
    expect(config.scheduler.retryRoundDelaySeconds).toBe(300);
    expect(config.auth.signingKey).toBe(DEVELOPMENT_JWT_SIGNING_KEY);
    expect(config.auth.hostClientSecret).toBe(DEVELOPMENT_HOST_CLIENT_SECRET);
    expect(config.worker.transcodeConcurrency).toBeGreaterThanOrEqual(1);
    expect(config.worker.archiveEncryption).toBeNull();
    expect(config.downloads).toEqual({
      mode: 'api',
      publicApiUrl: null,
      linkTtlSeconds: 86_400,
      redirectTtlSeconds: 300,
      linkKey: DEVELOPMENT_DOWNLOAD_LINK_KEY,
      previousLinkKeys: [],
    });
  });

  it('reads the download links’ variables', () => {
    const config = loadApiConfig({
      DOWNLOAD_LINKS: 'direct',
      PUBLIC_API_URL: 'https://api.example.com/',
      DOWNLOAD_LINK_TTL_SECONDS: '3600',
      DOWNLOAD_REDIRECT_TTL_SECONDS: '60',
      DOWNLOAD_LINK_KEY: 'd'.repeat(40),
      DOWNLOAD_LINK_PREVIOUS_KEYS: `${'p'.repeat(40)}, ${'q'.repeat(40)}`,
    });
    expect(config.downloads).toEqual({
      mode: 'direct',
      publicApiUrl: 'https://api.example.com',
      linkTtlSeconds: 3600,
      redirectTtlSeconds: 60,
      linkKey: 'd'.repeat(40),
      previousLinkKeys: ['p'.repeat(40), 'q'.repeat(40)],
    });
    expect(() => loadApiConfig({ DOWNLOAD_LINKS: 's3' })).toThrow(exactly('Invalid configuration: DOWNLOAD_LINKS must be one of api, direct (got "s3")'));
    expect(() => loadApiConfig({ PUBLIC_API_URL: 'api.example.com' })).toThrow(/^Invalid configuration: PUBLIC_API_URL must be a URL/);
    expect(() => loadApiConfig({ DOWNLOAD_LINK_TTL_SECONDS: '0' })).toThrow(/^Invalid configuration: DOWNLOAD_LINK_TTL_SECONDS must be an integer from 1/);
    expect(() => loadApiConfig({ DOWNLOAD_LINK_KEY: 'short' })).toThrow(exactly('Invalid configuration: DOWNLOAD_LINK_KEY must be at least 32 characters'));
  });

  it('reads values and keeps the public endpoint apart', () => {
    const config = loadSystemConfig({
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
    [{ LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)$/],
    [{ NIGHTLY_CRON: 'every night' }, /NIGHTLY_CRON must be a cron pattern/],
    // Five fields, yet not a pattern BullMQ can schedule: refused at start, not inside the scheduler's first upsert.
    [{ NIGHTLY_CRON: '99 99 * * *' }, /^Invalid configuration: NIGHTLY_CRON must be a cron pattern of 5 or 6 fields/],
    [{ NIGHTLY_CRON: 'a b c d e' }, /^Invalid configuration: NIGHTLY_CRON must be a cron pattern/],
    [{ RECONCILE_CRON: '60 * * * *' }, /^Invalid configuration: RECONCILE_CRON must be a cron pattern/],
    [{ S3_REGION: 'us east' }, /^Invalid configuration: S3_REGION must be a region name/],
    [{ S3_ACCESS_KEY_ID: ' ' }, /^Invalid configuration: S3_ACCESS_KEY_ID must be an access key id/],
    [{ S3_SECRET_ACCESS_KEY: '  ' }, /^Invalid configuration: S3_SECRET_ACCESS_KEY must be a secret access key$/],
    [{ HOST_CLIENT_ID: ' ' }, /^Invalid configuration: HOST_CLIENT_ID must be a client id/],
    [
      { JWT_PREVIOUS_SIGNING_KEYS: 'short' },
      /^Invalid configuration: JWT_PREVIOUS_SIGNING_KEYS must be a comma-separated list of keys of at least 32 characters each$/,
    ],
    [{ DOWNLOAD_LINK_PREVIOUS_KEYS: `${'k'.repeat(40)},short` }, /^Invalid configuration: DOWNLOAD_LINK_PREVIOUS_KEYS must be a comma-separated list/],
    [{ RETRY_ROUND_DELAY_SECONDS: '-1' }, /RETRY_ROUND_DELAY_SECONDS must be an integer from 0 to 86400/],
    [{ S3_ARCHIVE_BUCKET: 'A' }, /S3_ARCHIVE_BUCKET must be an S3 bucket name/],
    [{ AUTH_JWKS_URL: 'http://idp/jwks' }, /AUTH_ISSUER must be set/],
    [{ S3_SSE: 'rot13' }, /^Invalid configuration: S3_SSE must be one of none, AES256, aws:kms \(got "rot13"\)$/],
    [{ S3_SSE: 'aws:kms' }, /^Invalid configuration: S3_SSE_KMS_KEY_ID must be set when S3_SSE=aws:kms$/],
    [{ S3_SSE: 'AES256', S3_SSE_KMS_KEY_ID: 'key' }, /^Invalid configuration: S3_SSE_KMS_KEY_ID must be set only when S3_SSE=aws:kms$/],
    [{ WEBHOOK_ALLOW_INSECURE: 'yes' }, /^Invalid configuration: WEBHOOK_ALLOW_INSECURE must be one of true, false \(got "yes"\)$/],
    [{ WEBHOOK_SECRET_KEY: 'short' }, /^Invalid configuration: WEBHOOK_SECRET_KEY must be at least 32 characters$/],
    [{ WEBHOOK_CONCURRENCY: '0' }, /^Invalid configuration: WEBHOOK_CONCURRENCY must be an integer from 1 to 1000 \(got "0"\)$/],
  ])('stops on %j with one line naming the variable', (env, message) => {
    expect(() => loadSystemConfig(env)).toThrow(message);
  });

  it('never echoes a secret it refuses', () => {
    expect(() => loadApiConfig({ JWT_SIGNING_KEY: 'short-secret' })).toThrow(/^Invalid configuration: JWT_SIGNING_KEY must be at least 32 characters$/);
    expect(() => loadApiConfig({ HOST_CLIENT_SECRET: 'short' })).toThrow(/^Invalid configuration: HOST_CLIENT_SECRET must be at least 8 characters$/);
  });

  it('maps S3_SSE to the encryption the worker asks for', () => {
    expect(loadWorkerConfig({ S3_SSE: 'none' }).worker.archiveEncryption).toBeNull();
    expect(loadWorkerConfig({ S3_SSE: 'AES256' }).worker.archiveEncryption).toEqual({ algorithm: 'AES256' });
    expect(loadWorkerConfig({ S3_SSE: 'aws:kms', S3_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:1:key/k' }).worker.archiveEncryption).toEqual({
      algorithm: 'aws:kms',
      kmsKeyId: 'arn:aws:kms:eu-west-1:1:key/k',
    });
  });
});

describe('per-service loaders', () => {
  it('a worker, the scheduler, migrate and admin load in production with no JWT key and no host credentials', () => {
    const production = { NODE_ENV: 'production' };
    const worker = loadWorkerConfig({ ...production, ...PRODUCTION_WEBHOOKS });
    expect(worker).not.toHaveProperty('auth');
    expect(worker).not.toHaveProperty('api');
    expect(Object.keys(worker).sort()).toEqual([
      'databaseUrl',
      'logFormat',
      'logLevel',
      'nodeEnv',
      'redis',
      'replicaId',
      's3',
      'shutdownTimeoutMs',
      'webhooks',
      'worker',
    ]);
    expect(Object.keys(loadSchedulerConfig(production)).sort()).toEqual([
      'databaseUrl',
      'logFormat',
      'logLevel',
      'nodeEnv',
      'redis',
      'replicaId',
      's3',
      'scheduler',
      'shutdownTimeoutMs',
    ]);
    expect(Object.keys(loadMigrateConfig(production)).sort()).toEqual(['databaseUrl', 'logFormat', 'logLevel', 'nodeEnv', 'replicaId']);
    expect(Object.keys(loadAdminConfig({ ...production, ...PRODUCTION_WEBHOOKS })).sort()).toEqual([
      'databaseUrl',
      'logFormat',
      'logLevel',
      'nodeEnv',
      'redis',
      'replicaId',
      'webhooks',
    ]);
  });

  it('fills one section from two groups: the worker gets the webhook key and its delivery concurrency', () => {
    expect(loadWorkerConfig({ ...PRODUCTION_WEBHOOKS, WEBHOOK_CONCURRENCY: '4' }).webhooks).toEqual({
      secretKey: 'w'.repeat(40),
      allowInsecure: false,
      concurrency: 4,
    });
    expect(loadApiConfig({ WEBHOOK_ALLOW_INSECURE: 'true', WEBHOOK_CONCURRENCY: 'ignored' }).webhooks).toEqual({
      secretKey: DEVELOPMENT_WEBHOOK_SECRET_KEY,
      allowInsecure: true,
    });
    expect(loadSchedulerConfig({ WEBHOOK_SECRET_KEY: 'short' })).not.toHaveProperty('webhooks');
  });

  it("each service ignores the others' variables, even invalid ones", () => {
    const others = { JWT_SIGNING_KEY: 'short', API_PORT: 'x', NIGHTLY_CRON: 'never', S3_SSE: 'rot13', WORKER_CONCURRENCY: '0' };
    expect(() => loadMigrateConfig(others)).not.toThrow();
    expect(() => loadAdminConfig(others)).not.toThrow();
    expect(() => loadWorkerConfig({ ...others, S3_SSE: 'AES256', WORKER_CONCURRENCY: '2' })).not.toThrow();
    expect(() => loadSchedulerConfig({ ...others, NIGHTLY_CRON: '0 1 * * *' })).not.toThrow();
    expect(() => loadApiConfig({ ...others, JWT_SIGNING_KEY: STRONG, API_PORT: '3000' })).not.toThrow();
  });
});

describe('the API’s address', () => {
  it('is loopback on a developer machine, every interface in production (containers behind a proxy), and API_HOST when set', () => {
    expect(loadApiConfig({}).api.host).toBe('127.0.0.1');
    expect(loadApiConfig(PRODUCTION_API).api.host).toBe('0.0.0.0');
    expect(loadApiConfig({ API_HOST: '0.0.0.0' }).api.host).toBe('0.0.0.0');
    expect(loadApiConfig({ ...PRODUCTION_API, API_HOST: '10.1.2.3' }).api.host).toBe('10.1.2.3');
  });
});

describe('production secrets', () => {
  it('accepts strong secrets', () => {
    const config = loadApiConfig(PRODUCTION_API);
    expect(config.auth.signingKey).toBe(STRONG);
  });

  it.each([
    ['an unset JWT_SIGNING_KEY', { JWT_SIGNING_KEY: undefined }, 'Invalid configuration: JWT_SIGNING_KEY must be set when NODE_ENV=production'],
    [
      'the development JWT_SIGNING_KEY',
      { JWT_SIGNING_KEY: DEVELOPMENT_JWT_SIGNING_KEY },
      'Invalid configuration: JWT_SIGNING_KEY must not be the development default when NODE_ENV=production',
    ],
    ['a 31-character JWT_SIGNING_KEY', { JWT_SIGNING_KEY: 'k'.repeat(31) }, 'Invalid configuration: JWT_SIGNING_KEY must be at least 32 characters'],
    ['an unset HOST_CLIENT_SECRET', { HOST_CLIENT_SECRET: undefined }, 'Invalid configuration: HOST_CLIENT_SECRET must be set when NODE_ENV=production'],
    [
      'the development HOST_CLIENT_SECRET',
      { HOST_CLIENT_SECRET: DEVELOPMENT_HOST_CLIENT_SECRET },
      'Invalid configuration: HOST_CLIENT_SECRET must not be the development default when NODE_ENV=production',
    ],
    [
      'a 31-character HOST_CLIENT_SECRET',
      { HOST_CLIENT_SECRET: 'h'.repeat(31) },
      'Invalid configuration: HOST_CLIENT_SECRET must be at least 32 characters when NODE_ENV=production',
    ],
    ['an unset WEBHOOK_SECRET_KEY', { WEBHOOK_SECRET_KEY: undefined }, 'Invalid configuration: WEBHOOK_SECRET_KEY must be set when NODE_ENV=production'],
    [
      'the development WEBHOOK_SECRET_KEY',
      { WEBHOOK_SECRET_KEY: DEVELOPMENT_WEBHOOK_SECRET_KEY },
      'Invalid configuration: WEBHOOK_SECRET_KEY must not be the development default when NODE_ENV=production',
    ],
    ['an unset DOWNLOAD_LINK_KEY', { DOWNLOAD_LINK_KEY: undefined }, 'Invalid configuration: DOWNLOAD_LINK_KEY must be set when NODE_ENV=production'],
    [
      'the development DOWNLOAD_LINK_KEY',
      { DOWNLOAD_LINK_KEY: DEVELOPMENT_DOWNLOAD_LINK_KEY },
      'Invalid configuration: DOWNLOAD_LINK_KEY must not be the development default when NODE_ENV=production',
    ],
  ])('refuses %s with exactly one line naming the variable', (_case, override, message) => {
    expect(() => loadApiConfig({ ...PRODUCTION_API, ...override })).toThrow(exactly(message));
  });

  it('keeps the development defaults outside production', () => {
    expect(loadApiConfig({ NODE_ENV: 'test' }).auth).toMatchObject({
      signingKey: DEVELOPMENT_JWT_SIGNING_KEY,
      hostClientSecret: DEVELOPMENT_HOST_CLIENT_SECRET,
    });
  });
});

describe('logs and proxies', () => {
  it('reads LOG_FORMAT and REPLICA_ID', () => {
    expect(loadWorkerConfig({ LOG_FORMAT: 'pretty', REPLICA_ID: 'worker-2' })).toMatchObject({ logFormat: 'pretty', replicaId: 'worker-2' });
    expect(() => loadWorkerConfig({ LOG_FORMAT: 'text' })).toThrow(exactly('Invalid configuration: LOG_FORMAT must be one of pretty, json (got "text")'));
    expect(() => loadWorkerConfig({ REPLICA_ID: 'a b' })).toThrow(/^Invalid configuration: REPLICA_ID must be 1-64 of/);
  });

  it.each([
    ['false', false],
    ['true', true],
    ['uniquelocal', ['uniquelocal']],
    ['10.0.0.0/8, 192.168.1.7,::1,loopback', ['10.0.0.0/8', '192.168.1.7', '::1', 'loopback']],
  ])('reads TRUST_PROXY=%s', (value, expected) => {
    expect(loadApiConfig({ TRUST_PROXY: value }).api.trustProxy).toEqual(expected);
  });

  it.each(['1', 'yes', '10.0.0.0/33', 'proxy.example.com'])('refuses TRUST_PROXY=%s', (value) => {
    expect(() => loadApiConfig({ TRUST_PROXY: value })).toThrow(
      /^Invalid configuration: TRUST_PROXY must be true, false or a comma-separated list of addresses/,
    );
  });
});

describe('<NAME>_FILE', () => {
  it('reads every secret from a file, without the trailing newline', () => {
    const config = loadSystemConfig({
      ...PRODUCTION_API,
      JWT_SIGNING_KEY: undefined,
      HOST_CLIENT_SECRET: undefined,
      WEBHOOK_SECRET_KEY: undefined,
      WEBHOOK_SECRET_KEY_FILE: secretFile('webhooks', `${'v'.repeat(40)}\n`),
      DOWNLOAD_LINK_KEY: undefined,
      DOWNLOAD_LINK_KEY_FILE: secretFile('links', `${'l'.repeat(40)}\n`),
      DOWNLOAD_LINK_PREVIOUS_KEYS_FILE: secretFile('previous-links', `${'m'.repeat(40)}\n`),
      JWT_SIGNING_KEY_FILE: secretFile('jwt', `${'j'.repeat(40)}\n`),
      JWT_PREVIOUS_SIGNING_KEYS_FILE: secretFile('previous', `${'p'.repeat(40)},${'q'.repeat(40)}\n`),
      HOST_CLIENT_SECRET_FILE: secretFile('host', `${'s'.repeat(40)}\n`),
      S3_SECRET_ACCESS_KEY_FILE: secretFile('s3', 'store-secret\n'),
    });
    expect(config.auth.signingKey).toBe('j'.repeat(40));
    expect(config.auth.previousSigningKeys).toEqual(['p'.repeat(40), 'q'.repeat(40)]);
    expect(config.auth.hostClientSecret).toBe('s'.repeat(40));
    expect(config.s3.secretAccessKey).toBe('store-secret');
    expect(config.webhooks.secretKey).toBe('v'.repeat(40));
    expect(config.downloads.linkKey).toBe('l'.repeat(40));
    expect(config.downloads.previousLinkKeys).toEqual(['m'.repeat(40)]);
  });

  it('names the file variable when its content is refused, without echoing it', () => {
    const weak = secretFile('weak', 'weak-but-long-enough\n');
    expect(() => loadApiConfig({ ...PRODUCTION_API, HOST_CLIENT_SECRET: undefined, HOST_CLIENT_SECRET_FILE: weak })).toThrow(
      exactly('Invalid configuration: HOST_CLIENT_SECRET_FILE must hold at least 32 characters when NODE_ENV=production'),
    );
    expect(() => loadApiConfig({ JWT_SIGNING_KEY_FILE: weak })).toThrow(
      exactly('Invalid configuration: JWT_SIGNING_KEY_FILE must hold at least 32 characters'),
    );
  });

  it('refuses an unreadable file, and a variable given both ways', () => {
    expect(() => loadWorkerConfig({ S3_SECRET_ACCESS_KEY_FILE: join(directory, 'missing') })).toThrow(
      exactly('Invalid configuration: S3_SECRET_ACCESS_KEY_FILE must be a readable file (ENOENT)'),
    );
    expect(() => loadWorkerConfig({ S3_SECRET_ACCESS_KEY: 'a', S3_SECRET_ACCESS_KEY_FILE: secretFile('both', 'b') })).toThrow(
      exactly('Invalid configuration: S3_SECRET_ACCESS_KEY_FILE must not be set together with S3_SECRET_ACCESS_KEY'),
    );
  });

  it('reads the database URL, which holds its password, from a file too, and never echoes it', () => {
    const url = 'postgres://dcar:s3cret@postgres:5432/dcar';
    expect(loadMigrateConfig({ DATABASE_URL_FILE: secretFile('database-url', `${url}\n`) }).databaseUrl).toBe(url);
    expect(() => loadMigrateConfig({ DATABASE_URL: 'mysql://root:s3cret@db' })).toThrow(
      exactly('Invalid configuration: DATABASE_URL must be a URL starting with postgres:// or postgresql://'),
    );
  });

  it('is only read for secrets a service uses', () => {
    expect(() => loadWorkerConfig({ JWT_SIGNING_KEY_FILE: join(directory, 'missing') })).not.toThrow();
  });
});
