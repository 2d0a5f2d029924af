import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultRequest {
  method: string;
  /** The decoded path, e.g. `/bucket/key/of/object.wav` (path-style S3). */
  path: string;
}

export interface S3FaultProxy {
  /** Point a service's S3_ENDPOINT here. */
  endpoint: string;
  /** Requests matching this answer 503 SlowDown-style errors instead of reaching the store; change it at any time. */
  failWhen: (request: FaultRequest) => boolean;
  /** How many requests were refused so far. */
  refused: number;
  close(): Promise<void>;
}

const UNAVAILABLE_BODY =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected fault</Message></Error>';

function decodedPath(req: IncomingMessage): string {
  const raw = (req.url ?? '/').split('?')[0] ?? '/';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * A reverse proxy in front of an S3 store that makes chosen requests fail, as an unreachable or
 * overloaded store would. Everything else is passed through byte for byte, headers included.
 */
export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  const proxy: S3FaultProxy = {
    endpoint: '',
    failWhen: () => false,
    refused: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    if (proxy.failWhen({ method: req.method ?? 'GET', path: decodedPath(req) })) {
      proxy.refused += 1;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(UNAVAILABLE_BODY) });
      res.end(UNAVAILABLE_BODY);
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
