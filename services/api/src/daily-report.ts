import type { HourArchive } from '@dcar/archives';
import type { DailyRecordings, DaySummary, HourLink, LinkStatus } from '@dcar/api-schemas';
import { ALL_HOURS, archiveKey, dayExpiresAt, dayGeneratedAt, formatHour, formatTimestamp, type UtcDay } from '@dcar/domain';

interface ReportedHour {
  hour: number;
  status: LinkStatus;
  /** The hour's row when it is available (and so has a ZIP at the tenant's own key). */
  available: (HourArchive & { key: string }) | null;
}

/**
 * Each of a day's 24 hours as the API reports it (CONTRACT §4.2). An hour without a row is pending.
 * An available row counts only when its stored key is exactly the key built from the caller's own
 * tenant: a row pointing anywhere else is reported failed (and `onKeyMismatch` told), never signed.
 */
function reportHours(input: {
  tenantId: string;
  day: UtcDay;
  hours: readonly HourArchive[];
  onKeyMismatch: (hour: number, storedKey: string | null) => void;
}): ReportedHour[] {
  const byHour = new Map(input.hours.map((row) => [row.hour, row]));
  return ALL_HOURS.map((hour): ReportedHour => {
    const row = byHour.get(hour);
    if (row?.status === 'available') {
      const key = archiveKey(input.tenantId, input.day, hour);
      if (row.objectKey !== key) {
        input.onKeyMismatch(hour, row.objectKey);
        return { hour, status: 'failed', available: null };
      }
      return { hour, status: 'available', available: { ...row, key } };
    }
    if (row?.status === 'no_data' || row?.status === 'failed') return { hour, status: row.status, available: null };
    return { hour, status: 'pending', available: null };
  });
}

function dayTimes(hours: readonly HourArchive[], retentionDays: number): { generatedAt: string | null; expiresAt: string | null } {
  const generatedAt = dayGeneratedAt(hours);
  return {
    generatedAt: generatedAt ? formatTimestamp(generatedAt) : null,
    expiresAt: generatedAt ? formatTimestamp(dayExpiresAt(generatedAt, retentionDays)) : null,
  };
}

/** The 24 links of a tenant's day (CONTRACT §4.2); counts, sizes and the SHA-256 only for available hours. */
export function buildDailyReport(input: {
  tenantId: string;
  day: UtcDay;
  hours: readonly HourArchive[];
  retentionDays: number;
  sign: (key: string, hour: number) => string;
  onKeyMismatch: (hour: number, storedKey: string | null) => void;
}): DailyRecordings {
  let totalSessions = 0;
  let totalFiles = 0;
  let totalSizeBytes = 0;
  const links = reportHours(input).map(({ hour, status, available }): HourLink => {
    if (!available) return { hour: formatHour(hour), url: null, sha256: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status };
    totalSessions += available.sessionCount;
    totalFiles += available.fileCount;
    totalSizeBytes += available.sizeBytes;
    return {
      hour: formatHour(hour),
      url: input.sign(available.key, hour),
      sha256: available.sha256,
      sessionCount: available.sessionCount,
      fileCount: available.fileCount,
      sizeBytes: available.sizeBytes,
      status,
    };
  });
  return {
    date: input.day,
    totalSessions,
    totalFiles,
    totalSizeBytes,
    ...dayTimes(input.hours, input.retentionDays),
    retentionDays: input.retentionDays,
    links,
  };
}

/** A day of the tenant's day list: what its daily report would say, counted, without links. */
export function summariseDay(input: {
  tenantId: string;
  day: UtcDay;
  hours: readonly HourArchive[];
  retentionDays: number;
  onKeyMismatch: (hour: number, storedKey: string | null) => void;
}): DaySummary {
  const summary: DaySummary = {
    date: input.day,
    hours: { available: 0, no_data: 0, pending: 0, failed: 0 },
    totalSessions: 0,
    totalFiles: 0,
    totalSizeBytes: 0,
    ...dayTimes(input.hours, input.retentionDays),
  };
  for (const { status, available } of reportHours(input)) {
    summary.hours[status] += 1;
    if (!available) continue;
    summary.totalSessions += available.sessionCount;
    summary.totalFiles += available.fileCount;
    summary.totalSizeBytes += available.sizeBytes;
  }
  return summary;
}
