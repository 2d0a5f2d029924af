import { hourWindow, type UtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import type { SourceFile } from './layout.js';

export interface HourKey {
  tenantId: string;
  utcDay: UtcDay;
  hour: number;
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
    // message_id as text: the INT8 parser makes numbers of bigints, which rounds ids above 2^53.
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

/**
 * Serialises work on one tenant-hour across every worker process until the transaction ends: a
 * job that outlived its BullMQ lock and its replacement never upload to the same key at once.
 */
export async function lockHour(trx: Knex.Transaction, key: HourKey): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`hourly_archives:${key.tenantId}:${key.utcDay}:${key.hour}`]);
}

export async function findArchiveStatus(db: Knex, key: HourKey): Promise<string | null> {
  const row: { status: string } | undefined = await db('hourly_archives')
    .select('status')
    .where({ tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour })
    .first();
  return row?.status ?? null;
}

export type ArchiveResult =
  | { status: 'available'; objectKey: string; sha256: string; sizeBytes: number; fileCount: number; sessionCount: number }
  | { status: 'no_data' };

/** Records a generated hour: status, counts, object, generatedAt; attempts += 1; last error cleared. */
export async function recordResult(db: Knex, key: HourKey, result: ArchiveResult, context: { runId: string; generatedAt: Date }): Promise<void> {
  const values =
    result.status === 'available'
      ? { object_key: result.objectKey, sha256: result.sha256, size_bytes: result.sizeBytes, file_count: result.fileCount, session_count: result.sessionCount }
      : { object_key: null, sha256: null, size_bytes: 0, file_count: 0, session_count: 0 };
  await db('hourly_archives')
    .insert({
      tenant_id: key.tenantId,
      utc_day: key.utcDay,
      hour: key.hour,
      status: result.status,
      ...values,
      generated_at: context.generatedAt,
      attempts: 1,
      last_error: null,
      last_run_id: context.runId,
      updated_at: db.fn.now(),
    })
    .onConflict(['tenant_id', 'utc_day', 'hour'])
    .merge({
      status: result.status,
      ...values,
      generated_at: context.generatedAt,
      attempts: db.raw('hourly_archives.attempts + 1'),
      last_error: null,
      last_run_id: context.runId,
      updated_at: db.fn.now(),
    });
}

/**
 * Records a failed attempt: attempts += 1 and the error, status untouched (an available archive
 * stays available while a forced re-run fails). A row that did not exist yet starts as pending.
 */
export async function recordFailure(db: Knex, key: HourKey, message: string): Promise<void> {
  await db('hourly_archives')
    .insert({ tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour, status: 'pending', attempts: 1, last_error: message, updated_at: db.fn.now() })
    .onConflict(['tenant_id', 'utc_day', 'hour'])
    .merge({ attempts: db.raw('hourly_archives.attempts + 1'), last_error: message, updated_at: db.fn.now() });
}
