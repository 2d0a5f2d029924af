import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

/** Bytes of a receiver's answer read at most: only its status matters, the rest is drained to keep the connection reusable. */
const MAX_ANSWER_BYTES = 64 * 1024;

export class AnswerTimeoutError extends Error {
  override name = 'AnswerTimeoutError';
}

/** Connections kept open between deliveries to the same receiver. */
export interface PostAgents {
  http: http.Agent;
  https: https.Agent;
  destroy(): void;
}

export function createPostAgents(): PostAgents {
  const options = { keepAlive: true, maxSockets: 64, timeout: 60_000 };
  const agents = { http: new http.Agent(options), https: new https.Agent(options) };
  return { ...agents, destroy: () => Object.values(agents).forEach((agent) => agent.destroy()) };
}

/**
 * POSTs `body` and resolves with the status code once the whole answer has arrived. Redirects are
 * not followed (node:http never does). `timeoutMs` bounds everything: DNS, connect, TLS, headers
 * and body. `lookup` is the connection's own DNS step, where destinations are checked.
 */
export function postJson(
  url: URL,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; lookup?: LookupFunction | undefined; agents: PostAgents },
): Promise<number> {
  const secure = url.protocol === 'https:';
  const transport = secure ? https : http;
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | null, status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(status ?? 0);
    };
    const request = transport.request(
      url,
      {
        method: 'POST',
        agent: secure ? options.agents.https : options.agents.http,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
        ...(options.lookup ? { lookup: options.lookup } : {}),
      },
      (response: IncomingMessage) => {
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > MAX_ANSWER_BYTES) {
            // Enough is known: stop reading a huge answer and drop the connection.
            response.destroy();
            settle(null, response.statusCode);
          }
        });
        response.on('end', () => settle(null, response.statusCode));
        response.on('error', (error) => settle(error));
        response.on('close', () => settle(response.complete ? null : new Error('the receiver closed the connection mid-answer'), response.statusCode));
      },
    );
    const timer = setTimeout(() => {
      const error = new AnswerTimeoutError(`no complete answer within ${options.timeoutMs / 1000} s`);
      settle(error);
      request.destroy(error);
    }, options.timeoutMs);
    request.on('error', (error) => settle(error));
    request.end(body);
  });
}
