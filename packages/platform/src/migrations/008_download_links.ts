import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // The custody revision of an hour's archive: 1 for its first ZIP, +1 for each ZIP that replaces it
  // (written into metadata.json too, so a client can tell two downloads of one hour apart).
  await knex.schema.alterTable('hourly_archives', (t) => {
    t.integer('revision').notNullable().defaultTo(1);
  });
  // Downloads through the API's links are audited with the hour asked for and, when the answer
  // was a redirect to the store, the SHA-256 of the archive it pointed at.
  await knex.schema.alterTable('access_audit_log', (t) => {
    t.text('action');
    t.smallint('hour');
    t.text('archive_sha256');
  });
  await knex.raw("create index access_audit_log_downloads_idx on access_audit_log (tenant_id, utc_day, occurred_at) where action = 'download'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists access_audit_log_downloads_idx');
  await knex.schema.alterTable('access_audit_log', (t) => {
    t.dropColumn('action');
    t.dropColumn('hour');
    t.dropColumn('archive_sha256');
  });
  await knex.schema.alterTable('hourly_archives', (t) => {
    t.dropColumn('revision');
  });
}
