import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Knex } from '@dcar/platform';
import { Health, Readiness } from '@dcar/api-schemas';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';

export interface OperationsDeps {
  db: Knex;
  redis: Redis;
  s3: S3Client;
  archiveBucket: string;
  registry: Registry;
  readinessTimeoutMs?: number;
}

function withTimeout(probe: () => Promise<unknown>, timeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([probe(), timeout]).finally(() => clearTimeout(timer));
}

/** `/healthz` (the process answers), `/readyz` (its dependencies answer), `/metrics` (Prometheus). */
export function registerOperationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const timeoutMs = deps.readinessTimeoutMs ?? 2000;

  api.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'The process is up', response: { 200: Health } } },
    async () => ({ status: 'ok' as const }),
  );

  api.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'PostgreSQL, Redis and the object store answer; 503 names the ones that do not',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (request, reply) => {
      const probes = {
        postgres: () => deps.db.raw('select 1'),
        redis: () => deps.redis.ping(),
        store: () => deps.s3.send(new HeadBucketCommand({ Bucket: deps.archiveBucket })),
      };
      const entries = await Promise.all(
        Object.entries(probes).map(async ([name, probe]) => {
          try {
            await withTimeout(probe, timeoutMs);
            return [name, 'ok'] as const;
          } catch (error) {
            request.log.warn({ dependency: name, reason: (error as Error).message }, 'readiness check failed');
            return [name, 'unavailable'] as const;
          }
        }),
      );
      const checks = Object.fromEntries(entries) as { postgres: string; redis: string; store: string };
      const ready = entries.every(([, state]) => state === 'ok');
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks });
    },
  );

  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    return reply.header('content-type', deps.registry.contentType).send(await deps.registry.metrics());
  });
}
