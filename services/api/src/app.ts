import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { documentDateFormats, openApiDocument } from '@dcar/api-schemas';
import { createMetricsRegistry, type ApiConfig, type Knex, type Logger } from '@dcar/platform';
import type { RunQueues } from '@dcar/runs';
import { createSecretBox, systemResolveHost, type ResolveHost } from '@dcar/webhooks';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createAccessAuditWriter } from './audit.js';
import { createDownloadLinkSigner } from './download-links.js';
import { registerAccessTokens } from './auth/access-tokens.js';
import { createGuessThrottle } from './auth/guess-throttle.js';
import { createJwksKeySource, type JwksKeySource } from './auth/jwks.js';
import { answerClientError, answerFrameworkError, installClosingAnswer, installErrorHandling } from './errors.js';
import { createApiMetrics, installHttpMetrics } from './metrics.js';
import { createSigV4Presigner, type Presigner } from './presign.js';
import { installRequestLog } from './request-log.js';
import { createSlidingWindow } from './sliding-window.js';
import { BULL_BOARD_PATH, registerBullBoard } from './routes/bull-board.js';
import { registerDailyRecordingsRoute, routableDailyUrl, type HourLinkRequest } from './routes/daily-recordings.js';
import { createArchiveProbe, registerDownloadLinkRoute } from './routes/download-links.js';
import { registerHostRoutes } from './routes/host.js';
import { registerOperationsRoutes } from './routes/operations.js';
import { registerTokenRoute } from './routes/token.js';
import { registerWebhookRoutes } from './routes/webhooks.js';
import { installUtf8JsonParser, strictBodyValidators } from './validation.js';

/** Where the OpenAPI document and the docs page are served. */
export const DOCS_PATH = '/docs';

/**
 * Security headers (@fastify/helmet) of the JSON API: no content may load or frame anything. The
 * HTML pages (the docs and Bull Board) get helmet's default policy instead, which lets them load
 * their own scripts, styles and images; no `upgrade-insecure-requests`, so a page served over plain
 * HTTP (development, an internal network) still loads its own assets.
 */
const API_SECURITY_HEADERS: FastifyHelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
};
const PAGE_SECURITY_HEADERS = { contentSecurityPolicy: { useDefaults: true, directives: { upgradeInsecureRequests: null } } };
const PAGE_PATHS = [DOCS_PATH, BULL_BOARD_PATH];

/** The address the API's own listen settings give, for the OpenAPI document's `servers`; a wildcard host is read as loopback. */
export function listenUrl(api: ApiConfig['api']): string {
  const host = api.host === '0.0.0.0' || api.host === '::' ? '127.0.0.1' : api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${api.port}`;
}

export interface ApiDeps {
  config: ApiConfig;
  db: Knex;
  /** Limits (download limit, failed secrets), queues and readiness; owned by the caller. */
  redis: Redis;
  /** The services' own S3 client (S3_ENDPOINT), for readiness and the link endpoint's check that a ZIP is still there. */
  s3: S3Client;
  runQueues: RunQueues;
  logger: Logger;
  now?: () => Date;
  /** DOWNLOAD_LINKS=direct's links. Default: SigV4 URLs for S3_PUBLIC_ENDPOINT and the archive bucket, valid DOWNLOAD_LINK_TTL_SECONDS. */
  presigner?: Presigner;
  /** The link endpoint's redirects. Default: SigV4 URLs like `presigner`'s, valid DOWNLOAD_REDIRECT_TTL_SECONDS. */
  redirectPresigner?: Presigner;
  registry?: Registry;
  /**
   * Default: `{REDIS_PREFIX}:download-limit:`. Not the fixed window's old `rate-limit:daily-recordings:`
   * keys (strings, not sorted sets), so replicas of both versions never meet on one key during a rollout.
   */
  rateLimitNamespace?: string;
  /**
   * Time (ms since the epoch) of the limits kept in Redis: failed-secret counts and the download
   * limit. Default: Redis' own clock, the same for every replica; tests move their own.
   */
  limitsClock?: () => number;
  jwks?: JwksKeySource;
  /** How webhook URLs' hosts are resolved at registration; default: the system resolver. */
  resolveHost?: ResolveHost;
}

/** The API as a Fastify instance, from injected clients: main.ts listens with it, tests inject into it. */
export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const now = deps.now ?? (() => new Date());
  const registry = deps.registry ?? createMetricsRegistry('api');
  const metrics = createApiMetrics(registry);
  const storePresigner = (expiresInSeconds: number, endpoint = config.s3.publicEndpoint) =>
    createSigV4Presigner({
      endpoint,
      region: config.s3.region,
      accessKeyId: config.s3.accessKeyId,
      secretAccessKey: config.s3.secretAccessKey,
      sessionToken: config.s3.sessionToken,
      forcePathStyle: config.s3.forcePathStyle,
      bucket: config.s3.archiveBucket,
      expiresInSeconds,
    });
  const { downloads } = config;
  const presigner = deps.presigner ?? storePresigner(downloads.linkTtlSeconds);
  const redirectPresigner = deps.redirectPresigner ?? storePresigner(downloads.redirectTtlSeconds);
  const linkSigner = createDownloadLinkSigner({
    baseUrl: downloads.publicApiUrl ?? `http://127.0.0.1:${config.api.port}`,
    key: downloads.linkKey,
    ttlSeconds: downloads.linkTtlSeconds,
  });
  const signLink =
    downloads.mode === 'api'
      ? (link: HourLinkRequest, at: Date) =>
          linkSigner.sign({ tenantId: link.tenantId, clientId: link.clientId, issuer: link.issuer, utcDay: link.utcDay, hour: link.hour }, at)
      : (link: HourLinkRequest, at: Date) => presigner.presignGet(link.key, at);
  const jwks = deps.jwks ?? (config.auth.external ? createJwksKeySource({ url: config.auth.external.jwksUrl }) : null);

  // Typed as Fastify's logger interface: the instance's type then matches plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const maxParamLength = 1000;
  const app = Fastify({
    loggerInstance,
    genReqId: () => randomUUID(),
    routerOptions: { maxParamLength },
    // Days the router could not read still reach the daily endpoint, whose token check comes first.
    rewriteUrl: (request) => routableDailyUrl(request.url ?? '/', maxParamLength),
    frameworkErrors: answerFrameworkError,
    schemaController: { compilersFactory: { buildValidator: strictBodyValidators() } },
    clientErrorHandler: answerClientError,
    // Answered by installClosingAnswer instead, in the contract's { "error" } shape.
    return503OnClosing: false,
    // One line per request, from installRequestLog, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.api.trustProxy,
  });
  installRequestLog(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  installClosingAnswer(app);
  installErrorHandling(app);
  installUtf8JsonParser(app);
  installHttpMetrics(app, registry);

  // Added before helmet's own onRoute hook, which reads each route's `helmet` option.
  app.addHook('onRoute', (route) => {
    if (PAGE_PATHS.some((path) => route.url.startsWith(path))) route.helmet = PAGE_SECURITY_HEADERS;
  });
  await app.register(fastifyHelmet, API_SECURITY_HEADERS);

  await app.register(fastifySwagger, {
    openapi: openApiDocument({ serverUrl: listenUrl(config.api) }),
    transform: ({ schema, url }) => ({
      schema: url.startsWith(BULL_BOARD_PATH) ? { ...schema, hide: true } : documentDateFormats(schema as Record<string, unknown>),
      url,
    }),
  });
  await registerAccessTokens(app, config.auth, jwks);

  const limits = createSlidingWindow(deps.redis, deps.limitsClock);
  const throttle = createGuessThrottle(limits, `${config.redis.prefix}:auth-failures:`, deps.logger);
  // Form bodies belong to the token endpoint (RFC 6749) alone: every other body is JSON, and a form
  // sent there (curl's default for -d) answers 415 instead of being read field by field.
  await app.register(async (tokenScope) => {
    await tokenScope.register(fastifyFormbody);
    registerTokenRoute(tokenScope, { db: deps.db, auth: config.auth, throttle });
  });
  const audit = createAccessAuditWriter(deps.db, deps.logger);
  await registerDailyRecordingsRoute(app, {
    db: deps.db,
    audit,
    limits,
    auth: config.auth,
    signLink,
    metrics,
    now,
    rateLimitPerHour: config.api.rateLimitPerHour,
    rateLimitNamespace: deps.rateLimitNamespace ?? `${config.redis.prefix}:download-limit:`,
  });
  // The services' own address of the store (S3_ENDPOINT), not the clients'.
  const archiveProbe = createArchiveProbe(storePresigner(60, config.s3.endpoint), config.s3.endpoint);
  app.addHook('onClose', (_instance, done) => {
    archiveProbe.close();
    done();
  });
  registerDownloadLinkRoute(app, {
    db: deps.db,
    audit,
    keys: [downloads.linkKey, ...downloads.previousLinkKeys],
    redirectPresigner,
    archiveProbe: archiveProbe.probe,
    now,
  });
  await registerHostRoutes(app, { db: deps.db, auth: config.auth, runQueues: deps.runQueues, logger: deps.logger, now });
  await registerWebhookRoutes(app, {
    db: deps.db,
    auth: config.auth,
    secrets: createSecretBox(config.webhooks.secretKey),
    policy: { allowInsecure: config.webhooks.allowInsecure },
    resolveHost: deps.resolveHost ?? systemResolveHost,
    logger: deps.logger,
  });
  registerOperationsRoutes(app, { db: deps.db, redis: deps.redis, s3: deps.s3, archiveBucket: config.s3.archiveBucket, registry });
  await registerBullBoard(app, { queues: deps.runQueues, auth: config.auth, throttle });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PATH });
  return app;
}
