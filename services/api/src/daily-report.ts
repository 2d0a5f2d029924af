import { ALL_HOURS, archiveKey, dayExpiresAt, formatHour, formatTimestamp, type UtcDay } from '@dcar/domain';

export type LinkStatus = 'available' | 'no_data' | 'pending' | 'failed';

/** The columns of `hourly_archives` the report reads. */
export interface HourlyArchiveRow {
  hour: number;
  status: 'pending' | 'available' | 'no_data' | 'failed' | 'expired';
  session_count: number;
  file_count: number;
  size_bytes: number;
  object_key: string | null;
  generated_at: Date | null;
}

export interface HourLink {
  hour: string;
  url: string | null;
  sessionCount: number;
  fileCount: number;
  sizeBytes: number;
  status: LinkStatus;
}

export interface DailyReport {
  date: string;
  totalSessions: number;
  totalFiles: number;
  totalSizeBytes: number;
  generatedAt: string | null;
  retentionDays: number;
  expiresAt: string | null;
  links: HourLink[];
}

/** When the day's generation last wrote a result: the latest generated_at of its hours, null when none has one. */
export function dayGeneratedAt(rows: readonly HourlyArchiveRow[]): Date | null {
  let latest: Date | null = null;
  for (const row of rows) {
    if (row.generated_at && (!latest || row.generated_at > latest)) latest = row.generated_at;
  }
  return latest;
}

/**
 * The 24 links of a tenant's day (CONTRACT §4.2). An hour without a row is pending. The URL is signed
 * for the key built from the caller's own tenant, and only when the stored key is exactly that key:
 * a row pointing anywhere else is reported failed (and `onKeyMismatch` told), never signed.
 */
export function buildDailyReport(input: {
  tenantId: string;
  day: UtcDay;
  rows: readonly HourlyArchiveRow[];
  retentionDays: number;
  sign: (key: string) => string;
  onKeyMismatch: (hour: number, storedKey: string | null) => void;
}): DailyReport {
  const byHour = new Map(input.rows.map((row) => [row.hour, row]));
  let totalSessions = 0;
  let totalFiles = 0;
  let totalSizeBytes = 0;
  const links = ALL_HOURS.map((hour): HourLink => {
    const row = byHour.get(hour);
    const link: HourLink = { hour: formatHour(hour), url: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status: 'pending' };
    if (!row) return link;
    if (row.status === 'available') {
      const key = archiveKey(input.tenantId, input.day, hour);
      if (row.object_key !== key) {
        input.onKeyMismatch(hour, row.object_key);
        return { ...link, status: 'failed' };
      }
      totalSessions += row.session_count;
      totalFiles += row.file_count;
      totalSizeBytes += row.size_bytes;
      return { ...link, url: input.sign(key), sessionCount: row.session_count, fileCount: row.file_count, sizeBytes: row.size_bytes, status: 'available' };
    }
    if (row.status === 'no_data' || row.status === 'failed') return { ...link, status: row.status };
    return link;
  });
  const generatedAt = dayGeneratedAt(input.rows);
  return {
    date: input.day,
    totalSessions,
    totalFiles,
    totalSizeBytes,
    generatedAt: generatedAt ? formatTimestamp(generatedAt) : null,
    retentionDays: input.retentionDays,
    expiresAt: generatedAt ? formatTimestamp(dayExpiresAt(generatedAt, input.retentionDays)) : null,
    links,
  };
}
