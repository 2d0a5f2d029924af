import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /**
   * Requests matching this are stalled, as a store that stops answering: `'answer'` never answers
   * at all; `'body'` passes the answer's headers and its first bytes on, then nothing more. The
   * connection stays open either way (until `close()`).
   */
  stallWhen: (request: FaultRequest) => 'answer' | 'body' | false;
  /** Answers to requests matching this are passed on slowly: `bytes` every `intervalMs`, a store that is slow but moving. */
  trickleWhen: (request: FaultRequest) => { bytes: number; intervalMs: number } | false;
  /** How many requests were stalled so far. */
  stalled: number;
  /** Sees every request before it is refused or passed on (to assert on what a client sent). */
  onRequest: (request: FaultRequest) => void;
  /** How many requests were refused so far. */
  refused: number;
  close(): Promise<void>;
}

const UNAVAILABLE_BODY = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected fault</Message></Error>';

function decodedPath(req: IncomingMessage): string {
  const raw = (req.url ?? '/').split('?')[0] ?? '/';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Reads the whole answer, then writes it on `bytes` at a time, one piece every `intervalMs`. */
async function passSlowly(from: IncomingMessage, to: ServerResponse, pace: { bytes: number; intervalMs: number }): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of from) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  for (let offset = 0; offset < body.length && !to.destroyed; offset += pace.bytes) {
    to.write(body.subarray(offset, offset + pace.bytes));
    await sleep(pace.intervalMs);
  }
  to.end();
}

/**
 * A reverse proxy in front of an S3 store that makes chosen requests fail, stall or crawl, as an
 * unreachable, overloaded or stuck store would. Everything else is passed through byte for byte, headers included, and
 * every request can be observed (the embedded store ignores some headers, e.g. encryption).
 */
export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  const proxy: S3FaultProxy = {
    endpoint: '',
    failWhen: () => false,
    stallWhen: () => false,
    trickleWhen: () => false,
    stalled: 0,
    onRequest: () => undefined,
    refused: 0,
    close: () => Promise.resolve(),
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
    const stall = proxy.stallWhen(seen);
    if (stall === 'answer') {
      proxy.stalled += 1;
      req.resume();
      return;
    }
    const trickle = proxy.trickleWhen(seen);
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      if (stall === 'body') {
        proxy.stalled += 1;
        // The first bytes, then silence: the upstream answer is read and dropped.
        upstreamRes.once('data', (chunk: Buffer) => {
          res.write(chunk.subarray(0, Math.min(chunk.length, 1024)));
          upstreamRes.resume();
        });
        return;
      }
      if (trickle) {
        void passSlowly(upstreamRes, res, trickle);
        return;
      }
      upstreamRes.pipe(res);
    });
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
