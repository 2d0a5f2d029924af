/**
 * The rule for a source row's `storage_path` (CONTRACT §3.1) before it is sent to the store as an
 * object key. The key comes from another system's table, so it is untrusted: a store (or a proxy in
 * front of it) may resolve `.` and `..` segments, strip a leading `/` or read `\` as a separator,
 * and a key such as `../<archive bucket>/<other tenant>/…/01.zip` would then read another bucket or
 * tenant. Such a key is never read: its file is recorded as `missing`.
 */

/**
 * S3's (and MinIO's) longest object key, in bytes of UTF-8. No object can exist under a longer key,
 * yet stores answer one with a 400 or even a 500, which would read as a transient error and fail
 * the whole hour in every round instead of recording the one file as missing.
 */
const MAX_KEY_BYTES = 1024;

/** Why `storagePath` must not be read, or null when it is a plain object key. */
export function unsafeStoragePathReason(storagePath: string): string | null {
  if (storagePath.length === 0) return 'empty key';
  if (new TextEncoder().encode(storagePath).length > MAX_KEY_BYTES) return 'longer than 1,024 bytes';
  if (storagePath.startsWith('/')) return 'leading "/"';
  if (storagePath.includes('\\')) return 'backslash';
  // C0 controls, DEL and the C1 controls: never part of a key the recording platform writes.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point of this check
  if (/[\u0000-\u001f\u007f-\u009f]/.test(storagePath)) return 'control character';
  for (const segment of storagePath.split('/')) {
    if (segment === '.' || segment === '..') return `"${segment}" segment`;
  }
  return null;
}

/** True when `storagePath` may be sent to the store as an object key. */
export function isSafeStoragePath(storagePath: string): boolean {
  return unsafeStoragePathReason(storagePath) === null;
}
