import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ContractMessages, UserFacingError } from '@dcar/domain';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerChallenge } from './auth/bearer-challenge.js';

/** Messages of the answers the framework or the HTTP parser give before any route runs. */
export const FrameworkMessages = {
  notFound: 'Not found.',
  badUrl: 'The request URL is not valid.',
  uriTooLong: 'The request URL is too long.',
  headersTooLarge: 'Request header fields too large.',
  badRequest: 'Bad request.',
  requestTimeout: 'Request timeout.',
  shuttingDown: 'Service unavailable: the server is shutting down.',
} as const;

/**
 * Requests that reach a closing API (on a connection opened before the shutdown began) answer
 * 503 in the contract's `{ "error" }` shape; Fastify's own 503 (`return503OnClosing`, turned off
 * in `buildApp`) has `message` and `statusCode` beside it. Runs before every other hook.
 */
export function installClosingAnswer(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) return reply.code(503).header('connection', 'close').send({ error: FrameworkMessages.shuttingDown });
  });
}

/**
 * One place renders every error as `{ "error": "..." }`. Messages come from UserFacingError and
 * Fastify's own 4xx (validation, body parsing); anything else is a 500 whose cause goes only to
 * the log, never stack traces or SQL to the client.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof UserFacingError) {
      const challenge = bearerChallenge(error);
      if (challenge) reply.header('www-authenticate', challenge);
      return reply.code(error.statusCode).send({ error: error.message });
    }
    if (error.validation) {
      return reply.code(400).send({ error: validationMessage(error) });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().slice(0, 100) ?? '';
      return reply.code(415).send({ error: `Unsupported Content-Type '${mediaType}': send the body as application/json.` });
    }
    const status = error.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500 && error.code?.startsWith('FST_')) {
      return reply.code(status).send({ error: error.message });
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send({ error: ContractMessages.internal });
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: FrameworkMessages.notFound }));
}

/**
 * Ajv's first complaint as `body.retentionDays must be <= 7`. A field the schema does not allow, and
 * the one value a constant takes, are named (Ajv's own messages say neither), so a misspelt field or
 * scope is found at once.
 */
function validationMessage(error: FastifyError): string {
  const [first] = error.validation ?? [];
  const params = (first?.params ?? {}) as { additionalProperty?: unknown; allowedValue?: unknown };
  const extra = first?.keyword === 'additionalProperties' ? params.additionalProperty : undefined;
  const allowed = first?.keyword === 'const' ? params.allowedValue : undefined;
  const message =
    typeof extra === 'string'
      ? `${error.message.replace(/ properties$/, ' property')} '${extra}'`
      : typeof allowed === 'string'
        ? `${error.message} '${allowed}'`
        : error.message;
  return message.replace(/^(params|body|querystring|headers)\//, '$1.').replace(/\//g, '.');
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before any route or hook runs (a URL that
 * does not decode, a parameter over the length limit), in the contract's `{ "error" }` shape
 * instead of Fastify's own `{ error, code, message, statusCode }`.
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : error.code === 'FST_ERR_BAD_URL' ? 400 : 500;
  const message = status === 414 ? FrameworkMessages.uriTooLong : status === 400 ? FrameworkMessages.badUrl : ContractMessages.internal;
  if (status === 500) request.log.error({ err: error }, 'router error');
  void reply.code(status).header('x-request-id', request.id).send({ error: message });
}

/**
 * Fastify's `clientErrorHandler`: requests the HTTP parser refuses (oversized headers, garbage,
 * a timeout) have no route and no reply, so the answer is written to the socket directly, in the
 * contract's `{ "error" }` shape, and the connection is closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, FrameworkMessages.headersTooLarge]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, FrameworkMessages.requestTimeout]
        : [400, FrameworkMessages.badRequest];
  if (socket.writable) {
    const body = JSON.stringify({ error: message });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
