import { findDayArchives, type HourArchive } from '@dcar/archives';
import { DailyRecordings, DailyRecordingsParams, ErrorBody } from '@dcar/api-schemas';
import {
  ContractMessages,
  Scopes,
  UserFacingError,
  dayGeneratedAt,
  isBeyondRetention,
  isFutureUtcDay,
  parseUtcDay,
} from '@dcar/domain';
import { findTenantAccess } from '@dcar/host';
import type { Config, Knex } from '@dcar/platform';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessAuditWriter } from '../audit.js';
import { authenticate, type Principal } from '../auth/access-tokens.js';
import { buildDailyReport } from '../daily-report.js';
import { dailyRecordingOutcome, type ApiMetrics } from '../metrics.js';
import type { Presigner } from '../presign.js';
import { slidingWindowStore, type SlidingWindow } from '../sliding-window.js';

const DAILY_RECORDINGS_BASE = '/api/external/conversations/daily-audio-recordings';
const DAILY_RECORDINGS_PREFIX = `${DAILY_RECORDINGS_BASE}/`;
export const DAILY_RECORDINGS_PATH = `${DAILY_RECORDINGS_PREFIX}:utcDay`;
/** Stands in for a day the router cannot read; never a date, so the route answers it with the contract's 400. */
const UNREADABLE_DAY = '-';

/** What follows the endpoint's prefix in a request URL, up to its query, as sent; null for other URLs. */
function rawDayPath(url: string): string | null {
  if (!url.startsWith(DAILY_RECORDINGS_PREFIX)) return null;
  const end = url.search(/[?#]/);
  return url.slice(DAILY_RECORDINGS_PREFIX.length, end < 0 ? undefined : end);
}

/**
 * Fastify's `rewriteUrl`: a day the router would refuse itself (percent-encoding that does not
 * decode, a segment over `maxParamLength`) is routed to the endpoint as an unreadable day, so the
 * caller still gets the contract's checks in order (the token's 401 first) and the call is audited,
 * instead of the framework's own 400 or 414 before any check.
 */
export function routableDailyUrl(url: string, maxParamLength: number): string {
  const dayPath = rawDayPath(url);
  if (dayPath === null) return url;
  let decoded: string | null;
  try {
    decoded = decodeURI(dayPath);
  } catch {
    decoded = null;
  }
  if (decoded !== null && decoded.split('/').every((segment) => segment.length <= maxParamLength)) return url;
  return `${DAILY_RECORDINGS_PREFIX}${UNREADABLE_DAY}${url.slice(DAILY_RECORDINGS_PREFIX.length + dayPath.length)}`;
}

/** The day as the caller sent it: the raw text when the router could not read it, else the decoded parameter. */
function requestedDay(request: FastifyRequest): string | null {
  if (request.originalUrl !== request.url) return rawDayPath(request.originalUrl);
  const utcDay = (request.params as { utcDay?: unknown } | undefined)?.utcDay;
  return typeof utcDay === 'string' ? utcDay : null;
}

/** What the checks before the rate limit established; the handler reads it. */
interface AuthorizedTenant {
  tenantId: string;
  clientId: string;
  retentionDays: number;
  hours: HourArchive[];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller of a daily-recordings request, once its token is checked; null before. */
    dailyRecordingsPrincipal: Principal | null;
    /** Set when token, scope and feature checks passed: the tenant the request may read. */
    authorizedTenant: AuthorizedTenant | null;
  }
}

export interface DailyRecordingsDeps {
  db: Knex;
  audit: AccessAuditWriter;
  /** The limit's counts, in Redis. */
  limits: SlidingWindow;
  auth: Config['auth'];
  presigner: Presigner;
  metrics: ApiMetrics;
  now: () => Date;
  rateLimitPerHour: number;
  /** Prefix of the limit's Redis keys: every replica on one Redis must use the same one to share the count. */
  rateLimitNamespace: string;
}

/**
 * Token (401), scope (403), feature (403): in the contract's order, before the rate limit counts
 * anything. Two queries at once: the tenant's settings with, for an application's own token, whether
 * that application still exists unrevoked for the token's tenant; and, when the day is a real date,
 * the day's archive rows. The rows are only read here, ahead of the limit: nothing of them is shown
 * unless every check passes.
 */
async function authorizeTenant(deps: DailyRecordingsDeps, request: FastifyRequest): Promise<void> {
  const principal = await authenticate(request, deps.auth);
  request.dailyRecordingsPrincipal = principal;
  const day = parseUtcDay((request.params as { utcDay: string }).utcDay);
  const [access, hours] = await Promise.all([
    findTenantAccess(deps.db, { tenantId: principal.tenantId ?? '', clientId: principal.issuer === 'own' ? principal.clientId : null }),
    day && principal.tenantId !== null ? findDayArchives(deps.db, principal.tenantId, day) : [],
  ]);
  // An application's token dies with the application: revoked (or moved) clients are refused like a bad token.
  if (principal.issuer === 'own' && principal.tenantId !== null && access.clientTenantId !== principal.tenantId) {
    throw new UserFacingError(401, ContractMessages.unauthorized);
  }
  if (!principal.scopes.has(Scopes.external) || principal.tenantId === null) throw new UserFacingError(403, ContractMessages.missingScope);
  if (!access.feature?.enabled) throw new UserFacingError(403, ContractMessages.featureDisabled);
  request.authorizedTenant = { tenantId: principal.tenantId, clientId: principal.clientId, retentionDays: access.feature.retentionDays, hours };
}

/**
 * Every call is recorded, whatever its outcome, before the answer leaves: if its record cannot be
 * written, the call answers 500 instead (whatever it would have answered), so no download and no
 * refusal goes unaccounted for.
 */
async function recordAccess(audit: AccessAuditWriter, request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const principal = request.dailyRecordingsPrincipal;
  try {
    await audit.record({
      tenant_id: principal?.tenantId ?? null,
      client_id: principal?.clientId ?? null,
      utc_day: requestedDay(request)?.slice(0, 64) ?? null,
      status_code: reply.statusCode,
      remote_address: request.ip,
      user_agent: request.headers['user-agent']?.slice(0, 512) ?? null,
      request_id: request.id,
    });
    return payload;
  } catch {
    reply.code(500).header('content-type', 'application/json; charset=utf-8');
    return JSON.stringify({ error: ContractMessages.internal });
  }
}

/** `GET /api/external/conversations/daily-audio-recordings/{utcDay}` (CONTRACT §4.2). */
export async function registerDailyRecordingsRoute(app: FastifyInstance, deps: DailyRecordingsDeps): Promise<void> {
  app.decorateRequest('dailyRecordingsPrincipal', null);
  app.decorateRequest('authorizedTenant', null);
  // The limit is per tenant, over a sliding hour in Redis, shared by all replicas. It runs as the
  // route's preHandler, after the onRequest checks, so refused tokens and disabled tenants never
  // use up a tenant's quota.
  await app.register(fastifyRateLimit, {
    global: false,
    max: deps.rateLimitPerHour,
    timeWindow: 3_600_000,
    store: slidingWindowStore(deps.limits, deps.rateLimitNamespace),
    skipOnError: false,
    keyGenerator: (request) => request.authorizedTenant?.tenantId ?? '',
    // Thrown by the plugin and rendered by the error handler, which answers exactly `{ "error": ... }`.
    errorResponseBuilder: () => new UserFacingError(429, ContractMessages.rateLimited),
  });
  const rateLimit = app.rateLimit();

  app.withTypeProvider<TypeBoxTypeProvider>().get(
    DAILY_RECORDINGS_PATH,
    {
      schema: {
        tags: ['external'],
        summary: 'The 24 hourly archives of a UTC day, with presigned download URLs',
        security: [{ bearerAuth: [] }],
        // Only a string here: the date is checked in the handler, after token, scope, feature and limit.
        params: DailyRecordingsParams,
        response: { 200: DailyRecordings, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody, 500: ErrorBody },
      },
      onRequest: async (request) => authorizeTenant(deps, request),
      preHandler: rateLimit,
      onSend: async (request, reply, payload) => recordAccess(deps.audit, request, reply, payload),
      onResponse: async (_request, reply) => {
        deps.metrics.dailyRecordingRequests.inc({ outcome: dailyRecordingOutcome(reply.statusCode) });
      },
    },
    async (request) => {
      const tenant = request.authorizedTenant;
      if (!tenant) throw new Error('daily recordings handler reached without an authorized tenant');
      const now = deps.now();
      const day = parseUtcDay(request.params.utcDay);
      if (!day) throw new UserFacingError(400, ContractMessages.invalidDay);
      if (isFutureUtcDay(day, now)) throw new UserFacingError(400, ContractMessages.futureDay);

      const { hours } = tenant;
      const expired = hours.some((hour) => hour.status === 'expired');
      if (expired || isBeyondRetention({ day, generatedAt: dayGeneratedAt(hours), retentionDays: tenant.retentionDays, now })) {
        throw new UserFacingError(404, ContractMessages.beyondRetention);
      }

      const log = request.log.child({ tenantId: tenant.tenantId, utcDay: day, clientId: tenant.clientId });
      const report = buildDailyReport({
        tenantId: tenant.tenantId,
        day,
        hours,
        retentionDays: tenant.retentionDays,
        sign: (key) => deps.presigner.presignGet(key, now),
        onKeyMismatch: (hour, storedKey) => log.error({ hour, storedKey }, 'archive row points at a key outside the tenant’s own: not signed'),
      });
      log.info({ available: report.links.filter((l) => l.status === 'available').length }, 'daily recording links served');
      return report;
    },
  );

  // Anything else under the endpoint's path: the token still comes first (401), then a 404.
  for (const url of [DAILY_RECORDINGS_BASE, `${DAILY_RECORDINGS_PREFIX}*`]) {
    app.all(
      url,
      { schema: { hide: true }, onRequest: async (request) => void (await authenticate(request, deps.auth)) },
      async (_request, reply) => reply.callNotFound(),
    );
  }
}
