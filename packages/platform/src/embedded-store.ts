import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type { S3Config } from './config.js';
import type { Logger } from './logger.js';

/** Where a developer machine keeps the embedded store's objects (CONTRACT §5: "under .data/"). */
export const EMBEDDED_STORE_DIRECTORY = '.data/s3';

export interface EmbeddedStore {
  close(): Promise<void>;
}

/** Whether something already listens on the address: our own listen attempt is refused with EADDRINUSE. */
async function addressTaken(host: string, port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((done, fail) => {
    probe.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? done(true) : fail(error)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => done(false)));
  });
}

/**
 * CONTRACT §5: with `S3_ENDPOINT` unset, a developer machine gets an embedded S3-compatible store at
 * the default endpoint, objects under `.data/s3`. Whichever process starts first hosts it (api,
 * scheduler, worker or `pnpm local:s3`); the others find its port taken and use it as any S3 store.
 * The store module (s3rver, a development dependency) is loaded only here, so a production image,
 * which always sets `S3_ENDPOINT`, never needs it (NODE_ENV=production never starts one). Returns
 * null when `S3_ENDPOINT` is set or another process hosts the store.
 */
export async function startEmbeddedStoreWhenUnset(
  config: { nodeEnv: string; s3: S3Config },
  logger: Logger,
  directory = EMBEDDED_STORE_DIRECTORY,
): Promise<EmbeddedStore | null> {
  const { s3 } = config;
  if (!s3.embedded || config.nodeEnv === 'production') return null;
  const endpoint = new URL(s3.endpoint);
  const port = Number(endpoint.port || 80);
  if (await addressTaken(endpoint.hostname, port)) {
    logger.info({ endpoint: s3.endpoint }, 'S3_ENDPOINT is unset: using the embedded store another process runs there');
    return null;
  }
  const { startLocalS3 } = await import('./local-s3.js').catch((error: unknown) => {
    // An image (production dependencies only) run with NODE_ENV changed and no S3_ENDPOINT.
    throw new Error(
      `S3_ENDPOINT is unset and the embedded store is not installed here (a development checkout has it): set S3_ENDPOINT (${(error as Error).message})`,
    );
  });
  let store: EmbeddedStore & { endpoint: string };
  try {
    store = await startLocalS3({
      port,
      host: endpoint.hostname,
      directory: resolve(directory),
      buckets: [s3.sourceBucket, s3.archiveBucket],
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
  } catch (error) {
    // Services started together all find the port free; the ones that lose the race to listen use the winner's store.
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    logger.info({ endpoint: s3.endpoint }, 'S3_ENDPOINT is unset: using the embedded store another process started there at the same moment');
    return null;
  }
  logger.info({ endpoint: store.endpoint, directory }, 'S3_ENDPOINT is unset: embedded store (s3rver) started; other services on this machine use it');
  return store;
}
