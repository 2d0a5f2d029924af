import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The development signing key; refused when NODE_ENV=production so no deployment runs on it. */
export const DEVELOPMENT_JWT_SIGNING_KEY = 'dev-only-signing-key-change-me-0123456789abcdef';
export const DEVELOPMENT_HOST_CLIENT_SECRET = 'host-secret';
/** The development key that encrypts webhook secrets at rest; refused when NODE_ENV=production. */
export const DEVELOPMENT_WEBHOOK_SECRET_KEY = 'dev-only-webhook-secret-key-change-me-0123456789';

const url = (protocols: string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `an integer from ${min} to ${max}`);

const bucket = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 of a-z, 0-9, ".", "-")');
const cron = z
  .string()
  .refine((v) => /^\S+(\s+\S+){4,5}$/.test(v.trim()), 'a cron pattern of 5 or 6 fields, e.g. "15 0 * * *"');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/dcar'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 of A-Z, a-z, 0-9, "_", "-"').default('dcar'),
  S3_ENDPOINT: url(['http:', 'https:']).default('http://127.0.0.1:9000'),
  S3_PUBLIC_ENDPOINT: url(['http:', 'https:']).optional(),
  S3_REGION: z.string().min(1, 'a region name, e.g. us-east-1').default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1, 'an access key id').default('minioadmin'),
  S3_SECRET_ACCESS_KEY: z.string().min(1, 'a secret access key').default('minioadmin'),
  S3_SOURCE_BUCKET: bucket.default('conversation-audio'),
  S3_ARCHIVE_BUCKET: bucket.default('daily-audio-archives'),
  API_PORT: integer(0, 65535).default(3000),
  API_HOST: z.string().min(1).default('0.0.0.0'),
  JWT_SIGNING_KEY: z.string().min(32, 'at least 32 characters').optional(),
  JWT_SIGNING_KEY_FILE: z.string().min(1, 'a path to a file holding the key').optional(),
  JWT_PREVIOUS_SIGNING_KEYS: z.string().optional(),
  TOKEN_TTL_SECONDS: integer(60, 86_400).default(3600),
  AUTH_JWKS_URL: url(['http:', 'https:']).optional(),
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
  AUTH_TENANT_CLAIM: z.string().min(1).default('tenant_id'),
  HOST_CLIENT_ID: z.string().min(1, 'a client id').default('host'),
  HOST_CLIENT_SECRET: z.string().min(8, 'at least 8 characters').default(DEVELOPMENT_HOST_CLIENT_SECRET),
  RATE_LIMIT_PER_HOUR: integer(1, 1_000_000).default(10),
  NIGHTLY_CRON: cron.default('15 0 * * *'),
  WORKER_CONCURRENCY: integer(1, 256).default(2),
  TRANSCODE_CONCURRENCY: integer(1, 256).optional(),
  WORKER_METRICS_PORT: integer(0, 65535).default(9101),
  SCHEDULER_METRICS_PORT: integer(0, 65535).default(9102),
  SHUTDOWN_TIMEOUT_MS: integer(1000, 600_000).default(30_000),
  WEBHOOK_SECRET_KEY: z.string().min(32, 'at least 32 characters').optional(),
  WEBHOOK_ALLOW_INSECURE: z.enum(['true', 'false'], 'true or false').default('false'),
  WEBHOOK_CONCURRENCY: integer(1, 1000).default(10),
});

export type RawEnv = z.input<typeof envSchema>;

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  logLevel: string;
  databaseUrl: string;
  redis: { url: string; prefix: string };
  s3: {
    endpoint: string;
    publicEndpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    sourceBucket: string;
    archiveBucket: string;
  };
  api: { port: number; host: string; rateLimitPerHour: number };
  auth: {
    signingKey: string;
    /** Keys still accepted for verification during a rotation; never used to sign. */
    previousSigningKeys: string[];
    tokenTtlSeconds: number;
    hostClientId: string;
    hostClientSecret: string;
    external: { jwksUrl: string; issuer: string; audience: string; tenantClaim: string } | null;
  };
  scheduler: { nightlyCron: string; metricsPort: number };
  worker: { concurrency: number; transcodeConcurrency: number; metricsPort: number };
  webhooks: {
    /** Encrypts tenants' webhook secrets at rest (AES-256-GCM under a key derived from it). */
    secretKey: string;
    /** Development and tests only: allows http:// URLs and private, loopback or link-local addresses. */
    allowInsecure: boolean;
    /** Deliveries in flight per worker process, apart from the tenant-hour jobs. */
    concurrency: number;
  };
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment once; the first problem is reported as one line naming the variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "not set", as in most shells' `VAR= command`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    const got = present[variable];
    const secret = /SECRET|KEY/.test(variable);
    throw new ConfigError(
      `Invalid configuration: ${variable} must be ${issue?.message ?? 'valid'}${got !== undefined && !secret ? ` (got ${JSON.stringify(got)})` : ''}`,
    );
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';

  let signingKey = e.JWT_SIGNING_KEY;
  if (!signingKey && e.JWT_SIGNING_KEY_FILE) {
    try {
      signingKey = readFileSync(e.JWT_SIGNING_KEY_FILE, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`Invalid configuration: JWT_SIGNING_KEY_FILE must be a readable file (${(error as Error).message})`);
    }
    if (signingKey.length < 32) throw new ConfigError('Invalid configuration: JWT_SIGNING_KEY_FILE must hold at least 32 characters');
  }
  if (!signingKey) {
    if (production) throw new ConfigError('Invalid configuration: JWT_SIGNING_KEY must be set when NODE_ENV=production');
    signingKey = DEVELOPMENT_JWT_SIGNING_KEY;
  }
  if (production && e.HOST_CLIENT_SECRET === DEVELOPMENT_HOST_CLIENT_SECRET) {
    throw new ConfigError('Invalid configuration: HOST_CLIENT_SECRET must be set to a non-default value when NODE_ENV=production');
  }

  if (production && (e.WEBHOOK_SECRET_KEY === undefined || e.WEBHOOK_SECRET_KEY === DEVELOPMENT_WEBHOOK_SECRET_KEY)) {
    throw new ConfigError('Invalid configuration: WEBHOOK_SECRET_KEY must be set to a non-default value when NODE_ENV=production');
  }

  const externalAuthVars = [e.AUTH_JWKS_URL, e.AUTH_ISSUER, e.AUTH_AUDIENCE];
  if (externalAuthVars.some(Boolean) && !externalAuthVars.every(Boolean)) {
    const missing = (['AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE'] as const).find((name) => !e[name]);
    throw new ConfigError(`Invalid configuration: ${missing} must be set when any of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE is`);
  }

  return {
    nodeEnv: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX },
    s3: {
      endpoint: e.S3_ENDPOINT,
      publicEndpoint: e.S3_PUBLIC_ENDPOINT ?? e.S3_ENDPOINT,
      region: e.S3_REGION,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
      sourceBucket: e.S3_SOURCE_BUCKET,
      archiveBucket: e.S3_ARCHIVE_BUCKET,
    },
    api: { port: e.API_PORT, host: e.API_HOST, rateLimitPerHour: e.RATE_LIMIT_PER_HOUR },
    auth: {
      signingKey,
      previousSigningKeys: (e.JWT_PREVIOUS_SIGNING_KEYS ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
      tokenTtlSeconds: e.TOKEN_TTL_SECONDS,
      hostClientId: e.HOST_CLIENT_ID,
      hostClientSecret: e.HOST_CLIENT_SECRET,
      external:
        e.AUTH_JWKS_URL && e.AUTH_ISSUER && e.AUTH_AUDIENCE
          ? { jwksUrl: e.AUTH_JWKS_URL, issuer: e.AUTH_ISSUER, audience: e.AUTH_AUDIENCE, tenantClaim: e.AUTH_TENANT_CLAIM }
          : null,
    },
    scheduler: { nightlyCron: e.NIGHTLY_CRON.trim(), metricsPort: e.SCHEDULER_METRICS_PORT },
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      transcodeConcurrency: e.TRANSCODE_CONCURRENCY ?? availableParallelism(),
      metricsPort: e.WORKER_METRICS_PORT,
    },
    webhooks: {
      secretKey: e.WEBHOOK_SECRET_KEY ?? DEVELOPMENT_WEBHOOK_SECRET_KEY,
      allowInsecure: e.WEBHOOK_ALLOW_INSECURE === 'true',
      concurrency: e.WEBHOOK_CONCURRENCY,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
}

/** For composition roots: validated config, or one line on stderr and exit code 1. */
export function loadConfigOrExit(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
