import { ContractMessages, UserFacingError } from '@dcar/domain';
import type { FastifyError, FastifyInstance } from 'fastify';

/**
 * One place renders every error as `{ "error": "..." }`. Messages come from UserFacingError and
 * Fastify's own 4xx (validation, body parsing); anything else is a 500 whose cause goes only to
 * the log, never stack traces or SQL to the client.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof UserFacingError) {
      return reply.code(error.statusCode).send({ error: error.message });
    }
    if (error.validation) {
      const message = error.message.replace(/^(params|body|querystring|headers)\//, '$1.').replace(/\//g, '.');
      return reply.code(400).send({ error: message });
    }
    const status = error.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500 && error.code?.startsWith('FST_')) {
      return reply.code(status).send({ error: error.message });
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send({ error: ContractMessages.internal });
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'Not found.' }));
}
