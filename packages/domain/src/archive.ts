import { formatHour } from './hours.js';
import type { UtcDay } from './utc-day.js';

/** Object key of a tenant-hour's ZIP in the archive bucket (CONTRACT §3.2). */
export function archiveKey(tenantId: string, day: UtcDay, hour: number): string {
  const [yyyy, mm, dd] = day.split('-');
  return `${tenantId}/daily-conversation-audio-recordings/${yyyy}/${mm}/${dd}/${formatHour(hour)}.zip`;
}

/** File name of one message's audio inside the ZIP, with the extension of what was stored. */
export function audioFileName(messageId: number | string, type: string, extension: string): string {
  return `message_${messageId}_${type}.${extension}`;
}

/** Path of an audio file inside the ZIP: `{externalConversationId}/{sessionId}/{fileName}`. */
export function archiveEntryPath(externalConversationId: string, sessionId: string, fileName: string): string {
  return `${externalConversationId}/${sessionId}/${fileName}`;
}

/** Extension of an object key's file name, lower-cased, without the dot; 'bin' when it has none. */
export function originalExtension(storagePath: string): string {
  const name = storagePath.slice(storagePath.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return 'bin';
  const extension = name.slice(dot + 1).toLowerCase();
  return /^[a-z0-9]{1,10}$/.test(extension) ? extension : 'bin';
}

export type ArchiveFileStatus = 'converted' | 'missing' | 'unconvertible';

export interface ArchiveMetadataFile {
  fileName: string;
  originalPath: string;
  messageId: number;
  type: string;
  timestamp: string;
  originalSizeBytes: number;
  status: ArchiveFileStatus;
}

export interface ArchiveMetadataSession {
  externalConversationId: string;
  sessionId: string;
  files: ArchiveMetadataFile[];
}

/** `metadata.json` at the root of every hourly ZIP (CONTRACT §3.2). */
export interface ArchiveMetadata {
  generatedAt: string;
  utcDay: string;
  hour: string;
  totalSessions: number;
  totalFiles: number;
  sessions: ArchiveMetadataSession[];
}

/** ISO-8601 without milliseconds, as the contract's examples show: 2025-12-13T02:15:32Z. */
export function formatTimestamp(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
