import { Writable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createTestS3, uniqueName } from '@dcar/testing';
import { startS3FaultProxy, type S3FaultProxy } from '@dcar/testing/s3-fault-proxy';
import { startTcpGate } from '@dcar/testing/tcp-gate';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, ensureBucketsWhenReachable, loadSystemConfig, storeRetryDelayMs } from '../src/index.js';

let s3store: Awaited<ReturnType<typeof createTestS3>>;
let proxy: S3FaultProxy;
let client: S3Client;
const OBJECT_BYTES = 24 * 1024;
const content = Buffer.alloc(OBJECT_BYTES, 7);
const key = 'slow/object.bin';

beforeAll(async () => {
  s3store = await createTestS3();
  const direct = createS3Client(loadSystemConfig({ S3_ENDPOINT: s3store.store.endpoint }).s3);
  await direct.send(new PutObjectCommand({ Bucket: s3store.sourceBucket, Key: key, Body: content }));
  direct.destroy();
  proxy = await startS3FaultProxy(s3store.store.endpoint);
  // Short bounds for the test; the defaults are 5 s and 30 s.
  client = createS3Client(loadSystemConfig({ S3_ENDPOINT: proxy.endpoint, S3_CONNECT_TIMEOUT_MS: '1000', S3_REQUEST_TIMEOUT_MS: '1000' }).s3);
});
afterEach(() => {
  proxy.stallWhen = () => false;
  proxy.trickleWhen = () => false;
});
afterAll(async () => {
  client?.destroy();
  await proxy?.close();
  await s3store?.close();
});

async function download(): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: s3store.sourceBucket, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

describe('S3 calls against a store that stalls', () => {
  it('configures the client with S3_CONNECT_TIMEOUT_MS and S3_REQUEST_TIMEOUT_MS (socket idle)', async () => {
    expect(await download()).toEqual(content);
    expect((client.config.requestHandler as unknown as { httpHandlerConfigs(): Record<string, unknown> }).httpHandlerConfigs()).toMatchObject({
      connectionTimeout: 1000,
      socketTimeout: 1000,
    });
    const defaults = loadSystemConfig({}).s3;
    expect([defaults.connectTimeoutMs, defaults.requestTimeoutMs]).toEqual([5000, 30_000]);
  });

  it('fails a call the store never answers with a TimeoutError (after the SDK’s own retries)', async () => {
    proxy.stallWhen = ({ method }) => (method === 'GET' ? 'answer' : false);
    const stalledBefore = proxy.stalled;
    await expect(download()).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(proxy.stalled - stalledBefore).toBe(3);
  }, 30_000);

  it('fails a download whose body stops coming', async () => {
    proxy.stallWhen = ({ method }) => (method === 'GET' ? 'body' : false);
    await expect(download()).rejects.toMatchObject({ name: 'TimeoutError' });
  }, 30_000);

  it('lets a slow download that keeps moving finish, however long it takes in all', async () => {
    // 1 KiB every 100 ms: 24 pieces, about 2.4 s in all, more than twice the 1 s bound.
    proxy.trickleWhen = ({ method }) => (method === 'GET' ? { bytes: 1024, intervalMs: 100 } : false);
    expect(await download()).toEqual(content);
  }, 30_000);
});

describe('waiting for the store at start', () => {
  it('bounds its backoff', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((attempt) => storeRetryDelayMs(attempt, 30_000))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('logs one line while a stuck store does not answer, keeps trying, and one line once it does', async () => {
    const target = new URL(s3store.store.endpoint);
    const gate = await startTcpGate({ host: target.hostname, port: Number(target.port) }, { whileClosed: 'hang' });
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
          callback();
        },
      }),
    );
    const stuck = createS3Client(
      loadSystemConfig({ S3_ENDPOINT: `http://127.0.0.1:${gate.port}`, S3_CONNECT_TIMEOUT_MS: '500', S3_REQUEST_TIMEOUT_MS: '300' }).s3,
    );
    const bucket = uniqueName('late-');
    try {
      const reachable = ensureBucketsWhenReachable(stuck, [bucket], { logger, signal: new AbortController().signal, maxDelayMs: 200 });
      // Several attempts fail before the store comes back.
      const deadline = Date.now() + 20_000;
      while (!lines.some((line) => line.msg === 'object store not reachable; retrying until it is') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      gate.open();
      expect(await reachable).toBe(true);
    } finally {
      stuck.destroy();
      await gate.close();
    }
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [40, 'object store not reachable; retrying until it is'],
      [30, 'object store reachable'],
    ]);
  }, 30_000);

  it('gives up waiting when the process is stopping', async () => {
    const closed = await startTcpGate({ host: '127.0.0.1', port: 1 });
    const unreachable = createS3Client(loadSystemConfig({ S3_ENDPOINT: `http://127.0.0.1:${closed.port}` }).s3);
    const stopping = new AbortController();
    try {
      const waiting = ensureBucketsWhenReachable(unreachable, ['b'], { logger: pino({ level: 'silent' }), signal: stopping.signal });
      stopping.abort();
      expect(await waiting).toBe(false);
    } finally {
      unreachable.destroy();
      await closed.close();
    }
  });
});
