import type { FastifyInstance } from 'fastify';
import { redactSignature } from './download-links.js';

/** Paths polled by probes and scrapers, and static assets of the pages: logged only when they fail. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const QUIET_PREFIXES = ['/admin/queues/static/', '/docs/static/'];

export function isQuietPath(url: string): boolean {
  const path = url.split('?', 1)[0] ?? url;
  return QUIET_PATHS.has(path) || QUIET_PREFIXES.some((prefix) => path.startsWith(prefix));
}

/**
 * One log line per request, written when the answer has gone (Fastify's own incoming/completed pair
 * is turned off with `disableRequestLogging`): method, URL, route, status, time and the client's
 * address (as `trustProxy` reads it). Probes, metrics scrapes and static assets are left out unless
 * they answer 400 or more; a 5xx is logged at error level.
 */
export function installRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    const statusCode = reply.statusCode;
    if (statusCode < 400 && isQuietPath(request.url)) return;
    const fields = {
      method: request.method,
      // A download link is a credential: its signature never reaches the log.
      url: redactSignature(request.url),
      route: request.routeOptions.url ?? null,
      statusCode,
      responseTimeMs: Math.round(reply.elapsedTime * 10) / 10,
      remoteAddress: request.ip,
    };
    if (statusCode >= 500) request.log.error(fields, 'request failed');
    else request.log.info(fields, 'request completed');
  });
}
