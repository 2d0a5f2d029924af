import type { S3Client } from '@aws-sdk/client-s3';
import { checkReadiness, dependencyChecks, READINESS_TIMEOUT_MS, type Knex } from '@dcar/platform';
import { OperationsAnswers } from '@dcar/api-schemas';
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

/** `/healthz` (the process answers), `/readyz` (its dependencies answer), `/metrics` (Prometheus). */
export function registerOperationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const timeoutMs = deps.readinessTimeoutMs ?? READINESS_TIMEOUT_MS;
  const checks = dependencyChecks({ db: deps.db, redis: deps.redis, s3: deps.s3, bucket: deps.archiveBucket });

  api.get(
    '/healthz',
    { schema: { tags: ['operations'], operationId: 'getHealth', summary: 'The process is up', response: { 200: OperationsAnswers.health } } },
    () => ({ status: 'ok' as const }),
  );

  api.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getReadiness',
        summary: 'PostgreSQL, Redis and the object store answer; 503 names the ones that do not',
        response: { 200: OperationsAnswers.ready, 503: OperationsAnswers.unavailable },
      },
    },
    async (request, reply) => {
      const { ready, body } = await checkReadiness(checks, { timeoutMs, logger: request.log });
      return reply.code(ready ? 200 : 503).send(body);
    },
  );

  const metricsSchema = { tags: ['operations'], operationId: 'getMetrics', summary: 'Prometheus metrics', response: { 200: OperationsAnswers.metrics } };
  app.get('/metrics', { schema: metricsSchema }, async (_request, reply) => {
    return reply.header('content-type', deps.registry.contentType).send(await deps.registry.metrics());
  });
}
