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
  /** Hex SHA-256 of the entry's bytes as they went into the ZIP; null until then, and for `missing`. */
  sha256: string | null;
  /** Hex SHA-256 of the source object as it was read from the store; null when `missing`. */
  originalSha256: string | null;
}

/** The most bytes a file or folder name may have on ext4, NTFS, APFS and in the common unzippers. */
export const MAX_SEGMENT_BYTES = 255;
const HASH_CHARACTERS = 8;
/**
 * Names Windows reserves for devices, also with an extension (`con.txt`), superscript digits
 * included (`COM¹`); compared case-insensitively.
 */
const WINDOWS_DEVICE_NAME = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
/** metadata.json sits at the root: no conversation folder may be named like it, in any case. */
const METADATA_FILE_NAME = 'metadata.json';
/**
 * Characters no name keeps: path separators, those Windows refuses (`<>:"|?*`), control and
 * invisible formatting characters, and '~', which marks the suffixes added here (so an added
 * suffix can never equal another id's name). Letters of any script, digits, spaces and other
 * punctuation stay: a folder is named exactly as its id wherever the id is a valid name.
 */
const UNSAFE_CHARACTER = /[/\\<>:"|?*~\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

function keepSafeCharacters(value: string): string {
  return value.replace(UNSAFE_CHARACTER, '_');
}

/** How two names compare on case-insensitive, normalisation-insensitive file systems (Windows, macOS). */
function collisionKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

function shortHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, HASH_CHARACTERS);
}

function utf8Bytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

/** The longest prefix of `value` within `maxBytes` of UTF-8, never splitting a character. */
function cutToBytes(value: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const character of value) {
    bytes += utf8Bytes(character);
    if (bytes > maxBytes) break;
    end += character.length;
  }
  return value.slice(0, end);
}

/**
 * `stem` + `tail` in at most MAX_SEGMENT_BYTES of UTF-8: a stem too long is cut and followed by '~'
 * and a hash of `whole` (the full value), so distinct long values keep distinct names.
 */
function fitSegment(stem: string, tail: string, whole: string): string {
  if (utf8Bytes(stem) + utf8Bytes(tail) <= MAX_SEGMENT_BYTES) return stem + tail;
  return `${cutToBytes(stem, MAX_SEGMENT_BYTES - utf8Bytes(tail) - 1 - HASH_CHARACTERS)}~${shortHash(whole)}${tail}`;
}

/**
 * An id as a folder name that extracts the same everywhere: no '/', '\\', Windows-reserved, control
 * or formatting characters (each becomes '_'), no '.' or '..' (they climb), no trailing dot or
 * space (Windows drops them), no Windows device name (prefixed with '_'), at most 255 bytes of
 * UTF-8 (cut, with a hash of the full id). Any other id, non-ASCII and spaces included, is kept as is.
 */
export function safeSegment(value: string): string {
  let name = keepSafeCharacters(value).replace(/[. ]+$/, (tail) => '_'.repeat(tail.length)) || '_';
  if (WINDOWS_DEVICE_NAME.test(name)) name = `_${name}`;
  return fitSegment(name, '', value);
}

/**
 * Names each file of the hour in the ZIP (CONTRACT §3.2), in row order (rows are read sorted, so
 * the names are the same for the same rows): `{conversation}/{session}/message_{messageId}_{type}.opus`,
 * unconvertible files under their original extension. Every distinct conversation id gets a folder
 * of its own and every distinct session id one within it, distinct ignoring case and Unicode
 * normalisation (macOS and Windows would merge `ABC` and `abc`, macOS an NFC and an NFD `café`): a later id whose safe name is taken gets `~2`, `~3`... A folder is
 * never named like the root's metadata.json. Two rows that would share a file name (a duplicated
 * message) get a `-2`, `-3`... suffix instead of overwriting each other when extracted.
 */
export class EntryNamer {
  /** Names taken in each folder ('' is the root), as collisionKey gives them. */
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
    for (let copy = 2; taken.has(collisionKey(name)); copy++) name = fitSegment(base, `~${copy}`, id);
    taken.add(collisionKey(name));
    this.folders.set(key, name);
    return `${parent}${name}/`;
  }

  name(source: SourceFile, status: ArchiveFileStatus, originalSha256: string | null = null): ArchivedFile {
    const extension = status === 'unconvertible' ? originalExtension(source.storagePath) : 'opus';
    const folder = this.folderFor(this.folderFor('', source.externalConversationId), source.sessionId);
    const taken = this.takenIn(folder);
    const stem = audioFileName(source.messageId, keepSafeCharacters(source.type), extension).slice(0, -(extension.length + 1));
    let fileName = fitSegment(stem, `.${extension}`, stem);
    for (let copy = 2; taken.has(collisionKey(fileName)); copy++) fileName = fitSegment(`${stem}-${copy}`, `.${extension}`, `${stem}-${copy}`);
    taken.add(collisionKey(fileName));
    return {
      source,
      status,
      fileName,
      entryPath: status === 'missing' ? null : folder + fileName,
      sha256: null,
      originalSha256: status === 'missing' ? null : originalSha256,
    };
  }
}

/** Distinct (externalConversationId, sessionId) pairs. */
export function countSessions(files: readonly { externalConversationId: string; sessionId: string }[]): number {
  return new Set(files.map((file) => JSON.stringify([file.externalConversationId, file.sessionId]))).size;
}

/** `metadata.json` for the hour: sessions in the order their files appear (rows are read sorted). */
export function buildMetadata(options: { generatedAt: Date; utcDay: string; hour: number; revision: number; files: readonly ArchivedFile[] }): ArchiveMetadata {
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
      sha256: file.sha256,
      originalSha256: file.originalSha256,
    });
  }
  return {
    generatedAt: formatTimestamp(options.generatedAt),
    utcDay: options.utcDay,
    hour: formatHour(options.hour),
    revision: options.revision,
    totalSessions: sessions.length,
    totalFiles: options.files.length,
    sessions,
  };
}
