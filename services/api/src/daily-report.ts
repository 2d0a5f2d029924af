import type { HourArchive } from '@dcar/archives';
import type { DailyRecordings, HourLink } from '@dcar/api-schemas';
import { ALL_HOURS, archiveKey, dayExpiresAt, dayGeneratedAt, formatHour, formatTimestamp, type UtcDay } from '@dcar/domain';

/**
 * The 24 links of a tenant's day (CONTRACT §4.2). An hour without a row is pending. The URL is signed
 * for the key built from the caller's own tenant, and only when the stored key is exactly that key:
 * a row pointing anywhere else is reported failed (and `onKeyMismatch` told), never signed.
 */
export function buildDailyReport(input: {
  tenantId: string;
  day: UtcDay;
  hours: readonly HourArchive[];
  retentionDays: number;
  sign: (key: string) => string;
  onKeyMismatch: (hour: number, storedKey: string | null) => void;
}): DailyRecordings {
  const byHour = new Map(input.hours.map((row) => [row.hour, row]));
  let totalSessions = 0;
  let totalFiles = 0;
  let totalSizeBytes = 0;
  const links = ALL_HOURS.map((hour): HourLink => {
    const row = byHour.get(hour);
    const link: HourLink = { hour: formatHour(hour), url: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status: 'pending' };
    if (!row) return link;
    if (row.status === 'available') {
      const key = archiveKey(input.tenantId, input.day, hour);
      if (row.objectKey !== key) {
        input.onKeyMismatch(hour, row.objectKey);
        return { ...link, status: 'failed' };
      }
      totalSessions += row.sessionCount;
      totalFiles += row.fileCount;
      totalSizeBytes += row.sizeBytes;
      return { ...link, url: input.sign(key), sessionCount: row.sessionCount, fileCount: row.fileCount, sizeBytes: row.sizeBytes, status: 'available' };
    }
    if (row.status === 'no_data' || row.status === 'failed') return { ...link, status: row.status };
    return link;
  });
  const generatedAt = dayGeneratedAt(input.hours);
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
