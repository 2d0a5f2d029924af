import { mkdirSync } from 'node:fs';
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
