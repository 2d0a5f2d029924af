import { hourWindow } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import type { HourKey, SourceFingerprint } from './hour-archive.js';

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

/** The fingerprint of an hour without rows. */
export const EMPTY_FINGERPRINT: SourceFingerprint = { fileCount: 0, digest: '0' };

/**
 * One row's part of the digest, over `conversation_audio_files` aliased `alias`: PostgreSQL's 64-bit
 * `hashtextextended` of "id/size/path" (the hash behind hash partitioning, so stable across
 * versions). The worker (findHourSource) and the reconciliation pass (hourFingerprintsSql) both sum
 * this expression in SQL, so their fingerprints compare exactly.
 */
export function rowDigestSql(alias: string): string {
  return `hashtextextended(${alias}.id::text || '/' || ${alias}.size_bytes::text || '/' || ${alias}.storage_path, 0)`;
}

/**
 * The hour's source rows, `[HH:00, HH+1:00)` UTC, in archive order: conversation, session, time,
 * message id (then row id, so even duplicates have one order; byte-wise collation keeps the order
 * the same on every database, whatever its locale), and their fingerprint, from one statement: the
 * fingerprint describes exactly the rows returned, whatever the platform writes meanwhile.
 */
export async function findHourSource(db: Knex, key: HourKey): Promise<{ files: SourceFile[]; fingerprint: SourceFingerprint }> {
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
    fingerprint_count: string | number;
    fingerprint_digest: string;
  }[] = await db('conversation_audio_files as f')
    .select(
      'f.id',
      'f.external_conversation_id',
      'f.session_id',
      // As text: the INT8 parser makes numbers of bigints, which would round ids above 2^53.
      db.raw('f.message_id::text as message_id'),
      'f.type',
      'f.storage_path',
      'f.size_bytes',
      'f.recorded_at',
    )
    .select(db.raw('count(*) over () as fingerprint_count'))
    .select(db.raw(`(sum(${rowDigestSql('f')}) over ())::text as fingerprint_digest`))
    .where('f.tenant_id', key.tenantId)
    .andWhere('f.recorded_at', '>=', start)
    .andWhere('f.recorded_at', '<', end)
    .orderByRaw('f.external_conversation_id collate "C", f.session_id collate "C", f.recorded_at, f.message_id, f.id');
  const first = rows[0];
  const fingerprint = first ? { fileCount: Number(first.fingerprint_count), digest: first.fingerprint_digest } : EMPTY_FINGERPRINT;
  return {
    files: rows.map((row) => ({
      id: row.id,
      externalConversationId: row.external_conversation_id,
      sessionId: row.session_id,
      messageId: row.message_id,
      type: row.type,
      storagePath: row.storage_path,
      sizeBytes: row.size_bytes,
      recordedAt: row.recorded_at,
    })),
    fingerprint,
  };
}

/**
 * SQL of the current fingerprint of each hour of one tenant's days that has source rows: rows
 * `(utc_day, hour, file_count, digest)`. `tenant`, `firstDay` and `lastDay` are SQL expressions
 * (columns of an outer scope, for a lateral join). One index range scan on (tenant_id,
 * recorded_at), the index the contract requires: never a sequential scan of the table, however
 * many rows it selects, and neither the audio nor the store is read.
 */
export function tenantHourFingerprintsSql(tenant: string, firstDay: string, lastDay: string): string {
  return `select (f.recorded_at at time zone 'UTC')::date as utc_day,
                 extract(hour from f.recorded_at at time zone 'UTC')::int as hour,
                 count(*)::int as file_count,
                 sum(${rowDigestSql('f')}) as digest
            from conversation_audio_files f
           where f.tenant_id = ${tenant}
             and f.recorded_at >= ${firstDay}::timestamp at time zone 'UTC'
             and f.recorded_at < (${lastDay} + 1)::timestamp at time zone 'UTC'
           group by 1, 2`;
}

/**
 * The same for every tenant of `scope`, a relation with columns `(tenant_id, first_day, last_day)`:
 * rows `(tenant_id, utc_day, hour, file_count, digest)`, a lateral index scan per tenant.
 */
export function hourFingerprintsSql(scope: string): string {
  return `select s.tenant_id, c.utc_day, c.hour, c.file_count, c.digest
      from ${scope} s
      cross join lateral (${tenantHourFingerprintsSql('s.tenant_id', 's.first_day', 's.last_day')}) c`;
}
