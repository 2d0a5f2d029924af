import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Who is generating a tenant-hour's archive right now: one row per hour being worked on, taken
  // atomically, renewed while the job runs and deleted at its end. A lease whose holder died
  // expires on its own, so no PostgreSQL connection or transaction is held for a job's duration.
  await knex.schema.createTable('hourly_archive_leases', (t) => {
    t.text('tenant_id').notNullable();
    t.date('utc_day').notNullable();
    t.smallint('hour').notNullable();
    t.text('holder').notNullable();
    t.timestamp('acquired_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.primary(['tenant_id', 'utc_day', 'hour'], { constraintName: 'hourly_archive_leases_pkey' });
    t.check('hour between 0 and 23', [], 'hourly_archive_leases_hour_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('hourly_archive_leases');
}
