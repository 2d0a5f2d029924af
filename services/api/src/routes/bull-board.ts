import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { AuthConfig } from '@dcar/platform';
import type { RunQueues } from '@dcar/runs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TooManyAttemptsError, type GuessThrottle } from '../auth/guess-throttle.js';
import { readBasicCredentials } from '../auth/basic.js';

export const BULL_BOARD_PATH = '/admin/queues';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The host's client id and secret, so the dashboard opens in a browser; compared in constant time. */
function isHostCredentials(credentials: { user: string; password: string }, auth: AuthConfig): boolean {
  const idMatches = timingSafeEqual(digest(credentials.user), digest(auth.hostClientId));
  const secretMatches = timingSafeEqual(digest(credentials.password), digest(auth.hostClientSecret));
  return idMatches && secretMatches;
}

/** Bull Board at /admin/queues over the archive-hour, archive-run, maintenance and webhook-delivery queues, behind the host's credentials. */
export async function registerBullBoard(app: FastifyInstance, deps: { queues: RunQueues; auth: AuthConfig; throttle: GuessThrottle }): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: [deps.queues.archiveHour, deps.queues.archiveRun, deps.queues.maintenance, deps.queues.webhookDelivery].map(
      (queue) => new BullMQAdapter(queue, { readOnlyMode: false }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Daily audio archives' } },
  });
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const credentials = readBasicCredentials(request.headers.authorization);
      if (credentials) {
        // Wrong passwords are counted per user name and address: after 20 in 5 minutes, 429 whatever is sent.
        try {
          const valid = await deps.throttle.verify('bull-board', credentials.user, request.ip, () => (isHostCredentials(credentials, deps.auth) ? true : null));
          if (valid) return;
        } catch (error) {
          if (!(error instanceof TooManyAttemptsError)) throw error;
          request.log.warn({ ip: request.ip }, 'Bull Board refused: too many failed attempts');
          return reply.code(429).header('retry-after', String(error.retryAfterSeconds)).send({ error: error.message });
        }
      }
      return reply
        .code(401)
        .header('www-authenticate', 'Basic realm="Daily audio archives: queues", charset="UTF-8"')
        .send({ error: 'Authentication required.' });
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}
