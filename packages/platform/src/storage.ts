import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { S3Config } from './config.js';

function clientConfig(s3: S3Config): S3ClientConfig {
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}) },
    // MinIO and s3rver do not speak the SDK's newer default checksums on every operation.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Every call is bounded (NodeHttpHandler of @smithy/node-http-handler 4.x):
    // - connectionTimeout: the TCP connection must be up within S3_CONNECT_TIMEOUT_MS;
    // - socketTimeout: the socket's idle timeout, armed for the whole exchange (request body,
    //   wait for the answer, response body until it ends): S3_REQUEST_TIMEOUT_MS without a byte
    //   either way fails the call with a TimeoutError, so a stalled transfer fails while a slow
    //   one that keeps moving carries on, whatever its length. Not the handler's `requestTimeout`:
    //   that bounds the time to the response's headers, upload included, and would cut off a large
    //   part upload that is merely slow.
    // The SDK retries a call that timed out before its answer (3 attempts in all); a response body
    // that stalls fails the reader (the worker's job then fails like on any store error).
    requestHandler: { connectionTimeout: s3.connectTimeoutMs, socketTimeout: s3.requestTimeoutMs },
  };
}

/** Client for the services' own traffic (S3_ENDPOINT). */
export function createS3Client(s3: S3Config): S3Client {
  return new S3Client(clientConfig(s3));
}

/** Creates the buckets that do not exist yet; safe to call from every process at start. */
export async function ensureBuckets(client: S3Client, buckets: string[], signal?: AbortSignal): Promise<void> {
  for (const bucket of buckets) {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
    } catch {
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal });
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
      }
    }
  }
}

/** Waits between attempts of `ensureBucketsWhenReachable`: doubling from 1 s, at most `maxDelayMs`. */
export function storeRetryDelayMs(attempt: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, 1000 * 2 ** Math.min(attempt - 1, 20));
}

/**
 * `ensureBuckets`, retried with a bounded backoff until the store answers, for a service that must
 * not start its work before (the worker). A store that is down or stalls gives one warning line
 * (then debug lines per attempt) and one line when it answers; never a stack trace or an exit.
 * Resolves false when `signal` aborts first (the process is shutting down).
 */
export async function ensureBucketsWhenReachable(
  client: S3Client,
  buckets: string[],
  options: { logger: Logger; signal: AbortSignal; maxDelayMs?: number },
): Promise<boolean> {
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    if (options.signal.aborted) return false;
    try {
      await ensureBuckets(client, buckets, options.signal);
      if (attempt > 1) options.logger.info({ attempts: attempt }, 'object store reachable');
      return true;
    } catch (error) {
      if (options.signal.aborted) return false;
      const delayMs = storeRetryDelayMs(attempt, maxDelayMs);
      const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
      const fields = { attempt, retryInMs: delayMs, error: `${name}: ${message}`.slice(0, 300), buckets };
      if (attempt === 1) options.logger.warn(fields, 'object store not reachable; retrying until it is');
      else options.logger.debug(fields, 'object store still not reachable');
      try {
        await sleep(delayMs, undefined, { signal: options.signal });
      } catch {
        return false;
      }
    }
  }
}
