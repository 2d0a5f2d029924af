import { createHash } from 'node:crypto';
import type { SourceFile } from '@dcar/archives';
import {
  audioFileName,
  formatHour,
  formatTimestamp,
  originalExtension,
  type ArchiveFileStatus,
  type ArchiveMetadata,
  type ArchiveMetadataSession,
} from '@dcar/domain';

export interface ArchivedFile {
  source: SourceFile;
  status: ArchiveFileStatus;
  /** Name in the ZIP (and in metadata.json); for `missing`, the name the converted file would have had. */
  fileName: string;
  /** Path in the ZIP, or null when nothing was stored (`missing`). */
  entryPath: string | null;
}

/** The most bytes a file or folder name may have on ext4, NTFS, APFS and in the common unzippers. */
export const MAX_SEGMENT_BYTES = 255;
const HASH_CHARACTERS = 8;
/** Names Windows reserves for devices, also with an extension (`con.txt`); compared case-insensitively. */
const WINDOWS_DEVICE_NAME = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
/** metadata.json sits at the root: no conversation folder may be named like it, in any case. */
const METADATA_FILE_NAME = 'metadata.json';

/**
 * Only these characters are kept in names; any other becomes '_'. All are ASCII, so a name's
 * characters are its bytes, and none is '~', which marks the suffixes added here: an added suffix
 * can never equal another id's name.
 */
function keepSafeCharacters(value: string): string {
  return value.replace(/[^A-Za-z0-9._@+=-]/g, '_');
}

function shortHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, HASH_CHARACTERS);
}

/**
 * `stem` + `tail` in at most MAX_SEGMENT_BYTES: a stem too long is cut and followed by '~' and a
 * hash of `whole` (the full value), so distinct long values keep distinct names.
 */
function fitSegment(stem: string, tail: string, whole: string): string {
  if (stem.length + tail.length <= MAX_SEGMENT_BYTES) return stem + tail;
  return `${stem.slice(0, MAX_SEGMENT_BYTES - tail.length - 1 - HASH_CHARACTERS)}~${shortHash(whole)}${tail}`;
}

/**
 * An id as a folder name that extracts the same everywhere: no '/', '\\', control or non-ASCII
 * characters (each becomes '_'), no '.' or '..' (they climb), no trailing dot (Windows drops it),
 * no Windows device name (prefixed with '_'), at most 255 bytes (cut, with a hash of the full id).
 */
export function safeSegment(value: string): string {
  let name = keepSafeCharacters(value).replace(/\.+$/, (dots) => '_'.repeat(dots.length)) || '_';
  if (WINDOWS_DEVICE_NAME.test(name)) name = `_${name}`;
  return fitSegment(name, '', value);
}

/**
 * Names each file of the hour in the ZIP (CONTRACT §3.2), in row order (rows are read sorted, so
 * the names are the same for the same rows): `{conversation}/{session}/message_{messageId}_{type}.opus`,
 * unconvertible files under their original extension. Every distinct conversation id gets a folder
 * of its own and every distinct session id one within it, distinct ignoring case (macOS and Windows
 * would merge `ABC` and `abc`): a later id whose safe name is taken gets `~2`, `~3`... A folder is
 * never named like the root's metadata.json. Two rows that would share a file name (a duplicated
 * message) get a `-2`, `-3`... suffix instead of overwriting each other when extracted.
 */
export class EntryNamer {
  /** Names taken in each folder ('' is the root), lower-cased. */
  private readonly taken = new Map<string, Set<string>>([['', new Set([METADATA_FILE_NAME])]]);
  /** The folder given to each id, per parent folder. */
  private readonly folders = new Map<string, string>();

  private takenIn(folder: string): Set<string> {
    let taken = this.taken.get(folder);
    if (!taken) {
      taken = new Set();
      this.taken.set(folder, taken);
    }
    return taken;
  }

  /** The folder of `id` inside `parent` (a path ending in '/', or '' for the root). */
  private folderFor(parent: string, id: string): string {
    const key = JSON.stringify([parent, id]);
    const known = this.folders.get(key);
    if (known !== undefined) return `${parent}${known}/`;
    const taken = this.takenIn(parent);
    const base = safeSegment(id);
    let name = base;
    for (let copy = 2; taken.has(name.toLowerCase()); copy++) name = fitSegment(base, `~${copy}`, id);
    taken.add(name.toLowerCase());
    this.folders.set(key, name);
    return `${parent}${name}/`;
  }

  name(source: SourceFile, status: ArchiveFileStatus): ArchivedFile {
    const extension = status === 'unconvertible' ? originalExtension(source.storagePath) : 'opus';
    const folder = this.folderFor(this.folderFor('', source.externalConversationId), source.sessionId);
    const taken = this.takenIn(folder);
    const stem = audioFileName(source.messageId, keepSafeCharacters(source.type), extension).slice(0, -(extension.length + 1));
    let fileName = fitSegment(stem, `.${extension}`, stem);
    for (let copy = 2; taken.has(fileName.toLowerCase()); copy++) fileName = fitSegment(`${stem}-${copy}`, `.${extension}`, `${stem}-${copy}`);
    taken.add(fileName.toLowerCase());
    return { source, status, fileName, entryPath: status === 'missing' ? null : folder + fileName };
  }
}

/** Distinct (externalConversationId, sessionId) pairs. */
export function countSessions(files: readonly { externalConversationId: string; sessionId: string }[]): number {
  return new Set(files.map((file) => JSON.stringify([file.externalConversationId, file.sessionId]))).size;
}

/** `metadata.json` for the hour: sessions in the order their files appear (rows are read sorted). */
export function buildMetadata(options: { generatedAt: Date; utcDay: string; hour: number; files: readonly ArchivedFile[] }): ArchiveMetadata {
  const sessions: ArchiveMetadataSession[] = [];
  const byKey = new Map<string, ArchiveMetadataSession>();
  for (const file of options.files) {
    const { source } = file;
    const key = JSON.stringify([source.externalConversationId, source.sessionId]);
    let session = byKey.get(key);
    if (!session) {
      session = { externalConversationId: source.externalConversationId, sessionId: source.sessionId, files: [] };
      byKey.set(key, session);
      sessions.push(session);
    }
    session.files.push({
      fileName: file.fileName,
      originalPath: source.storagePath,
      messageId: source.messageId,
      type: source.type,
      timestamp: formatTimestamp(source.recordedAt),
      originalSizeBytes: source.sizeBytes,
      status: file.status,
      path: file.entryPath,
    });
  }
  return {
    generatedAt: formatTimestamp(options.generatedAt),
    utcDay: options.utcDay,
    hour: formatHour(options.hour),
    totalSessions: sessions.length,
    totalFiles: options.files.length,
    sessions,
  };
}
