import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { archiveKey, type ArchiveStatus, type UtcDay } from '@dcar/domain';
import { insertArchiveRows } from '@dcar/archives/test-fixtures';
import { createApplication, putTenant, setDailyAudioFeature } from '@dcar/host';
import type { Knex } from '@dcar/platform';
import { createRunQueues, type RunQueues } from '@dcar/runs';
import type { TestEnvironment } from '@dcar/testing';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { buildApp, type ApiDeps } from '../src/app.js';

export const DAILY = '/api/external/conversations/daily-audio-recordings';

export interface TestApi {
  app: FastifyInstance;
  redis: Redis;
  runQueues: RunQueues;
  close(): Promise<void>;
}

/** The API on the test environment's real PostgreSQL, Redis and S3 store; `overrides` replace any dependency. */
export async function startTestApi(env: TestEnvironment, overrides: Partial<ApiDeps> = {}): Promise<TestApi> {
  const redis = new Redis(env.config.redis.url, { maxRetriesPerRequest: 2 });
  const runQueues = createRunQueues(redis, env.redisPrefix);
  const app = await buildApp({
    config: env.config,
    db: env.knex,
    redis,
    s3: env.s3,
    runQueues,
    logger: pino({ level: 'silent' }),
    rateLimitNamespace: `${env.redisPrefix}:rl:`,
    ...overrides,
  });
  await app.ready();
  return {
    app,
    redis,
    runQueues,
    close: async () => {
      await app.close();
      await runQueues.close();
      redis.disconnect();
    },
  };
}

/** A TCP port nothing listens on right now (the system picks it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The API listening on a free loopback port that its download links name (PUBLIC_API_URL), so a
 * client in another process can follow them: its address, and the API.
 */
export async function startListeningTestApi(env: TestEnvironment, overrides: Partial<ApiDeps> = {}): Promise<TestApi & { address: string }> {
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  const config = overrides.config ?? env.config;
  const api = await startTestApi(env, { ...overrides, config: { ...config, downloads: { ...config.downloads, publicApiUrl: address } } });
  await api.app.listen({ port, host: '127.0.0.1' });
  return { ...api, address };
}

/** A tenant with the feature set, and one application of its own: its credentials. */
export async function seedTenant(
  db: Knex,
  tenantId: string,
  feature: { enabled: boolean; retentionDays?: number } = { enabled: true, retentionDays: 3 },
): Promise<{ clientId: string; clientSecret: string }> {
  await putTenant(db, tenantId, { name: `Tenant ${tenantId}` });
  await setDailyAudioFeature(db, tenantId, feature);
  const { clientId, clientSecret } = await createApplication(db, tenantId, { name: 'compliance export' });
  return { clientId, clientSecret };
}

export async function requestToken(app: FastifyInstance, clientId: string, clientSecret: string, scope?: string): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/connect/token',
    payload: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
      ...(scope ? { scope } : {}),
    }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  if (response.statusCode !== 200) throw new Error(`token request failed: ${response.statusCode} ${response.body}`);
  return response.json<{ access_token: string }>().access_token;
}

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** A JWT built by hand, so tests can forge what @fastify/jwt would never sign. */
export function hs256Token(header: Record<string, unknown>, payload: Record<string, unknown>, key: string): string {
  const head = `${base64url(JSON.stringify({ typ: 'JWT', ...header }))}.${base64url(JSON.stringify(payload))}`;
  return `${head}.${base64url(createHmac('sha256', key).update(head).digest())}`;
}

export function unsignedToken(payload: Record<string, unknown>): string {
  return `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url(JSON.stringify(payload))}.`;
}

export interface ArchiveRowInput {
  hour: number;
  status: ArchiveStatus;
  sessionCount?: number;
  fileCount?: number;
  sizeBytes?: number;
  generatedAt?: Date | null;
  objectKey?: string | null;
  sha256?: string | null;
}

/** Archive rows as the worker and scheduler leave them, replacing any of the same hours. */
export async function putArchiveRows(db: Knex, tenantId: string, day: UtcDay, rows: ArchiveRowInput[]): Promise<void> {
  await insertArchiveRows(
    db,
    rows.map((row) => ({
      tenant_id: tenantId,
      utc_day: day,
      hour: row.hour,
      status: row.status,
      session_count: row.sessionCount ?? 0,
      file_count: row.fileCount ?? 0,
      size_bytes: row.sizeBytes ?? 0,
      object_key: row.objectKey !== undefined ? row.objectKey : row.status === 'available' ? archiveKey(tenantId, day, row.hour) : null,
      sha256: row.sha256 ?? null,
      generated_at: row.generatedAt ?? null,
      attempts: row.status === 'pending' ? 0 : 1,
    })),
    { replace: true },
  );
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
