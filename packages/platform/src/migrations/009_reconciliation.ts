import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // An archive's fingerprint (CONTRACT §3.3): how many source rows it was built from and the sum of
  // one 64-bit hash per row of (id, size, storage path), the same expression the reconciliation
  // pass computes over the current rows in SQL (@dcar/archives, source-files.ts). Null for archives
  // generated before this migration: the pass compares those by their file count.
  await knex.schema.alterTable('hourly_archives', (t) => {
    t.integer('source_file_count');
    t.decimal('source_digest', 30, 0);
  });
  // `revision` (§3.2): 1 for an hour's first archive, +1 for each regeneration. Migration 008 may
  // have created it already (download links and custody work landing in parallel).
  if (!(await knex.schema.hasColumn('hourly_archives', 'revision'))) {
    await knex.schema.alterTable('hourly_archives', (t) => {
      t.integer('revision').notNullable().defaultTo(1);
    });
  }

  // A run is either a day's run (nightly or manual: every hour of its tenants on its day) or a
  // reconciliation run (the hours the pass found changed or failed, on any day within retention).
  await knex.schema.alterTable('archive_runs', (t) => {
    t.text('kind').notNullable().defaultTo('day');
    t.check("kind in ('day', 'reconcile')", [], 'archive_runs_kind_check');
  });
  // The tenant-hours of a reconciliation run, fixed when the pass creates it.
  await knex.schema.createTable('archive_run_hours', (t) => {
    t.text('run_id').notNullable().references('archive_runs.id').onDelete('CASCADE');
    t.text('tenant_id').notNullable();
    t.date('utc_day').notNullable();
    t.smallint('hour').notNullable();
    // 'changed': its source rows differ from its archive's fingerprint; 'failed': retried.
    t.text('reason').notNullable();
    t.primary(['run_id', 'tenant_id', 'utc_day', 'hour']);
    t.check("reason in ('changed', 'failed')", [], 'archive_run_hours_reason_check');
  });

  // A reconciliation run's failed hours may lie on different days: the day becomes part of the key.
  await knex.schema.alterTable('archive_run_failures', (t) => {
    t.date('utc_day');
  });
  await knex.raw('update archive_run_failures f set utc_day = r.utc_day from archive_runs r where r.id = f.run_id');
  await knex.raw('alter table archive_run_failures alter column utc_day set not null');
  await knex.raw('alter table archive_run_failures drop constraint archive_run_failures_pkey');
  await knex.raw('alter table archive_run_failures add constraint archive_run_failures_pkey primary key (run_id, round, tenant_id, utc_day, hour)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('delete from archive_run_failures where run_id in (select id from archive_runs where kind = ?)', ['reconcile']);
  await knex.raw('alter table archive_run_failures drop constraint archive_run_failures_pkey');
  await knex.raw('alter table archive_run_failures add constraint archive_run_failures_pkey primary key (run_id, round, tenant_id, hour)');
  await knex.schema.alterTable('archive_run_failures', (t) => {
    t.dropColumn('utc_day');
  });
  await knex.schema.dropTableIfExists('archive_run_hours');
  await knex.raw('delete from archive_runs where kind = ?', ['reconcile']);
  await knex.schema.alterTable('archive_runs', (t) => {
    t.dropChecks(['archive_runs_kind_check']);
    t.dropColumn('kind');
  });
  await knex.schema.alterTable('hourly_archives', (t) => {
    t.dropColumn('source_digest');
    t.dropColumn('source_file_count');
  });
}
