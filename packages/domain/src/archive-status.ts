/**
 * The states of a tenant-hour's archive, as `hourly_archives.status` stores them. This list is the
 * only one: the table's check constraint, the run engine's counts, the API's links and the
 * scheduler's metrics are all built from it.
 */
export const ARCHIVE_STATUSES = ['pending', 'available', 'no_data', 'failed', 'expired'] as const;
export type ArchiveStatus = (typeof ARCHIVE_STATUSES)[number];
export type StatusCounts = Record<ArchiveStatus, number>;

export function emptyStatusCounts(): StatusCounts {
  return Object.fromEntries(ARCHIVE_STATUSES.map((status) => [status, 0])) as StatusCounts;
}

/**
 * For each status, the statuses an hour may reach it from:
 * - `pending`: a run puts a failed or expired hour up for generation again (a new hour starts here);
 * - `available` / `no_data`: a worker finished the hour, from any state; from `available` or
 *   `no_data` that is a regeneration (a forced run);
 * - `failed`: the hour failed in every round of a run; an available archive stays available;
 * - `expired`: retention passed for a generated hour.
 */
export const ARCHIVE_STATUS_SOURCES: Readonly<Record<ArchiveStatus, readonly ArchiveStatus[]>> = {
  pending: ['failed', 'expired'],
  available: ARCHIVE_STATUSES,
  no_data: ARCHIVE_STATUSES,
  failed: ['pending', 'no_data', 'failed', 'expired'],
  expired: ['available', 'no_data'],
};

/** Statuses of an hour whose generation ended with a result: what retention counts and a non-forced run skips. */
export const GENERATED_STATUSES: readonly ArchiveStatus[] = ['available', 'no_data'];
