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
  /** Lowercase hex SHA-256 of the ZIP; null unless available. */
  sha256: string | null;
  generatedAt: Date | null;
}

/** An hour of one of a tenant's days. */
export interface DayHourArchive extends HourArchive {
  utcDay: UtcDay;
}

const COLUMNS = ['utc_day', 'hour', 'status', 'session_count', 'file_count', 'size_bytes', 'object_key', 'sha256', 'generated_at'] as const;

interface Row {
  utc_day: UtcDay;
  hour: number;
  status: ArchiveStatus;
  session_count: number;
  file_count: number;
  size_bytes: number;
  object_key: string | null;
  sha256: string | null;
  generated_at: Date | null;
}

function toDayHourArchive(row: Row): DayHourArchive {
  return {
    utcDay: row.utc_day,
    hour: row.hour,
    status: row.status,
    sessionCount: row.session_count,
    fileCount: row.file_count,
    sizeBytes: row.size_bytes,
    objectKey: row.object_key,
    sha256: row.sha256,
    generatedAt: row.generated_at,
  };
}

/** The rows of a tenant's day, in no particular order; an hour without a row has not been queued yet. */
export async function findDayArchives(db: Knex, tenantId: string, utcDay: UtcDay): Promise<HourArchive[]> {
  const rows = (await db('hourly_archives').select(COLUMNS).where({ tenant_id: tenantId, utc_day: utcDay })) as Row[];
  return rows.map(toDayHourArchive);
}

/** The rows of a tenant's days from `from` to `to` (both included), in no particular order. */
export async function findArchivesOfDays(db: Knex, tenantId: string, range: { from: UtcDay; to: UtcDay }): Promise<DayHourArchive[]> {
  const rows = (await db('hourly_archives')
    .select(COLUMNS)
    .where({ tenant_id: tenantId })
    .andWhere('utc_day', '>=', range.from)
    .andWhere('utc_day', '<=', range.to)) as Row[];
  return rows.map(toDayHourArchive);
}
