import {
  closeDatabase,
  closeRedisConnection,
  createKnex,
  createLogger,
  createRedisConnection,
  createS3Client,
  describeStartupError,
  guardStartup,
  installShutdown,
  loadApiConfig,
  loadConfigOrExit,
  redisReady,
  startEmbeddedStoreWhenUnset,
} from '@dcar/platform';
import { createRunQueues } from '@dcar/runs';
import { buildApp } from './app.js';

// Composition root of the API: the only place that reads the environment and builds real clients.
const REDIS_CONNECT_WAIT_MS = 5000;
const config = loadConfigOrExit(loadApiConfig, process.env);
const logger = createLogger({ service: 'api', level: config.logLevel, format: config.logFormat, replicaId: config.replicaId });
const startup = guardStartup(logger, 'api');

const db = createKnex(config.databaseUrl);
// Request-path Redis: fail fast rather than hang a request while Redis is away.
const redis = createRedisConnection(config.redis.url, 'producer');
redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error; reconnecting'));
// Requests that reach Redis before it is connected would be refused: give it the time a connection
// takes. A Redis that is down does not keep the API from starting: /readyz reports it, and requests
// that need it answer 500 until it is back.
await redisReady(redis, REDIS_CONNECT_WAIT_MS).catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'starting without redis'));
const embeddedStore = await startEmbeddedStoreWhenUnset(config, logger);
const s3 = createS3Client(config.s3);
const runQueues = createRunQueues(redis, config.redis.prefix);

const app = await buildApp({ config, db, redis, s3, runQueues, logger });
app.addHook('onClose', async () => {
  // Reverse order of creation: nothing below is used once the server stopped taking requests.
  await runQueues.close();
  s3.destroy();
  await closeRedisConnection(redis);
  await closeDatabase(db);
  await embeddedStore?.close();
});

installShutdown({ logger, timeoutMs: config.shutdownTimeoutMs, steps: () => [{ name: 'http server and its clients', close: () => app.close() }] });

try {
  const address = await app.listen({ port: config.api.port, host: config.api.host });
  logger.info({ address, publicStoreEndpoint: config.s3.publicEndpoint }, 'api listening');
  startup.started();
} catch (error) {
  const { message, code } = describeStartupError(error);
  logger.fatal({ reason: message, code }, `api could not start: ${message}`);
  await app.close();
  process.exit(1);
}
