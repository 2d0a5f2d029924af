import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ServerSideEncryption } from '@dcar/platform';
import yazl from 'yazl';

export interface UploadedArchive {
  sha256: string;
  sizeBytes: number;
}

export interface ZipUpload {
  /** Add entries here, in the order they must appear. */
  readonly zip: yazl.ZipFile;
  /** Ends the ZIP and resolves once the object is complete in the store. */
  complete(): Promise<UploadedArchive>;
  /**
   * Stops the upload so no object appears: the multipart upload is aborted (its parts deleted)
   * before this resolves. Safe to call more than once and after a failure.
   */
  fail(error: Error): Promise<void>;
  /** Rejects once the upload has failed (the store refused it, or `fail` was called); never resolves. */
  readonly failed: Promise<never>;
}

export const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;

/**
 * Streams a ZIP into the store: yazl's output goes through a SHA-256 hashing stream into a
 * lib-storage Upload, which buffers at most `queueSize` parts. The object becomes visible only
 * when CompleteMultipartUpload succeeds (or the single PUT of a ZIP smaller than one part), so a
 * reader never sees a partial ZIP.
 */
export function startZipUpload(options: {
  s3: S3Client;
  bucket: string;
  key: string;
  /** Server-side encryption the store applies to the object (requested on its creation). */
  encryption: ServerSideEncryption | null;
  partSizeBytes?: number;
  queueSize?: number;
  /** Called after each part is stored (for logs and tests that must act mid-upload). */
  onPartUploaded?: (part: number, bytesSoFar: number) => void;
}): ZipUpload {
  const zip = new yazl.ZipFile();
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      callback(null, chunk);
    },
  });
  zip.outputStream.pipe(hashing);

  const upload = new Upload({
    client: options.s3,
    params: { Bucket: options.bucket, Key: options.key, Body: hashing, ContentType: 'application/zip', ...encryptionParams(options.encryption) },
    partSize: options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES,
    queueSize: options.queueSize ?? 2,
    leavePartsOnError: false,
  });
  if (options.onPartUploaded) {
    const onPart = options.onPartUploaded;
    upload.on('httpUploadProgress', (progress) => {
      if (progress.part !== undefined) onPart(progress.part, progress.loaded ?? 0);
    });
  }
  const done = upload.done();
  // Observed through complete()/fail(); an early rejection must not be reported as unhandled.
  done.catch(() => undefined);

  let failed: Error | null = null;
  let rejectFailed: (error: Error) => void = () => undefined;
  const failedPromise = new Promise<never>((_, reject) => (rejectFailed = reject));
  failedPromise.catch(() => undefined);
  done.catch((error: unknown) => rejectFailed(error instanceof Error ? error : new Error(String(error))));
  const fail = async (error: Error): Promise<void> => {
    if (!failed) {
      failed = error;
      rejectFailed(error);
      // Ending the body with an error makes every part uploader stop; lib-storage then sends
      // AbortMultipartUpload before done() settles, so awaiting it means no parts are left behind.
      zip.outputStream.unpipe(hashing);
      hashing.destroy(error);
      // Stops yazl reading further entries: their spooled files are about to be deleted.
      (zip.outputStream as Readable).destroy();
    }
    await done.then(
      () => undefined,
      () => undefined,
    );
  };
  zip.on('error', (error: Error) => void fail(error));

  return {
    zip,
    failed: failedPromise,
    async complete() {
      zip.end();
      await done;
      if (failed) throw failed;
      return { sha256: hash.digest('hex'), sizeBytes };
    },
    fail,
  };
}

/** The PutObject / CreateMultipartUpload parameters that ask the store to encrypt the object. */
function encryptionParams(encryption: ServerSideEncryption | null) {
  if (!encryption) return {};
  if (encryption.algorithm === 'AES256') return { ServerSideEncryption: 'AES256' as const };
  return { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: encryption.kmsKeyId };
}
