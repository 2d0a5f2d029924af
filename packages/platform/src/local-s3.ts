import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import S3rver from 's3rver';

/**
 * s3rver knows a single hard-wired key pair (S3RVER/S3RVER). Registering the configured pair (by
 * default MinIO's minioadmin/minioadmin) lets services use the same credentials here as against
 * MinIO; this is set-up of the store itself, the services still speak only the S3 API.
 */
function registerAccessKey(accessKeyId: string, secretAccessKey: string): void {
  const account = createRequire(import.meta.url)('s3rver/lib/models/account.js') as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
  };
  account.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
}

type Listen = (port: number, address: string, options: object, onListening?: () => void) => Server;

/**
 * s3rver's `run()` never settles when its port is taken: its server's 'error' event has no
 * listener, so EADDRINUSE crashes the process. Services started together on a developer machine
 * race for the embedded store's port, and the losers must see that error to use the winner's store.
 * Its own `listen`, given a callback, returns the server at once: the error is caught there.
 */
function listenReportingErrors(server: S3rver): void {
  const store = server as unknown as { listen: Listen };
  const listen = store.listen.bind(store);
  store.listen = ((port: number, address: string, options: object) =>
    new Promise<Server>((resolve, reject) => {
      const httpServer = listen(port, address, options, () => {
        httpServer.off('error', reject);
        resolve(httpServer);
      });
      httpServer.once('error', reject);
    })) as unknown as Listen;
}

export interface LocalS3 {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts s3rver, the embedded S3-compatible store for development and tests (no MinIO here).
 * Port 0 picks a free port. Services talk to it only through the S3 API.
 */
export async function startLocalS3(options: {
  port: number;
  directory: string;
  buckets?: string[];
  host?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}): Promise<LocalS3> {
  mkdirSync(options.directory, { recursive: true });
  const credentials = options.credentials ?? { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin' };
  registerAccessKey(credentials.accessKeyId, credentials.secretAccessKey);
  const server = new S3rver({
    port: options.port,
    address: options.host ?? '127.0.0.1',
    directory: options.directory,
    silent: true,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  listenReportingErrors(server);
  const address = await server.run();
  return {
    endpoint: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    port: address.port,
    close: async () => {
      // Keep-alive sockets from SDK clients would hold close() open until they time out.
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
