import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { checkReadiness, type ReadinessChecks } from './readiness.js';

/** A registry with the process metrics (memory, CPU, event loop) and a `service` label on everything. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsServerOptions {
  host?: string;
  /** Probes behind `GET /readyz` (200 when all answer, 503 naming those that do not); without them /readyz is /healthz. */
  readiness?: ReadinessChecks | (() => ReadinessChecks);
  /** Logs failing readiness probes. */
  logger?: Logger;
  /** The variable that sets the port, named in the error when the port is taken. */
  portVariable?: string;
}

/**
 * Serves `GET /metrics` (Prometheus' text format), `GET /healthz` (the process answers) and
 * `GET /readyz` (its dependencies answer), for services without an HTTP server of their own. Port 0
 * takes any free port: the answer has the one taken, for the start-up log line.
 */
export async function serveMetrics(registry: Registry, port: number, options: MetricsServerOptions = {}): Promise<{ port: number; close(): Promise<void> }> {
  const host = options.host ?? '0.0.0.0';
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch(() => {
          res.writeHead(500).end();
        });
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      json(res, 200, { status: 'ok' });
      return;
    }
    if (req.method === 'GET' && req.url === '/readyz') {
      Promise.resolve()
        .then(() => checkReadiness((typeof options.readiness === 'function' ? options.readiness() : options.readiness) ?? {}, { logger: options.logger }))
        .then((answer) => json(res, answer.ready ? 200 : 503, answer.body))
        .catch(() => json(res, 503, { status: 'unavailable', checks: {} }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') return reject(error);
      const setting = options.portVariable ? `set ${options.portVariable} to a free port, or 0 for any free one` : 'choose a free port, or 0 for any free one';
      reject(Object.assign(new Error(`metrics port ${port} on ${host} is already in use (another replica on this host?): ${setting}`), { code: error.code }));
    });
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
