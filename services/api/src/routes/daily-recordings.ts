import { findArchivesOfDays, findDayArchives, type HourArchive } from '@dcar/archives';
import { DailyRecordingsAnswers, DailyRecordingsParams, DayListAnswers, DayListMessages, DayListQuery, requiresScope, type DayList } from '@dcar/api-schemas';
import {
  ContractMessages,
  MAX_RETENTION_DAYS,
  Scopes,
  UserFacingError,
  addUtcDays,
  dayGeneratedAt,
  isBeyondRetention,
  isFutureUtcDay,
  parseUtcDay,
  utcDayOf,
  type UtcDay,
} from '@dcar/domain';
import { findTenantAccess } from '@dcar/host';
import type { AuthConfig, Knex } from '@dcar/platform';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessAuditWriter } from '../audit.js';
import { authenticate, type Principal } from '../auth/access-tokens.js';
import { BearerTokenRefused, InsufficientScope } from '../auth/bearer-challenge.js';
import { buildDailyReport, summariseDay } from '../daily-report.js';
import { FrameworkMessages } from '../errors.js';
import { dailyRecordingOutcome, type ApiMetrics } from '../metrics.js';
import { slidingWindowStore, type SlidingWindow } from '../sliding-window.js';

export const DAY_LIST_PATH = '/api/external/conversations/daily-audio-recordings';
const DAILY_RECORDINGS_PREFIX = `${DAY_LIST_PATH}/`;
export const DAILY_RECORDINGS_PATH = `${DAILY_RECORDINGS_PREFIX}:utcDay`;
/** Stands in for a day the router cannot read; never a date, so the route answers it with the contract's 400. */
const UNREADABLE_DAY = '-';

/** What follows the endpoint's prefix in a request URL, up to its query, as sent; null for other URLs. */
function rawDayPath(url: string): string | null {
  if (!url.startsWith(DAILY_RECORDINGS_PREFIX)) return null;
  const end = url.search(/[?#]/);
  return url.slice(DAILY_RECORDINGS_PREFIX.length, end < 0 ? undefined : end);
}

/** A download link's path after the prefix (CONTRACT §4.4): `{utcDay}/hours/{HH}/archive`, whatever the two segments hold. */
const LINK_PATH_SHAPE = /^[^/]*\/hours\/[^/]*\/archive$/;

/**
 * Fastify's `rewriteUrl`: a day the router would refuse itself (percent-encoding that does not
 * decode, a segment over `maxParamLength`) is routed to the endpoint as an unreadable day, so the
 * caller still gets the contract's checks in order (the token's 401 first) and the call is audited,
 * instead of the framework's own 400 or 414 before any check. A download link's path with such a
 * day or hour goes to the link endpoint the same way, whose answer is then the malformed link's 403
 * (not the bearer token's 401 of the daily endpoint).
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
  const readable = LINK_PATH_SHAPE.test(dayPath) ? `${UNREADABLE_DAY}/hours/${UNREADABLE_DAY}/archive` : UNREADABLE_DAY;
  return `${DAILY_RECORDINGS_PREFIX}${readable}${url.slice(DAILY_RECORDINGS_PREFIX.length + dayPath.length)}`;
}

/** A rewritten link's day and hour as the caller sent them (raw), for its audit record; null when the URL was not rewritten. */
export function unreadableLinkParts(request: FastifyRequest): { utcDay: string; hour: string } | null {
  if (request.originalUrl === request.url) return null;
  const [utcDay = '', , hour = ''] = rawDayPath(request.originalUrl)?.split('/') ?? [];
  return { utcDay, hour };
}

/** The day as the caller sent it: the raw text when the router could not read it, else the decoded parameter. */
function requestedDay(request: FastifyRequest): string | null {
  if (request.originalUrl !== request.url) return rawDayPath(request.originalUrl);
  const utcDay = (request.params as { utcDay?: unknown } | undefined)?.utcDay;
  return typeof utcDay === 'string' ? utcDay : null;
}

/** What a download link is made of: the hour's archive and who asked for it. */
export interface HourLinkRequest {
  tenantId: string;
  clientId: string;
  issuer: Principal['issuer'];
  utcDay: UtcDay;
  hour: number;
  /** The archive's object key. */
  key: string;
}

/** What the checks before the rate limit established; the handler reads it. */
interface AuthorizedTenant {
  tenantId: string;
  clientId: string;
  /** Who issued the caller's token: its download links say so, to be checked the same way. */
  issuer: Principal['issuer'];
  retentionDays: number;
  /** The archive rows the request needs (its day's, or its range's), read alongside the checks. */
  hours: Array<HourArchive & { utcDay: UtcDay }>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller of an external request, once its token is checked; null before. */
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
  auth: AuthConfig;
  /** The download link of one available hour: a signed link to the API, or a presigned store URL (DOWNLOAD_LINKS). */
  signLink: (link: HourLinkRequest, now: Date) => string;
  metrics: ApiMetrics;
  now: () => Date;
  rateLimitPerHour: number;
  /** Prefix of the limit's Redis keys: every replica on one Redis must use the same one to share the count. */
  rateLimitNamespace: string;
}

/**
 * Token (401), scope (403), feature (403): in the contract's order, before the rate limit counts
 * anything. Two queries at once: the tenant's settings with, for an application's own token, whether
 * that application still exists unrevoked for the token's tenant; and the archive rows the request
 * will need (`readArchives`, given the token's tenant). The rows are only read here, ahead of the
 * limit: nothing of them is shown unless every check passes.
 */
async function authorizeTenant(
  deps: DailyRecordingsDeps,
  request: FastifyRequest,
  readArchives: (tenantId: string) => Promise<AuthorizedTenant['hours']>,
): Promise<void> {
  const principal = await authenticate(request, deps.auth);
  request.dailyRecordingsPrincipal = principal;
  const [access, hours] = await Promise.all([
    findTenantAccess(deps.db, { tenantId: principal.tenantId ?? '', clientId: principal.issuer === 'own' ? principal.clientId : null }),
    principal.tenantId !== null ? readArchives(principal.tenantId) : [],
  ]);
  // An application's token dies with the application: revoked (or moved) clients are refused like a bad token.
  if (principal.issuer === 'own' && principal.tenantId !== null && access.clientTenantId !== principal.tenantId) {
    throw new BearerTokenRefused(true);
  }
  if (!principal.scopes.has(Scopes.external) || principal.tenantId === null) throw new InsufficientScope(Scopes.external, ContractMessages.missingScope);
  if (!access.feature?.enabled) throw new UserFacingError(403, ContractMessages.featureDisabled);
  request.authorizedTenant = {
    tenantId: principal.tenantId,
    clientId: principal.clientId,
    issuer: principal.issuer,
    retentionDays: access.feature.retentionDays,
    hours,
  };
}

/** The day(s) a request asked for, as sent, for the audit log: the path's day, or the list's `from..to`. */
function requestedDays(request: FastifyRequest): string | null {
  const utcDay = requestedDay(request);
  if (utcDay !== null) return utcDay.slice(0, 64);
  const query = request.query as { from?: unknown; to?: unknown } | undefined;
  const from = typeof query?.from === 'string' ? query.from.slice(0, 30) : '';
  const to = typeof query?.to === 'string' ? query.to.slice(0, 30) : '';
  return from || to ? `${from}..${to}` : null;
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
      utc_day: requestedDays(request),
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

/**
 * The oldest day the list looks at: a run generates a day at most MAX_RETENTION_DAYS after it
 * (older days are refused) and its archives live at most MAX_RETENTION_DAYS after that. Days before
 * it can only be past retention; days after today do not exist yet.
 */
function oldestServableDay(now: Date): UtcDay {
  return addUtcDays(utcDayOf(now), -2 * MAX_RETENTION_DAYS);
}

type ListRange = { from: UtcDay; to: UtcDay; scan: { from: UtcDay; to: UtcDay } | null };

/** The list's range after defaults, the part of it worth reading, or why it is refused. */
function listRange(query: { from?: unknown; to?: unknown }, now: Date): ListRange | 'invalid' | 'reversed' {
  const today = utcDayOf(now);
  const day = (value: unknown, fallback: UtcDay) => (value === undefined ? fallback : typeof value === 'string' ? parseUtcDay(value) : null);
  let from = day(query.from, oldestServableDay(now));
  let to = day(query.to, today);
  if (!from || !to) return 'invalid';
  if (from > to) {
    // Only a range the caller wrote is reversed; a default yields to the bound that was sent
    // (`?to=` a day long past, `?from=` a day to come): a range of that one day.
    if (query.from !== undefined && query.to !== undefined) return 'reversed';
    if (query.from === undefined) from = to;
    else to = from;
  }
  const scan = { from: from > oldestServableDay(now) ? from : oldestServableDay(now), to: to < today ? to : today };
  return { from, to, scan: scan.from <= scan.to ? scan : null };
}

function* daysOf(range: { from: UtcDay; to: UtcDay }): Generator<UtcDay> {
  for (let day = range.from; day <= range.to; day = addUtcDays(day, 1)) yield day;
}

/** True when a day can no longer be served: an hour expired, or the retention rule says so (CONTRACT §4.2's 404). */
function isPastRetention(day: UtcDay, hours: readonly HourArchive[], retentionDays: number, now: Date): boolean {
  return hours.some((hour) => hour.status === 'expired') || isBeyondRetention({ day, generatedAt: dayGeneratedAt(hours), retentionDays, now });
}

/**
 * `GET /api/external/conversations/daily-audio-recordings/{utcDay}` (CONTRACT §4.2) and the tenant's
 * list of days, `GET /api/external/conversations/daily-audio-recordings?from=&to=`: same checks in the
 * same order, one shared rate limit (a list counts as one request).
 */
export async function registerDailyRecordingsRoute(app: FastifyInstance, deps: DailyRecordingsDeps): Promise<void> {
  app.decorateRequest('dailyRecordingsPrincipal', null);
  app.decorateRequest('authorizedTenant', null);
  // The limit is per tenant, over a sliding hour in Redis, shared by all replicas and both routes. It
  // runs after the onRequest checks, so refused tokens and disabled tenants never use up a quota.
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
  const external = app.withTypeProvider<TypeBoxTypeProvider>();
  const common = {
    // Answers hold download links (credentials): no cache may keep them.
    onRequestHeaders: async (_request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-store');
    },
    onSend: async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => recordAccess(deps.audit, request, reply, payload),
  };

  external.get(
    DAILY_RECORDINGS_PATH,
    {
      schema: {
        tags: ['external'],
        operationId: 'getDailyAudioRecordings',
        summary: 'The 24 hourly archives of a UTC day, with download links and their SHA-256',
        description:
          'Checks run in this order: token (401), scope (403), feature (403), rate limit (429), date (400), retention (404). ' +
          'Counts one request against the tenant’s hourly limit.',
        security: requiresScope(Scopes.external),
        // Only a string here: the date is checked in the handler, after token, scope, feature and limit.
        params: DailyRecordingsParams,
        response: DailyRecordingsAnswers,
      },
      onRequest: [
        common.onRequestHeaders,
        async (request) => {
          const day = parseUtcDay(request.params.utcDay);
          await authorizeTenant(deps, request, async (tenantId) =>
            day ? (await findDayArchives(deps.db, tenantId, day)).map((h) => ({ ...h, utcDay: day })) : [],
          );
        },
      ],
      preHandler: rateLimit,
      onSend: common.onSend,
      onResponse: async (_request, reply) => {
        deps.metrics.dailyRecordingRequests.inc({ outcome: dailyRecordingOutcome(reply.statusCode) });
      },
    },
    (request) => {
      const tenant = request.authorizedTenant;
      if (!tenant) throw new Error('daily recordings handler reached without an authorized tenant');
      const now = deps.now();
      const day = parseUtcDay(request.params.utcDay);
      if (!day) throw new UserFacingError(400, ContractMessages.invalidDay);
      if (isFutureUtcDay(day, now)) throw new UserFacingError(400, ContractMessages.futureDay);

      const { hours } = tenant;
      if (isPastRetention(day, hours, tenant.retentionDays, now)) throw new UserFacingError(404, ContractMessages.beyondRetention);

      const log = request.log.child({ tenantId: tenant.tenantId, utcDay: day, clientId: tenant.clientId });
      const report = buildDailyReport({
        tenantId: tenant.tenantId,
        day,
        hours,
        retentionDays: tenant.retentionDays,
        sign: (key, hour) => deps.signLink({ tenantId: tenant.tenantId, clientId: tenant.clientId, issuer: tenant.issuer, utcDay: day, hour, key }, now),
        onKeyMismatch: (hour, storedKey) => log.error({ hour, storedKey }, 'archive row points at a key outside the tenant’s own: not signed'),
      });
      log.info({ available: report.links.filter((l) => l.status === 'available').length }, 'daily recording links served');
      return report;
    },
  );

  external.get(
    DAY_LIST_PATH,
    {
      schema: {
        tags: ['external'],
        operationId: 'listDailyAudioRecordingDays',
        summary: 'The tenant’s days within retention, each with its hours per status',
        description:
          'What exists, without a request per day: each day of the range still within retention, oldest first, with its ' +
          'hours per status, totals and times (as the day’s own endpoint would report them), without links. Same checks ' +
          'in the same order as the day’s endpoint; counts one request against the same hourly limit.',
        security: requiresScope(Scopes.external),
        // Plain strings, like the day's path: the dates are checked in the handler, after the limit.
        querystring: DayListQuery,
        response: DayListAnswers,
      },
      // A `from` or `to` the schema refuses (a repeated parameter arrives as a list) is not a date:
      // the handler answers the contract's date message, not the schema's "must be string".
      attachValidation: true,
      // The limit counts in onRequest here, before the query's schema is checked: a malformed query
      // (a repeated `from`) then answers its 400 after the limit, in the contract's order.
      onRequest: [
        common.onRequestHeaders,
        async (request) => {
          const range = listRange(request.query, deps.now());
          await authorizeTenant(deps, request, (tenantId) =>
            typeof range === 'object' && range.scan ? findArchivesOfDays(deps.db, tenantId, range.scan) : Promise.resolve([]),
          );
        },
        rateLimit,
      ],
      onSend: common.onSend,
    },
    (request): DayList => {
      const tenant = request.authorizedTenant;
      if (!tenant) throw new Error('day list handler reached without an authorized tenant');
      const now = deps.now();
      const range = listRange(request.query, now);
      if (range === 'invalid') throw new UserFacingError(400, ContractMessages.invalidDay);
      if (range === 'reversed') throw new UserFacingError(400, DayListMessages.rangeReversed);

      const log = request.log.child({ tenantId: tenant.tenantId, clientId: tenant.clientId });
      const byDay = new Map<UtcDay, HourArchive[]>();
      for (const hour of tenant.hours) byDay.set(hour.utcDay, [...(byDay.get(hour.utcDay) ?? []), hour]);
      const days = range.scan
        ? [...daysOf(range.scan)]
            .map((day) => ({ day, hours: byDay.get(day) ?? [] }))
            .filter(({ day, hours }) => !isPastRetention(day, hours, tenant.retentionDays, now))
            .map(({ day, hours }) =>
              summariseDay({
                tenantId: tenant.tenantId,
                day,
                hours,
                retentionDays: tenant.retentionDays,
                onKeyMismatch: (hour, storedKey) => log.error({ utcDay: day, hour, storedKey }, 'archive row points at a key outside the tenant’s own'),
              }),
            )
        : [];
      log.info({ from: range.from, to: range.to, days: days.length }, 'day list served');
      return { from: range.from, to: range.to, retentionDays: tenant.retentionDays, days };
    },
  );

  // Anything else under the endpoints' path: the token still comes first (401), then a 404.
  await app.register(
    (scope, _options, done) => {
      scope.setNotFoundHandler({ preHandler: async (request: FastifyRequest) => void (await authenticate(request, deps.auth)) }, async (_request, reply) =>
        reply.code(404).send({ error: FrameworkMessages.notFound }),
      );
      done();
    },
    { prefix: DAY_LIST_PATH },
  );
}
