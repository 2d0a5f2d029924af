import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Config } from '@dcar/platform';
import type { RunQueues } from '@dcar/runs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const BULL_BOARD_PATH = '/admin/queues';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** HTTP Basic with the host's client id and secret, so the dashboard opens in a browser; compared in constant time. */
export function isHostBasicAuth(authorization: string | undefined, auth: Config['auth']): boolean {
  const match = authorization?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match?.[1]) return false;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const idMatches = timingSafeEqual(digest(decoded.slice(0, colon)), digest(auth.hostClientId));
  const secretMatches = timingSafeEqual(digest(decoded.slice(colon + 1)), digest(auth.hostClientSecret));
  return idMatches && secretMatches;
}

/** Bull Board at /admin/queues over the archive-hour, archive-run, maintenance and webhook-delivery queues, behind the host's credentials. */
export async function registerBullBoard(app: FastifyInstance, deps: { queues: RunQueues; auth: Config['auth'] }): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: [deps.queues.archiveHour, deps.queues.archiveRun, deps.queues.maintenance, deps.queues.webhookDelivery].map((queue) => new BullMQAdapter(queue, { readOnlyMode: false })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Daily audio archives' } },
  });
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (isHostBasicAuth(request.headers.authorization, deps.auth)) return;
      return reply
        .code(401)
        .header('www-authenticate', 'Basic realm="Daily audio archives: queues", charset="UTF-8"')
        .send({ error: 'Authentication required.' });
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}
