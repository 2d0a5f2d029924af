import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultRequest {
  method: string;
  /** The decoded path, e.g. `/bucket/key/of/object.wav` (path-style S3). */
  path: string;
  /** The query, e.g. `uploads` on CreateMultipartUpload. */
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

export interface S3FaultProxy {
  /** Point a service's S3_ENDPOINT here. */
  endpoint: string;
  /** Requests matching this answer 503 SlowDown-style errors instead of reaching the store; change it at any time. */
  failWhen: (request: FaultRequest) => boolean;
  /** Sees every request before it is refused or passed on (to assert on what a client sent). */
  onRequest: (request: FaultRequest) => void;
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
 * overloaded store would. Everything else is passed through byte for byte, headers included, and
 * every request can be observed (the embedded store ignores some headers, e.g. encryption).
 */
export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  const proxy: S3FaultProxy = {
    endpoint: '',
    failWhen: () => false,
    onRequest: () => undefined,
    refused: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const seen: FaultRequest = {
      method: req.method ?? 'GET',
      path: decodedPath(req),
      query: new URLSearchParams((req.url ?? '').split('?')[1] ?? ''),
      headers: req.headers,
    };
    proxy.onRequest(seen);
    if (proxy.failWhen(seen)) {
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
