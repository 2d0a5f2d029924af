import type { ArchiveStatus, UtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';

/** One hour of a tenant's day as the API reports it. */
export interface HourArchive {
  hour: number;
  status: ArchiveStatus;
  sessionCount: number;
  fileCount: number;
  sizeBytes: number;
  objectKey: string | null;
  generatedAt: Date | null;
}

/** The rows of a tenant's day, in no particular order; an hour without a row has not been queued yet. */
export async function findDayArchives(db: Knex, tenantId: string, utcDay: UtcDay): Promise<HourArchive[]> {
  const rows = (await db('hourly_archives')
    .select('hour', 'status', 'session_count', 'file_count', 'size_bytes', 'object_key', 'generated_at')
    .where({ tenant_id: tenantId, utc_day: utcDay })) as Array<{
    hour: number;
    status: ArchiveStatus;
    session_count: number;
    file_count: number;
    size_bytes: number;
    object_key: string | null;
    generated_at: Date | null;
  }>;
  return rows.map((row) => ({
    hour: row.hour,
    status: row.status,
    sessionCount: row.session_count,
    fileCount: row.file_count,
    sizeBytes: row.size_bytes,
    objectKey: row.object_key,
    generatedAt: row.generated_at,
  }));
}
