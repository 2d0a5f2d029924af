import type { SourceFile } from '@dcar/archives';
import {
  archiveEntryPath,
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

/**
 * A path segment that cannot climb out of its folder or hide in one when the ZIP is extracted:
 * ids are platform data, so '/', '\\', '..' and control characters become '_'.
 */
export function safeSegment(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._@+=-]/g, '_');
  return /^\.*$/.test(cleaned) ? cleaned.replace(/\./g, '_') || '_' : cleaned;
}

/**
 * Names each file of the hour in the ZIP (CONTRACT §3.2), in row order: converted files as
 * `message_{messageId}_{type}.opus`, unconvertible ones under their original extension. Two rows
 * that would share a path (a duplicated message) get a `-2`, `-3`... suffix instead of
 * overwriting each other when extracted.
 */
export class EntryNamer {
  private readonly used = new Set<string>();

  name(source: SourceFile, status: ArchiveFileStatus): ArchivedFile {
    const extension = status === 'unconvertible' ? originalExtension(source.storagePath) : 'opus';
    const folder = archiveEntryPath(safeSegment(source.externalConversationId), safeSegment(source.sessionId), '');
    const base = audioFileName(source.messageId, safeSegment(source.type), extension);
    let fileName = base;
    for (let copy = 2; this.used.has(folder + fileName.toLowerCase()); copy++) {
      fileName = base.replace(/\.[^.]+$/, `-${copy}$&`);
    }
    this.used.add(folder + fileName.toLowerCase());
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
