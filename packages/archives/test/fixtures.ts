import type { ArchiveStatus } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import { hourFingerprintsSql } from '../src/source-files.js';

/**
 * Test fixtures on `hourly_archives`, kept with the table's owner: tests set up rows in any state
 * (an expired day, a row left by a crash) and read back exactly what is stored, column by column.
 */

/** A stored row, column by column. */
export interface ArchiveRowColumns {
  id: number;
  tenant_id: string;
  utc_day: string;
  hour: number;
  status: ArchiveStatus;
  session_count: number;
  file_count: number;
  size_bytes: number;
  object_key: string | null;
  sha256: string | null;
  generated_at: Date | null;
  attempts: number;
  last_error: string | null;
  last_run_id: string | null;
  updated_at: Date;
  /** 1 for an hour's first archive, +1 per regeneration. */
  revision: number;
  /** The archive's fingerprint (null before it was generated with one): rows and their digest, a decimal string. */
  source_file_count: number | null;
  source_digest: string | null;
}

export type ArchiveRowInput = Pick<ArchiveRowColumns, 'tenant_id' | 'utc_day' | 'hour' | 'status'> &
  Partial<Omit<ArchiveRowColumns, 'id' | 'tenant_id' | 'utc_day' | 'hour' | 'status'>>;

/** Inserts rows as given; with `replace`, a row for the same tenant-hour is overwritten. */
export async function insertArchiveRows(db: Knex, rows: readonly ArchiveRowInput[], options: { replace?: boolean } = {}): Promise<void> {
  const insert = db('hourly_archives').insert(rows);
  await (options.replace ? insert.onConflict(['tenant_id', 'utc_day', 'hour']).merge() : insert);
}

/** The stored row of a tenant-hour, or undefined. */
export async function findArchiveRow(db: Knex, key: { tenantId: string; utcDay: string; hour: number }): Promise<ArchiveRowColumns | undefined> {
  return (await db('hourly_archives').where({ tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour }).first()) as ArchiveRowColumns | undefined;
}

/** Stored rows by hour, of a tenant (on a day, and of some hours, when given). */
export async function findArchiveRows(db: Knex, filter: { tenantId: string; utcDay?: string; hours?: readonly number[] }): Promise<ArchiveRowColumns[]> {
  const query = db('hourly_archives').where({ tenant_id: filter.tenantId }).orderBy('hour');
  if (filter.utcDay !== undefined) query.where({ utc_day: filter.utcDay });
  if (filter.hours !== undefined) query.whereIn('hour', filter.hours);
  return (await query) as ArchiveRowColumns[];
}

/** Rows of a day in one status, all tenants together. */
export async function countArchiveRows(db: Knex, filter: { utcDay: string; status: ArchiveStatus }): Promise<number> {
  const row = (await db('hourly_archives').where({ utc_day: filter.utcDay, status: filter.status }).count('* as count').first()) as
    { count: string | number } | undefined;
  return Number(row?.count ?? 0);
}

/**
 * Records every hour of the scope that has source rows as `available`, with the fingerprint of its
 * current rows (a stand-in object key and sha256): archives as a worker would have left them, in
 * one statement, for benchmarks of the reconciliation pass over many tenants.
 */
export async function insertFingerprintedArchives(db: Knex, scope: ReadonlyArray<{ tenantId: string; firstDay: string; lastDay: string }>): Promise<number> {
  const { rowCount }: { rowCount: number } = await db.raw(
    `with scope as (select * from unnest(?::text[], ?::date[], ?::date[]) as s(tenant_id, first_day, last_day))
     insert into hourly_archives (tenant_id, utc_day, hour, status, session_count, file_count, size_bytes, object_key, sha256, generated_at, attempts, source_file_count, source_digest)
     select c.tenant_id, c.utc_day, c.hour, 'available', 1, c.file_count, 1000, c.tenant_id || '/' || c.utc_day || '/' || c.hour || '.zip', repeat('0', 64), now(), 1, c.file_count, c.digest
       from (${hourFingerprintsSql('scope')}) c`,
    [scope.map((s) => s.tenantId), scope.map((s) => s.firstDay), scope.map((s) => s.lastDay)],
  );
  return rowCount;
}
