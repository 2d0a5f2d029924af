import { HostErrorAnswers, PutWebhookBody, TenantParams, WebhookAnswers, requiresScope } from '@dcar/api-schemas';
import { Scopes } from '@dcar/domain';
import type { AuthConfig, Knex, Logger } from '@dcar/platform';
import {
  deleteWebhook,
  getWebhook,
  listWebhookDeliveries,
  putWebhook,
  rotateWebhookSecret,
  type DestinationPolicy,
  type ResolveHost,
  type SecretBox,
} from '@dcar/webhooks';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { requireHostAdmin } from './host.js';

const errors = HostErrorAnswers;

/**
 * Fastify's default validation coerces types ("true" becomes true, 1 becomes "1") and silently drops
 * unknown fields; here a wrong type or an unknown field (say, a secret of one's own) is a 400.
 */
const strictValidation = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false, strict: false });

export interface WebhookRoutesDeps {
  db: Knex;
  auth: AuthConfig;
  secrets: SecretBox;
  policy: DestinationPolicy;
  resolveHost: ResolveHost;
  logger: Logger;
}

/**
 * A tenant's webhook (registration, secret rotation, delivery log), behind the host's token like
 * the other host endpoints, calling the same functions as `pnpm admin webhook ...`.
 */
export async function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRoutesDeps): Promise<void> {
  await app.register((scope, _options, done) => {
    scope.addHook('onRequest', (request) => requireHostAdmin(deps.auth, request));
    scope.setValidatorCompiler(({ schema }) => strictValidation.compile(schema));
    const host = scope.withTypeProvider<TypeBoxTypeProvider>();
    const common = { tags: ['host', 'webhooks'], security: requiresScope(Scopes.hostAdmin) };
    const registration = { db: deps.db, secrets: deps.secrets, policy: deps.policy, resolveHost: deps.resolveHost, logger: deps.logger };

    host.put(
      '/api/host/tenants/:tenantId/webhook',
      {
        schema: {
          ...common,
          operationId: 'putWebhook',
          summary: 'Register or change the tenant’s webhook; the signing secret is shown only when the webhook is created',
          params: TenantParams,
          body: PutWebhookBody,
          response: { 200: WebhookAnswers.put, ...errors },
        },
      },
      async (request) => putWebhook(registration, request.params.tenantId, request.body),
    );

    host.get(
      '/api/host/tenants/:tenantId/webhook',
      {
        schema: {
          ...common,
          operationId: 'getWebhook',
          summary: 'The tenant’s webhook (never its secret)',
          params: TenantParams,
          response: { 200: WebhookAnswers.webhook, ...errors },
        },
      },
      async (request) => getWebhook(deps.db, request.params.tenantId),
    );

    host.delete(
      '/api/host/tenants/:tenantId/webhook',
      {
        schema: {
          ...common,
          operationId: 'deleteWebhook',
          summary: 'Remove the tenant’s webhook; deliveries still pending are cancelled',
          params: TenantParams,
          response: { 204: WebhookAnswers.deleted, ...errors },
        },
      },
      async (request, reply) => {
        await deleteWebhook(registration, request.params.tenantId);
        return reply.code(204).send(null);
      },
    );

    host.post(
      '/api/host/tenants/:tenantId/webhook/rotate-secret',
      {
        schema: {
          ...common,
          operationId: 'rotateWebhookSecret',
          summary: 'Replace the signing secret; the new one is shown only in this answer',
          params: TenantParams,
          response: { 200: WebhookAnswers.rotated, ...errors },
        },
      },
      async (request) => rotateWebhookSecret(registration, request.params.tenantId),
    );

    host.get(
      '/api/host/tenants/:tenantId/webhook/deliveries',
      {
        schema: {
          ...common,
          operationId: 'listWebhookDeliveries',
          summary: 'The tenant’s last 100 webhook deliveries, newest first',
          params: TenantParams,
          response: { 200: WebhookAnswers.deliveries, ...errors },
        },
      },
      async (request) => listWebhookDeliveries(deps.db, request.params.tenantId),
    );
    done();
  });
}
