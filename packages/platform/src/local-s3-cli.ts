import { resolve } from 'node:path';
import { loadConfigOrExit, loadLocalS3Config } from './config.js';
import { startLocalS3 } from './local-s3.js';

// `pnpm local:s3`: the embedded store on the configured endpoint's port, data under .data/s3.
const config = loadConfigOrExit(loadLocalS3Config, process.env);
const endpoint = new URL(config.s3.endpoint);
const store = await startLocalS3({
  port: Number(endpoint.port || 80),
  host: endpoint.hostname,
  directory: resolve(process.env.LOCAL_S3_DIR ?? '.data/s3'),
  buckets: [config.s3.sourceBucket, config.s3.archiveBucket],
  credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey },
});
process.stdout.write(`${JSON.stringify({ msg: 'embedded S3 store listening', endpoint: store.endpoint })}\n`);
const stop = () => void store.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
