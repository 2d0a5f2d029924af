import { Counter, Histogram, type Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';

export interface ApiMetrics {
  registry: Registry;
  /** Daily-recordings requests by outcome: served, unauthorized, forbidden, rate_limited, invalid_day, beyond_retention, error. */
  dailyRecordingRequests: Counter<'outcome'>;
}

/** Every series at 0 from the start (the route's outcomes are known), so alerts see the first 401 or 429 as a change. */
export function createApiMetrics(registry: Registry): ApiMetrics {
  const dailyRecordingRequests = new Counter({
    name: 'dcar_daily_recordings_requests_total',
    help: 'Requests for a day of recordings (links), by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of DAILY_RECORDING_OUTCOMES) dailyRecordingRequests.inc({ outcome }, 0);
  return { registry, dailyRecordingRequests };
}

/** Counts and times every request by route pattern (never the raw URL: unbounded label values) and status. */
export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const labels = { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
}

const OUTCOMES: Record<number, string> = {
  200: 'served',
  400: 'invalid_day',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'beyond_retention',
  429: 'rate_limited',
};

export const DAILY_RECORDING_OUTCOMES = [...new Set([...Object.values(OUTCOMES), 'error'])];

export function dailyRecordingOutcome(statusCode: number): string {
  return OUTCOMES[statusCode] ?? 'error';
}
