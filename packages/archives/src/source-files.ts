import { hourWindow } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import type { HourKey } from './hour-archive.js';

/**
 * Reads of `conversation_audio_files`, the recording platform's table (CONTRACT §3.1): this system
 * never writes it. An hour's archive is built from these rows.
 */

/** One `conversation_audio_files` row of an hour. */
export interface SourceFile {
  id: number;
  externalConversationId: string;
  sessionId: string;
  /** Decimal digits, exact: a bigint in the database, so it may exceed 2^53. */
  messageId: string;
  type: string;
  storagePath: string;
  sizeBytes: number;
  recordedAt: Date;
}

/**
 * The hour's source rows, `[HH:00, HH+1:00)` UTC, in archive order: conversation, session, time,
 * message id (then row id, so even duplicates have one order). Byte-wise collation keeps the order
 * the same on every database, whatever its locale.
 */
export async function findHourFiles(db: Knex, key: HourKey): Promise<SourceFile[]> {
  const { start, end } = hourWindow(key.utcDay, key.hour);
  const rows: {
    id: number;
    external_conversation_id: string;
    session_id: string;
    message_id: string;
    type: string;
    storage_path: string;
    size_bytes: number;
    recorded_at: Date;
  }[] = await db('conversation_audio_files')
    // message_id as text: the INT8 parser makes numbers of bigints, which would round ids above 2^53.
    .select('id', 'external_conversation_id', 'session_id', db.raw('message_id::text as message_id'), 'type', 'storage_path', 'size_bytes', 'recorded_at')
    .where('tenant_id', key.tenantId)
    .andWhere('recorded_at', '>=', start)
    .andWhere('recorded_at', '<', end)
    .orderByRaw('external_conversation_id collate "C", session_id collate "C", recorded_at, message_id, id');
  return rows.map((row) => ({
    id: row.id,
    externalConversationId: row.external_conversation_id,
    sessionId: row.session_id,
    messageId: row.message_id,
    type: row.type,
    storagePath: row.storage_path,
    sizeBytes: row.size_bytes,
    recordedAt: row.recorded_at,
  }));
}
