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
  /**
   * The message's id exactly, in decimal digits: a bigint in the database, so it may exceed 2^53.
   * metadata.json writes it as a JSON number, digit for digit (see serializeArchiveMetadata).
   */
  messageId: string;
  type: string;
  timestamp: string;
  originalSizeBytes: number;
  status: ArchiveFileStatus;
  /**
   * The file's entry in the ZIP; null when nothing was stored (`missing`). Its folders are the ids
   * made safe for every file system, so clients map metadata to entries by this path.
   */
  path: string | null;
  /** Hex SHA-256 of the entry's bytes in the ZIP; null when `missing`. */
  sha256: string | null;
  /** Hex SHA-256 of the source object as read from the store; null when `missing`. */
  originalSha256: string | null;
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
  /** 1 for an hour's first archive, +1 each time the hour is regenerated (CONTRACT §3.2). */
  revision: number;
  totalSessions: number;
  totalFiles: number;
  sessions: ArchiveMetadataSession[];
}

/** ISO-8601 without milliseconds, as the contract's examples show: 2025-12-13T02:15:32Z. */
export function formatTimestamp(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

declare global {
  interface JSON {
    /** ES2026 (Node.js 21+): a value that JSON.stringify writes as the given JSON text, unchanged. */
    rawJSON(text: string): unknown;
  }
}

/**
 * The text of `metadata.json`: indented JSON whose message ids are JSON numbers written digit for
 * digit, so ids above 2^53 are not rounded (a client reading them as 64-bit integers gets them exactly).
 */
export function serializeArchiveMetadata(metadata: ArchiveMetadata): string {
  const exactIds = (key: string, value: unknown) => (key === 'messageId' && typeof value === 'string' ? JSON.rawJSON(value) : value);
  return `${JSON.stringify(metadata, exactIds, 2)}\n`;
}

/** Reads `metadata.json` keeping message ids exact, as decimal strings (JSON.parse would round those above 2^53). */
export function parseArchiveMetadata(text: string): ArchiveMetadata {
  // Node.js 21+ hands revivers the source text of each primitive.
  const exactIds = (key: string, value: unknown, context?: { source?: string }) =>
    key === 'messageId' && typeof value === 'number' && context?.source !== undefined ? context.source : value;
  return JSON.parse(text, exactIds) as ArchiveMetadata;
}
