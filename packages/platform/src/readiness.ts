import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { redisReady } from './queues.js';

/** Each dependency's probe, by name: resolves when it answers. */
export type ReadinessChecks<Name extends string = string> = Record<Name, () => Promise<unknown>>;

export interface ReadinessAnswer<Name extends string = string> {
  ready: boolean;
  body: { status: 'ready' | 'unavailable'; checks: Record<Name, 'ok' | 'unavailable'> };
}

/** How long one probe may take: every probe runs at once, so /readyz answers within this (well inside a 5 s health check). */
export const READINESS_TIMEOUT_MS = 2000;

function withTimeout(probe: () => Promise<unknown>, timeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([probe(), timeout]).finally(() => clearTimeout(timer));
}

/** Runs every probe at once, each bounded by `timeoutMs`; a failing one is logged (warn) and named in the answer. */
export async function checkReadiness<Name extends string>(
  checks: ReadinessChecks<Name>,
  options: { timeoutMs?: number; logger?: { warn(details: object, message: string): void } } = {},
): Promise<ReadinessAnswer<Name>> {
  const timeoutMs = options.timeoutMs ?? READINESS_TIMEOUT_MS;
  const entries = await Promise.all(
    (Object.entries(checks) as Array<[Name, () => Promise<unknown>]>).map(async ([name, probe]) => {
      try {
        await withTimeout(probe, timeoutMs);
        return [name, 'ok'] as const;
      } catch (error) {
        options.logger?.warn({ dependency: name, reason: (error as Error).message }, 'readiness check failed');
        return [name, 'unavailable'] as const;
      }
    }),
  );
  const ready = entries.every(([, state]) => state === 'ok');
  return { ready, body: { status: ready ? 'ready' : 'unavailable', checks: Object.fromEntries(entries) as Record<Name, 'ok' | 'unavailable'> } };
}

/**
 * The usual probes of a service: `select 1` on PostgreSQL, PING on Redis and, with a bucket,
 * HeadBucket on the store. A Redis connection being made (just after start, or a reconnect attempt
 * under way) gets the probe's time to become ready, so a service asked at once after it started is
 * not reported down; one waiting between reconnect attempts is refused at once, so a probe never
 * queues behind a reconnecting consumer connection.
 */
export function dependencyChecks(deps: { db: Knex; redis: Redis }): ReadinessChecks<'postgres' | 'redis'>;
export function dependencyChecks(deps: { db: Knex; redis: Redis; s3: S3Client; bucket: string }): ReadinessChecks<'postgres' | 'redis' | 'store'>;
export function dependencyChecks(deps: { db: Knex; redis: Redis; s3?: S3Client; bucket?: string }): ReadinessChecks {
  const checks: ReadinessChecks = {
    postgres: () => deps.db.raw('select 1'),
    redis: async () => {
      if (deps.redis.status === 'connecting' || deps.redis.status === 'connect') await redisReady(deps.redis, READINESS_TIMEOUT_MS);
      if (deps.redis.status !== 'ready') throw new Error(`connection ${deps.redis.status}`);
      return deps.redis.ping();
    },
  };
  const { s3, bucket } = deps;
  if (s3 && bucket) checks.store = () => s3.send(new HeadBucketCommand({ Bucket: bucket }));
  return checks;
}
