import {
  ApplicationParams,
  CreateApplicationBody,
  DownloadsQuery,
  FeatureBody,
  HostAnswers,
  HostErrorAnswers,
  HostMessages,
  PutTenantBody,
  RunListQuery,
  RunParams,
  StartRunBody,
  TenantParams,
  requiresScope,
  type Download,
} from '@dcar/api-schemas';
import { ContractMessages, Scopes, UserFacingError, formatHour, parseUtcDay } from '@dcar/domain';
import { createApplication, getTenant, listApplications, listTenants, putTenant, revokeApplication, setDailyAudioFeature } from '@dcar/host';
import type { AuthConfig, Knex, Logger } from '@dcar/platform';
import { getRunReport, listRuns, startRun, type RunQueues } from '@dcar/runs';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { listDownloads } from '../audit.js';
import { authenticate } from '../auth/access-tokens.js';
import { InsufficientScope } from '../auth/bearer-challenge.js';

const errors = HostErrorAnswers;
/** How many downloads the host's list shows. */
const DOWNLOADS_LISTED = 100;

export interface HostRoutesDeps {
  db: Knex;
  auth: AuthConfig;
  runQueues: RunQueues;
  logger: Logger;
  now: () => Date;
}

/** Host endpoints need a valid token (401) carrying host_admin (403). */
export async function requireHostAdmin(auth: AuthConfig, request: FastifyRequest): Promise<void> {
  const principal = await authenticate(request, auth);
  if (!principal.scopes.has(Scopes.hostAdmin)) throw new InsufficientScope(Scopes.hostAdmin, HostMessages.missingHostScope);
}

/**
 * CONTRACT §4.3: tenants, the feature, applications and runs, calling the same functions as the
 * admin CLI. Bodies are validated by their schemas (400 naming the field); the operations' own rules
 * answer a UserFacingError with its status.
 */
export async function registerHostRoutes(app: FastifyInstance, deps: HostRoutesDeps): Promise<void> {
  await app.register((scope, _options, done) => {
    scope.addHook('onRequest', (request) => requireHostAdmin(deps.auth, request));
    const host = scope.withTypeProvider<TypeBoxTypeProvider>();
    const common = { tags: ['host'], security: requiresScope(Scopes.hostAdmin) };

    host.put(
      '/api/host/tenants/:tenantId',
      {
        schema: {
          ...common,
          operationId: 'putTenant',
          summary: 'Create or update a tenant',
          params: TenantParams,
          body: PutTenantBody,
          response: { 200: HostAnswers.tenantSaved, 201: HostAnswers.tenantCreated, ...errors },
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
      { schema: { ...common, operationId: 'listTenants', summary: 'List tenants', response: { 200: HostAnswers.tenants, ...errors } } },
      async () => listTenants(deps.db),
    );

    host.get(
      '/api/host/tenants/:tenantId',
      { schema: { ...common, operationId: 'getTenant', summary: 'Get a tenant', params: TenantParams, response: { 200: HostAnswers.tenant, ...errors } } },
      async (request) => getTenant(deps.db, request.params.tenantId),
    );

    host.put(
      '/api/host/tenants/:tenantId/features/daily-audio-recordings',
      {
        schema: {
          ...common,
          operationId: 'setDailyAudioRecordingsFeature',
          summary: 'Enable or disable daily audio recordings and set the retention (1-7 days)',
          params: TenantParams,
          body: FeatureBody,
          response: { 200: HostAnswers.feature, ...errors },
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
          operationId: 'createApplication',
          summary: 'Create an application (client credentials); the secret is shown only in this answer',
          params: TenantParams,
          body: CreateApplicationBody,
          response: { 201: HostAnswers.createdApplication, ...errors },
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
      {
        schema: {
          ...common,
          operationId: 'listApplications',
          summary: 'List a tenant’s applications (no secrets)',
          params: TenantParams,
          response: { 200: HostAnswers.applications, ...errors },
        },
      },
      async (request) => listApplications(deps.db, request.params.tenantId),
    );

    host.get(
      '/api/host/tenants/:tenantId/downloads',
      {
        schema: {
          ...common,
          operationId: 'listTenantDownloads',
          summary: 'Who fetched the tenant’s hours, and which bytes: the last 100 answers of its download links',
          description:
            'Each answer of the download link endpoint for the tenant, newest first (of one UTC day, with utcDay): the application, ' +
            'the hour, the status, the SHA-256 of the archive a 302 redirected to, and the client’s address.',
          params: TenantParams,
          querystring: DownloadsQuery,
          response: { 200: HostAnswers.downloads, ...errors },
        },
      },
      async (request): Promise<Download[]> => {
        const { tenantId } = request.params;
        const { utcDay } = request.query;
        const day = utcDay === undefined ? undefined : parseUtcDay(utcDay);
        if (day === null) throw new UserFacingError(400, ContractMessages.invalidDay);
        await getTenant(deps.db, tenantId);
        const records = await listDownloads(deps.db, { tenantId, ...(day ? { utcDay: day } : {}), limit: DOWNLOADS_LISTED });
        return records.map((record) => ({
          occurredAt: record.occurredAt.toISOString(),
          clientId: record.clientId,
          utcDay: record.utcDay,
          hour: record.hour === null ? null : formatHour(record.hour),
          status: record.statusCode,
          sha256: record.archiveSha256,
          address: record.remoteAddress,
          userAgent: record.userAgent,
          requestId: record.requestId,
        }));
      },
    );

    host.delete(
      '/api/host/tenants/:tenantId/applications/:clientId',
      {
        schema: {
          ...common,
          operationId: 'revokeApplication',
          summary: 'Revoke an application: its tokens stop working at once',
          params: ApplicationParams,
          response: { 200: HostAnswers.revokedApplication, ...errors },
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
          operationId: 'startRun',
          summary: 'Generate (or with force regenerate) a past UTC day now',
          description: 'The day must be over and within the retention of every tenant named (400 otherwise).',
          body: StartRunBody,
          response: {
            202: HostAnswers.startedRun,
            ...errors,
            503: HostAnswers.runNotQueued,
          },
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
      '/api/host/daily-audio-recordings/runs',
      {
        schema: {
          ...common,
          operationId: 'listRuns',
          summary: 'Runs, newest first, with their state and rounds (optionally of one UTC day)',
          description: 'The same list as `pnpm admin runs [--day D]`; `GET .../runs/{runId}` gives one run with every tenant-hour.',
          querystring: RunListQuery,
          response: { 200: HostAnswers.runs, ...errors },
        },
      },
      async (request) => listRuns(deps.db, { utcDay: request.query.utcDay, limit: request.query.limit }),
    );

    host.get(
      '/api/host/daily-audio-recordings/runs/:runId',
      {
        schema: {
          ...common,
          operationId: 'getRun',
          summary: 'A run: its state, rounds and every tenant-hour’s status',
          params: RunParams,
          response: { 200: HostAnswers.run, ...errors },
        },
      },
      async (request) => {
        const report = await getRunReport(deps.db, request.params.runId);
        if (!report) throw new UserFacingError(404, `run ${request.params.runId} not found`);
        return report;
      },
    );
    done();
  });
}
