import type { ArchiveStatus, UtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';

/** One tenant-hour: the unit of generation, of a row of `hourly_archives` and of a ZIP. */
export interface HourKey {
  tenantId: string;
  utcDay: UtcDay;
  hour: number;
}

/**
 * What an archive was built from (CONTRACT §3.3): how many source rows, and the sum over them of
 * one 64-bit hash of (id, size, storage path) each, a decimal string (exact: a numeric in SQL).
 * A row added, removed, or given another path or size changes it (a collision of 64-bit sums is
 * out of reach for the rows of one hour); the row order does not.
 */
export interface SourceFingerprint {
  fileCount: number;
  digest: string;
}

function whereHour(key: HourKey) {
  return { tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour };
}

/** What a worker needs to know of an hour before (re)generating it. */
export interface ArchiveState {
  status: ArchiveStatus;
  /** The revision of its current archive (1 until it was generated once). */
  revision: number;
  /** Null while the hour was never generated. */
  generatedAt: Date | null;
  /** What its archive was built from; null when never generated or generated before fingerprints existed. */
  fingerprint: SourceFingerprint | null;
}

export async function findArchiveState(db: Knex, key: HourKey): Promise<ArchiveState | null> {
  const row = (await db('hourly_archives')
    .select('status', 'revision', 'generated_at', 'source_file_count', db.raw('source_digest::text as source_digest'))
    .where(whereHour(key))
    .first()) as
    { status: ArchiveStatus; revision: number; generated_at: Date | null; source_file_count: number | null; source_digest: string | null } | undefined;
  if (!row) return null;
  return {
    status: row.status,
    revision: row.revision,
    generatedAt: row.generated_at,
    fingerprint: row.source_file_count === null || row.source_digest === null ? null : { fileCount: row.source_file_count, digest: row.source_digest },
  };
}

/** The revision an hour's next archive gets: 1 for its first, the current one + 1 for a regeneration. */
export function nextRevision(state: ArchiveState | null): number {
  return state?.generatedAt ? state.revision + 1 : 1;
}

export type ArchiveResult =
  { status: 'available'; objectKey: string; sha256: string; sizeBytes: number; fileCount: number; sessionCount: number } | { status: 'no_data' };

/**
 * Records a generated hour, from any status (a forced run regenerates available and no_data hours):
 * status, counts, object, revision, generatedAt; attempts += 1; last error cleared.
 */
export async function recordResult(
  db: Knex,
  key: HourKey,
  result: ArchiveResult,
  context: { runId: string; generatedAt: Date; revision?: number; fingerprint?: SourceFingerprint },
): Promise<void> {
  const archived =
    result.status === 'available'
      ? {
          object_key: result.objectKey,
          sha256: result.sha256,
          size_bytes: result.sizeBytes,
          file_count: result.fileCount,
          session_count: result.sessionCount,
        }
      : { object_key: null, sha256: null, size_bytes: 0, file_count: 0, session_count: 0 };
  // The fingerprint of the rows the archive was built from (§3.3); null when the caller has none.
  const values = {
    ...archived,
    source_file_count: context.fingerprint?.fileCount ?? null,
    source_digest: context.fingerprint?.digest ?? null,
  };
  await db('hourly_archives')
    .insert({
      ...whereHour(key),
      status: result.status,
      ...values,
      generated_at: context.generatedAt,
      revision: context.revision ?? 1,
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
      revision: context.revision ?? db.raw('case when hourly_archives.generated_at is null then 1 else hourly_archives.revision + 1 end'),
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
