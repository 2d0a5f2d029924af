import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // The tenants a run covers, fixed when it starts: a tenant enabled or disabled mid-run does not change its rounds.
  await knex.schema.alterTable('archive_runs', (t) => {
    t.specificType('tenant_ids', 'text[]').notNullable().defaultTo('{}');
  });

  // The tenant-hours whose job failed in a round: the next round redoes exactly these, read in pages,
  // and after the last round they are the ones marked failed.
  await knex.schema.createTable('archive_run_failures', (t) => {
    t.text('run_id').notNullable().references('archive_runs.id').onDelete('CASCADE');
    t.smallint('round').notNullable();
    t.text('tenant_id').notNullable();
    t.smallint('hour').notNullable();
    t.text('error').notNullable();
    t.primary(['run_id', 'round', 'tenant_id', 'hour']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('archive_run_failures');
  await knex.schema.alterTable('archive_runs', (t) => {
    t.dropColumn('tenant_ids');
  });
}
