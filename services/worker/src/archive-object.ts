import { AbortMultipartUploadCommand, DeleteObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ServerSideEncryption } from '@dcar/platform';
import { startZipUpload, type ZipUpload } from './zip-upload.js';

/**
 * A tenant-hour's ZIP in the archive bucket, through its whole life: what an interrupted run left
 * behind, the new upload, and its deletion when the hour has no audio (any more). Call these only
 * while holding the tenant-hour's lease, so no other live run works on the same key.
 */
export interface ArchiveObject {
  readonly key: string;
  /**
   * Aborts multipart uploads to the key left by a worker that died mid-upload (SIGKILL gives it no
   * chance to clean up); returns how many. Stores without ListMultipartUploads (s3rver) answer
   * NotImplemented: there is nothing to do then.
   */
  abortStaleUploads(): Promise<number>;
  /** Starts streaming a new ZIP to the key; the object appears only when the upload completes. */
  startUpload(options?: { onPartUploaded?: (part: number, bytesSoFar: number) => void }): ZipUpload;
  /** Deletes the object: an archive from an earlier generation must not outlive the row that says there is none. */
  delete(): Promise<void>;
}

export function archiveObject(
  store: { s3: S3Client; bucket: string; encryption: ServerSideEncryption | null; partSizeBytes?: number | undefined },
  key: string,
): ArchiveObject {
  const { s3, bucket } = store;
  return {
    key,
    async abortStaleUploads() {
      let aborted = 0;
      try {
        const listing = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
        for (const stale of listing.Uploads ?? []) {
          if (stale.Key !== key || !stale.UploadId) continue;
          await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: stale.UploadId }));
          aborted++;
        }
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'NotImplemented' && name !== 'MethodNotAllowed') throw error;
      }
      return aborted;
    },
    startUpload(options = {}) {
      return startZipUpload({
        s3,
        bucket,
        key,
        encryption: store.encryption,
        ...(store.partSizeBytes ? { partSizeBytes: store.partSizeBytes } : {}),
        ...(options.onPartUploaded ? { onPartUploaded: options.onPartUploaded } : {}),
      });
    },
    async delete() {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}
