import type { ArchiveStatus, UtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';

/** One tenant-hour: the unit of generation, of a row of `hourly_archives` and of a ZIP. */
export interface HourKey {
  tenantId: string;
  utcDay: UtcDay;
  hour: number;
}

function whereHour(key: HourKey) {
  return { tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour };
}

/**
 * Serialises work on one tenant-hour across every worker process until the transaction ends: a
 * job that outlived its BullMQ lock and its replacement never upload to the same key at once.
 */
export async function lockHour(trx: Knex.Transaction, key: HourKey): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`hourly_archives:${key.tenantId}:${key.utcDay}:${key.hour}`]);
}

export async function findArchiveStatus(db: Knex, key: HourKey): Promise<ArchiveStatus | null> {
  const row: { status: ArchiveStatus } | undefined = await db('hourly_archives').select('status').where(whereHour(key)).first();
  return row?.status ?? null;
}

export type ArchiveResult =
  | { status: 'available'; objectKey: string; sha256: string; sizeBytes: number; fileCount: number; sessionCount: number }
  | { status: 'no_data' };

/**
 * Records a generated hour, from any status (a forced run regenerates available and no_data hours):
 * status, counts, object, generatedAt; attempts += 1; last error cleared.
 */
export async function recordResult(db: Knex, key: HourKey, result: ArchiveResult, context: { runId: string; generatedAt: Date }): Promise<void> {
  const values =
    result.status === 'available'
      ? { object_key: result.objectKey, sha256: result.sha256, size_bytes: result.sizeBytes, file_count: result.fileCount, session_count: result.sessionCount }
      : { object_key: null, sha256: null, size_bytes: 0, file_count: 0, session_count: 0 };
  await db('hourly_archives')
    .insert({
      ...whereHour(key),
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
    .insert({ ...whereHour(key), status: 'pending', attempts: 1, last_error: message, updated_at: db.fn.now() })
    .onConflict(['tenant_id', 'utc_day', 'hour'])
    .merge({ attempts: db.raw('hourly_archives.attempts + 1'), last_error: message, updated_at: db.fn.now() });
}
