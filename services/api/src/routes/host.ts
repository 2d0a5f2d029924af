import {
  Application,
  ApplicationParams,
  CreateApplicationBody,
  CreatedApplication,
  ErrorBody,
  FeatureBody,
  PutTenantBody,
  RunParams,
  RunReport,
  StartRunBody,
  StartedRun,
  Tenant,
  TenantParams,
} from '@dcar/api-schemas';
import { Scopes, UserFacingError } from '@dcar/domain';
import {
  createApplication,
  getTenant,
  listApplications,
  listTenants,
  putTenant,
  revokeApplication,
  setDailyAudioFeature,
} from '@dcar/host';
import type { Config, Knex, Logger } from '@dcar/platform';
import { getRunReport, startRun, type RunQueues } from '@dcar/runs';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { authenticate } from '../auth/access-tokens.js';

export const MISSING_HOST_SCOPE = "The access token does not grant the 'host_admin' scope.";

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export interface HostRoutesDeps {
  db: Knex;
  auth: Config['auth'];
  runQueues: RunQueues;
  logger: Logger;
  now: () => Date;
}

/** Host endpoints need a valid token (401) carrying host_admin (403). */
export async function requireHostAdmin(auth: Config['auth'], request: FastifyRequest): Promise<void> {
  const principal = await authenticate(request, auth);
  if (!principal.scopes.has(Scopes.hostAdmin)) throw new UserFacingError(403, MISSING_HOST_SCOPE);
}

/**
 * CONTRACT §4.3: tenants, the feature, applications and runs, calling the same functions as the
 * admin CLI. Bodies are validated by their schemas (400 naming the field); the operations' own rules
 * answer a UserFacingError with its status.
 */
export async function registerHostRoutes(app: FastifyInstance, deps: HostRoutesDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request) => requireHostAdmin(deps.auth, request));
    const host = scope.withTypeProvider<TypeBoxTypeProvider>();
    const common = { tags: ['host'], security: [{ bearerAuth: [] }] };

    host.put(
      '/api/host/tenants/:tenantId',
      {
        schema: {
          ...common,
          summary: 'Create or update a tenant',
          params: TenantParams,
          body: PutTenantBody,
          response: { 200: Tenant, 201: Tenant, ...errors },
        },
      },
      async (request, reply) => {
        const { tenant, created } = await putTenant(deps.db, request.params.tenantId, request.body);
        request.log.info({ tenantId: tenant.id, created }, 'tenant saved');
        return reply.code(created ? 201 : 200).send(tenant);
      },
    );

    host.get(
      '/api/host/tenants',
      { schema: { ...common, summary: 'List tenants', response: { 200: Type.Array(Tenant), ...errors } } },
      async () => listTenants(deps.db),
    );

    host.get(
      '/api/host/tenants/:tenantId',
      { schema: { ...common, summary: 'Get a tenant', params: TenantParams, response: { 200: Tenant, ...errors } } },
      async (request) => getTenant(deps.db, request.params.tenantId),
    );

    host.put(
      '/api/host/tenants/:tenantId/features/daily-audio-recordings',
      {
        schema: {
          ...common,
          summary: 'Enable or disable daily audio recordings and set the retention',
          params: TenantParams,
          body: FeatureBody,
          response: { 200: Tenant, ...errors },
        },
      },
      async (request) => {
        const tenant = await setDailyAudioFeature(deps.db, request.params.tenantId, request.body);
        request.log.info({ tenantId: tenant.id, feature: tenant.dailyAudioRecordings }, 'daily audio recordings feature set');
        return tenant;
      },
    );

    host.post(
      '/api/host/tenants/:tenantId/applications',
      {
        schema: {
          ...common,
          summary: 'Create an application (client credentials); the secret is shown only in this answer',
          params: TenantParams,
          body: CreateApplicationBody,
          response: { 201: CreatedApplication, ...errors },
        },
      },
      async (request, reply) => {
        const created = await createApplication(deps.db, request.params.tenantId, request.body);
        request.log.info({ tenantId: request.params.tenantId, clientId: created.clientId }, 'application created');
        return reply.code(201).send(created);
      },
    );

    host.get(
      '/api/host/tenants/:tenantId/applications',
      { schema: { ...common, summary: 'List a tenant’s applications (no secrets)', params: TenantParams, response: { 200: Type.Array(Application), ...errors } } },
      async (request) => listApplications(deps.db, request.params.tenantId),
    );

    host.delete(
      '/api/host/tenants/:tenantId/applications/:clientId',
      {
        schema: {
          ...common,
          summary: 'Revoke an application: its tokens stop working at once',
          params: ApplicationParams,
          response: { 200: Application, ...errors },
        },
      },
      async (request) => {
        const application = await revokeApplication(deps.db, request.params.tenantId, request.params.clientId);
        request.log.info({ tenantId: application.tenantId, clientId: application.clientId }, 'application revoked');
        return application;
      },
    );

    host.post(
      '/api/host/daily-audio-recordings/runs',
      {
        schema: {
          ...common,
          summary: 'Generate (or with force regenerate) a past UTC day now',
          body: StartRunBody,
          response: { 202: StartedRun, ...errors },
        },
      },
      async (request, reply) => {
        const { runId, created } = await startRun(
          { db: deps.db, queues: deps.runQueues, logger: deps.logger, now: deps.now },
          { utcDay: request.body.utcDay, tenantIds: request.body.tenantIds, force: request.body.force ?? false, trigger: 'manual' },
        );
        request.log.info({ runId, utcDay: request.body.utcDay, created }, 'run requested');
        return reply.code(202).send({ runId, created });
      },
    );

    host.get(
      '/api/host/daily-audio-recordings/runs/:runId',
      {
        schema: {
          ...common,
          summary: 'A run: its state, rounds and every tenant-hour’s status',
          params: RunParams,
          response: { 200: RunReport, ...errors },
        },
      },
      async (request) => {
        const report = await getRunReport(deps.db, request.params.runId);
        if (!report) throw new UserFacingError(404, `run ${request.params.runId} not found`);
        return report;
      },
    );
  });
}
