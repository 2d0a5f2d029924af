import type { Knex } from '@dcar/platform';
import type { HourKey } from './hour-archive.js';

/**
 * The lease on a tenant-hour (`hourly_archive_leases`): at most one holder generates an hour's
 * archive at a time, across every worker process, without a connection or transaction held for
 * the job's duration. Each statement below is one short, atomic round trip; times are the
 * database's clock, the same for every worker.
 */

/**
 * Takes the hour's lease for `holder` when nobody holds it or the holder's lease has expired
 * (a worker that died): true when taken. One statement, so two takers never both win.
 */
export async function acquireHourLease(db: Knex, key: HourKey, holder: string, ttlMs: number): Promise<boolean> {
  const { rows }: { rows: Array<{ holder: string }> } = await db.raw(
    `insert into hourly_archive_leases as lease (tenant_id, utc_day, hour, holder, acquired_at, expires_at)
     values (?, ?, ?, ?, now(), now() + ? * interval '1 millisecond')
     on conflict (tenant_id, utc_day, hour) do update
       set holder = excluded.holder, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
       where lease.expires_at <= now()
     returning holder`,
    [key.tenantId, key.utcDay, key.hour, holder, ttlMs],
  );
  return rows.length === 1;
}

/** Extends `holder`'s lease by `ttlMs` from now: false when it no longer holds it (expired and taken, or released). */
export async function renewHourLease(db: Knex, key: HourKey, holder: string, ttlMs: number): Promise<boolean> {
  const updated = await db('hourly_archive_leases')
    .where({ tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour, holder })
    .andWhere('expires_at', '>', db.fn.now())
    .update({ expires_at: db.raw("now() + ? * interval '1 millisecond'", [ttlMs]) });
  return updated === 1;
}

/** Ends `holder`'s lease; a lease it lost to another holder is left alone. */
export async function releaseHourLease(db: Knex, key: HourKey, holder: string): Promise<void> {
  await db('hourly_archive_leases').where({ tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour, holder }).delete();
}

/**
 * Inside a transaction: locks the hour's lease row until the transaction ends and tells whether
 * `holder` still holds it, so a result is recorded only by the lease's current holder (a renewal
 * or a takeover waits for the transaction, which is a few statements long).
 */
export async function holdsHourLease(trx: Knex.Transaction, key: HourKey, holder: string): Promise<boolean> {
  const row: { holder: string; live: boolean } | undefined = await trx('hourly_archive_leases')
    .where({ tenant_id: key.tenantId, utc_day: key.utcDay, hour: key.hour })
    .forUpdate()
    .first('holder', trx.raw('expires_at > now() as live'));
  return row !== undefined && row.holder === holder && row.live;
}
