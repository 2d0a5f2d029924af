import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { bucket, configGroup, configLoader, cron, integer, invalid, oneOf, secret, url } from './config-schema.js';

export { ConfigError, loadConfigOrExit, type ConfigLoader, type Env } from './config-schema.js';

/**
 * Configuration by environment variables, in groups. Each service composes the groups it uses
 * (the loaders at the end), so a worker never needs the API's keys. A new variable is one line in
 * its group plus the line that reads it; a secret wrapped in `secret(...)` also gets `<NAME>_FILE`.
 * Groups may add to the same section (`webhooks` below): sections are merged one level deep.
 */

/** The development signing key; refused when NODE_ENV=production so no deployment runs on it. */
export const DEVELOPMENT_JWT_SIGNING_KEY = 'dev-only-signing-key-change-me-0123456789abcdef';
export const DEVELOPMENT_HOST_CLIENT_SECRET = 'host-secret';
/** The development key that encrypts webhook secrets at rest; refused when NODE_ENV=production. */
export const DEVELOPMENT_WEBHOOK_SECRET_KEY = 'dev-only-webhook-secret-key-change-me-0123456789';

/** The development key that signs download links; refused when NODE_ENV=production. */
export const DEVELOPMENT_DOWNLOAD_LINK_KEY = 'dev-only-download-link-key-change-me-0123456789';

/** Keys and passwords this system checks itself must be at least this long in production. */
const PRODUCTION_SECRET_MIN_LENGTH = 32;

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** Old keys kept for a rotation were once the current key: each must meet the current key's length. */
const previousKeys = z
  .string()
  .refine((value) => list(value).every((key) => key.length >= 32), 'a comma-separated list of keys of at least 32 characters each');

export const commonVariables = configGroup(
  {
    NODE_ENV: oneOf(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_FORMAT: oneOf(['pretty', 'json']).optional(),
    REPLICA_ID: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 of A-Z, a-z, 0-9, "_", ".", "-"')
      .optional(),
  },
  (e) => ({ nodeEnv: e.NODE_ENV, logLevel: e.LOG_LEVEL, logFormat: e.LOG_FORMAT, replicaId: e.REPLICA_ID }),
);

/** Long-running services: how long SIGTERM may take. */
export const shutdownVariables = configGroup(
  {
    SHUTDOWN_TIMEOUT_MS: integer(1000, 600_000).default(30_000),
  },
  (e) => ({ shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS }),
);

export const databaseVariables = configGroup(
  {
    // A secret: its password is in it (DATABASE_URL_FILE for a mounted secret; never echoed in a message).
    DATABASE_URL: secret(url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/dcar')),
  },
  (e) => ({ databaseUrl: e.DATABASE_URL }),
);

export const redisVariables = configGroup(
  {
    REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 of A-Z, a-z, 0-9, "_", "-"')
      .default('dcar'),
  },
  (e) => ({ redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX } }),
);

/** The embedded store's address on a developer machine (`pnpm local:s3`, or a service with S3_ENDPOINT unset). */
export const DEFAULT_S3_ENDPOINT = 'http://127.0.0.1:9000';

export const s3Variables = configGroup(
  {
    // Unset: the embedded store at the default address (development only; see embedded-store.ts).
    S3_ENDPOINT: url(['http:', 'https:']).optional(),
    S3_PUBLIC_ENDPOINT: url(['http:', 'https:']).optional(),
    // The SDK refuses a region that is not a host label, but only at the first request: refuse it at start.
    S3_REGION: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,63}$/, 'a region name, e.g. us-east-1')
      .default('us-east-1'),
    S3_ACCESS_KEY_ID: z.string().regex(/^\S+$/, 'an access key id (no spaces)').default('minioadmin'),
    S3_SECRET_ACCESS_KEY: secret(z.string().regex(/\S/, 'a secret access key').default('minioadmin')),
    // Temporary credentials (an IAM role's, from STS): sent as X-Amz-Security-Token.
    S3_SESSION_TOKEN: secret(z.string().min(1, 'a session token').optional()),
    // true: http://endpoint/bucket/key (MinIO, s3rver); false: virtual-hosted http://bucket.endpoint/key (AWS).
    S3_FORCE_PATH_STYLE: oneOf(['true', 'false']).default('true'),
    S3_SOURCE_BUCKET: bucket.default('conversation-audio'),
    S3_ARCHIVE_BUCKET: bucket.default('daily-audio-archives'),
    /** Every S3 call: time to establish the TCP connection. */
    S3_CONNECT_TIMEOUT_MS: integer(100, 600_000).default(5000),
    /** Every S3 call: longest silence of the connection (no byte either way) before the call fails. */
    S3_REQUEST_TIMEOUT_MS: integer(100, 3_600_000).default(30_000),
  },
  (e) => ({
    s3: {
      endpoint: e.S3_ENDPOINT ?? DEFAULT_S3_ENDPOINT,
      /** S3_ENDPOINT was unset: a development service starts the embedded store unless one runs. */
      embedded: e.S3_ENDPOINT === undefined,
      publicEndpoint: e.S3_PUBLIC_ENDPOINT ?? e.S3_ENDPOINT ?? DEFAULT_S3_ENDPOINT,
      region: e.S3_REGION,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
      sessionToken: e.S3_SESSION_TOKEN ?? null,
      forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
      sourceBucket: e.S3_SOURCE_BUCKET,
      archiveBucket: e.S3_ARCHIVE_BUCKET,
      connectTimeoutMs: e.S3_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: e.S3_REQUEST_TIMEOUT_MS,
    },
  }),
);

/**
 * TRUST_PROXY, Fastify's `trustProxy`: which proxies' X-Forwarded-For the API believes, so the
 * client's address (audit log, failed-secret counts, request log) is the client's, not the proxy's.
 * `false` (no proxy), `true` (any: only when nothing but the proxy can reach the API), or a
 * comma-separated list of the proxies' addresses, CIDR ranges or `loopback`, `linklocal`,
 * `uniquelocal` (the private ranges). No hop count: Fastify trusts nobody by a count alone.
 */
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
function isProxyAddress(item: string): boolean {
  if (PROXY_NAMES.has(item)) return true;
  const [address = '', bits, ...rest] = item.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128));
}
const trustProxy = z
  .string()
  .refine(
    (value) => /^(true|false)$/.test(value) || (list(value).length > 0 && list(value).every(isProxyAddress)),
    'true, false or a comma-separated list of addresses, CIDR ranges, loopback, linklocal or uniquelocal',
  );
export type TrustProxy = boolean | string[];
function readTrustProxy(value: string): TrustProxy {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return list(value);
}

export const apiVariables = configGroup(
  {
    API_PORT: integer(0, 65535).default(3000),
    API_HOST: z.string().min(1).optional(),
    RATE_LIMIT_PER_HOUR: integer(1, 1_000_000).default(10),
    TRUST_PROXY: trustProxy.default('false'),
  },
  (e, { production }) => ({
    api: {
      port: e.API_PORT,
      // A developer's API runs on the development secrets (host/host-secret, a published signing
      // key): it listens on loopback only, not for anyone on the network. Containers (production)
      // must listen on every interface for the proxy to reach them.
      host: e.API_HOST ?? (production ? '0.0.0.0' : '127.0.0.1'),
      rateLimitPerHour: e.RATE_LIMIT_PER_HOUR,
      trustProxy: readTrustProxy(e.TRUST_PROXY),
    },
  }),
);

export const authVariables = configGroup(
  {
    JWT_SIGNING_KEY: secret(z.string().min(32, 'at least 32 characters'), {
      developmentDefault: DEVELOPMENT_JWT_SIGNING_KEY,
      productionMinLength: PRODUCTION_SECRET_MIN_LENGTH,
    }),
    JWT_PREVIOUS_SIGNING_KEYS: secret(previousKeys.optional()),
    TOKEN_TTL_SECONDS: integer(60, 86_400).default(3600),
    AUTH_JWKS_URL: url(['http:', 'https:']).optional(),
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    AUTH_TENANT_CLAIM: z.string().min(1).default('tenant_id'),
    HOST_CLIENT_ID: z.string().regex(/^\S+$/, 'a client id (no spaces)').default('host'),
    HOST_CLIENT_SECRET: secret(z.string().min(8, 'at least 8 characters'), {
      developmentDefault: DEVELOPMENT_HOST_CLIENT_SECRET,
      productionMinLength: PRODUCTION_SECRET_MIN_LENGTH,
    }),
  },
  (e) => {
    const external = [e.AUTH_JWKS_URL, e.AUTH_ISSUER, e.AUTH_AUDIENCE];
    if (external.some(Boolean) && !external.every(Boolean)) {
      const missing = (['AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE'] as const).find((name) => !e[name]);
      throw invalid(`${missing}`, 'be set when any of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE is');
    }
    return {
      auth: {
        signingKey: e.JWT_SIGNING_KEY,
        /** Keys still accepted for verification during a rotation; never used to sign. */
        previousSigningKeys: list(e.JWT_PREVIOUS_SIGNING_KEYS),
        tokenTtlSeconds: e.TOKEN_TTL_SECONDS,
        hostClientId: e.HOST_CLIENT_ID,
        hostClientSecret: e.HOST_CLIENT_SECRET,
        external:
          e.AUTH_JWKS_URL && e.AUTH_ISSUER && e.AUTH_AUDIENCE
            ? { jwksUrl: e.AUTH_JWKS_URL, issuer: e.AUTH_ISSUER, audience: e.AUTH_AUDIENCE, tenantClaim: e.AUTH_TENANT_CLAIM }
            : null,
      },
    };
  },
);

export const schedulerVariables = configGroup(
  {
    NIGHTLY_CRON: cron.default('15 0 * * *'),
    /** The reconciliation pass (CONTRACT §3.3), UTC. */
    RECONCILE_CRON: cron.default('45 * * * *'),
    SCHEDULER_METRICS_PORT: integer(0, 65535).default(9102),
    /** CONTRACT §1: a retry round starts no sooner than this after the previous round ended. */
    RETRY_ROUND_DELAY_SECONDS: integer(0, 86_400).default(300),
  },
  (e) => ({
    scheduler: {
      nightlyCron: e.NIGHTLY_CRON.trim(),
      reconcileCron: e.RECONCILE_CRON.trim(),
      metricsPort: e.SCHEDULER_METRICS_PORT,
      retryRoundDelaySeconds: e.RETRY_ROUND_DELAY_SECONDS,
    },
  }),
);

/** S3 server-side encryption of the archives the worker uploads. */
export type ServerSideEncryption = { algorithm: 'AES256' } | { algorithm: 'aws:kms'; kmsKeyId: string };

export const workerVariables = configGroup(
  {
    WORKER_CONCURRENCY: integer(1, 256).default(2),
    TRANSCODE_CONCURRENCY: integer(1, 256).optional(),
    WORKER_METRICS_PORT: integer(0, 65535).default(9101),
    S3_SSE: oneOf(['none', 'AES256', 'aws:kms']).default('none'),
    S3_SSE_KMS_KEY_ID: z.string().min(1).optional(),
  },
  (e) => {
    if (e.S3_SSE === 'aws:kms' && !e.S3_SSE_KMS_KEY_ID) throw invalid('S3_SSE_KMS_KEY_ID', 'be set when S3_SSE=aws:kms');
    if (e.S3_SSE !== 'aws:kms' && e.S3_SSE_KMS_KEY_ID) throw invalid('S3_SSE_KMS_KEY_ID', 'be set only when S3_SSE=aws:kms');
    const archiveEncryption: ServerSideEncryption | null =
      e.S3_SSE === 'none' ? null : e.S3_SSE === 'AES256' ? { algorithm: 'AES256' } : { algorithm: 'aws:kms', kmsKeyId: e.S3_SSE_KMS_KEY_ID! };
    return {
      worker: {
        concurrency: e.WORKER_CONCURRENCY,
        transcodeConcurrency: e.TRANSCODE_CONCURRENCY ?? availableParallelism(),
        metricsPort: e.WORKER_METRICS_PORT,
        archiveEncryption,
      },
    };
  },
);

/** The daily endpoint's download links (CONTRACT §4.2, §4.4): signed links to the API, or presigned store URLs. */
export const downloadLinkVariables = configGroup(
  {
    DOWNLOAD_LINKS: oneOf(['api', 'direct']).default('api'),
    PUBLIC_API_URL: url(['http:', 'https:']).optional(),
    DOWNLOAD_LINK_TTL_SECONDS: integer(1, 604_800).default(86_400),
    DOWNLOAD_REDIRECT_TTL_SECONDS: integer(1, 604_800).default(300),
    DOWNLOAD_LINK_KEY: secret(z.string().min(32, 'at least 32 characters'), {
      developmentDefault: DEVELOPMENT_DOWNLOAD_LINK_KEY,
      productionMinLength: PRODUCTION_SECRET_MIN_LENGTH,
    }),
    DOWNLOAD_LINK_PREVIOUS_KEYS: secret(previousKeys.optional()),
  },
  (e) => ({
    downloads: {
      /** `api`: links to this API's link endpoint; `direct`: presigned store GETs, as before. */
      mode: e.DOWNLOAD_LINKS,
      /** Where clients reach the API; null: `http://127.0.0.1:{API_PORT}`. */
      publicApiUrl: e.PUBLIC_API_URL?.replace(/\/+$/, '') ?? null,
      linkTtlSeconds: e.DOWNLOAD_LINK_TTL_SECONDS,
      redirectTtlSeconds: e.DOWNLOAD_REDIRECT_TTL_SECONDS,
      linkKey: e.DOWNLOAD_LINK_KEY,
      /** Keys that still verify links during a rotation; never used to sign. */
      previousLinkKeys: list(e.DOWNLOAD_LINK_PREVIOUS_KEYS),
    },
  }),
);

/** Tenants' webhooks: the API and the CLI store their secrets, the worker delivers with them. */
export const webhookVariables = configGroup(
  {
    WEBHOOK_SECRET_KEY: secret(z.string().min(32, 'at least 32 characters'), {
      developmentDefault: DEVELOPMENT_WEBHOOK_SECRET_KEY,
      productionMinLength: PRODUCTION_SECRET_MIN_LENGTH,
    }),
    WEBHOOK_ALLOW_INSECURE: oneOf(['true', 'false']).default('false'),
  },
  (e) => ({
    webhooks: {
      /** Encrypts tenants' webhook secrets at rest (AES-256-GCM under a key derived from it). */
      secretKey: e.WEBHOOK_SECRET_KEY,
      /** Development and tests only: allows http:// URLs and private, loopback or link-local addresses. */
      allowInsecure: e.WEBHOOK_ALLOW_INSECURE === 'true',
    },
  }),
);

/** The worker's side of webhooks: how many deliveries it runs at once. */
export const webhookDeliveryVariables = configGroup(
  {
    WEBHOOK_CONCURRENCY: integer(1, 1000).default(10),
  },
  (e) => ({ webhooks: { /** Deliveries in flight per worker process, apart from the tenant-hour jobs. */ concurrency: e.WEBHOOK_CONCURRENCY } }),
);

// One loader per composition root: each validates only what its process uses.
export const loadApiConfig = configLoader(
  commonVariables,
  shutdownVariables,
  databaseVariables,
  redisVariables,
  s3Variables,
  apiVariables,
  authVariables,
  webhookVariables,
  downloadLinkVariables,
);
export const loadSchedulerConfig = configLoader(commonVariables, shutdownVariables, databaseVariables, redisVariables, s3Variables, schedulerVariables);
export const loadWorkerConfig = configLoader(
  commonVariables,
  shutdownVariables,
  databaseVariables,
  redisVariables,
  s3Variables,
  workerVariables,
  webhookVariables,
  webhookDeliveryVariables,
);
export const loadMigrateConfig = configLoader(commonVariables, databaseVariables);
/** `pnpm admin`: the database, Redis for `run` (which queues a run and may wait for it), webhooks for `webhook`. */
export const loadAdminConfig = configLoader(commonVariables, databaseVariables, redisVariables, webhookVariables);
export const loadLocalS3Config = configLoader(commonVariables, s3Variables);
/** Every group: for the demo and the tests, which run every service with one environment. */
export const loadSystemConfig = configLoader(
  commonVariables,
  shutdownVariables,
  databaseVariables,
  redisVariables,
  s3Variables,
  apiVariables,
  authVariables,
  schedulerVariables,
  workerVariables,
  webhookVariables,
  webhookDeliveryVariables,
  downloadLinkVariables,
);

export type ApiConfig = ReturnType<typeof loadApiConfig>;
export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;
export type WorkerConfig = ReturnType<typeof loadWorkerConfig>;
export type MigrateConfig = ReturnType<typeof loadMigrateConfig>;
export type AdminConfig = ReturnType<typeof loadAdminConfig>;
export type SystemConfig = ReturnType<typeof loadSystemConfig>;
export type S3Config = SystemConfig['s3'];
export type AuthConfig = ApiConfig['auth'];
