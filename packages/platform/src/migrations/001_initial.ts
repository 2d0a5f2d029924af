import { ARCHIVE_STATUSES } from '@dcar/domain';
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Written by the recording platform; this system only reads it (CONTRACT §3.1).
  await knex.schema.createTable('conversation_audio_files', (t) => {
    t.bigIncrements('id').primary();
    t.text('tenant_id').notNullable();
    t.text('external_conversation_id').notNullable();
    t.text('session_id').notNullable();
    t.bigInteger('message_id').notNullable();
    t.text('type').notNullable();
    t.text('storage_path').notNullable();
    t.bigInteger('size_bytes').notNullable();
    t.timestamp('recorded_at', { useTz: true }).notNullable();
    t.index(['tenant_id', 'recorded_at'], 'conversation_audio_files_tenant_recorded_at_idx');
  });

  await knex.schema.createTable('tenants', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('tenant_feature_settings', (t) => {
    t.text('tenant_id').primary().references('tenants.id').onDelete('CASCADE');
    t.boolean('daily_audio_recordings_enabled').notNullable().defaultTo(false);
    t.integer('retention_days').notNullable().defaultTo(3);
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check('retention_days between 1 and 7', [], 'tenant_feature_settings_retention_days_check');
  });

  await knex.schema.createTable('api_clients', (t) => {
    t.text('client_id').primary();
    t.text('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('secret_hash').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
    t.index(['tenant_id']);
  });

  await knex.schema.createTable('archive_runs', (t) => {
    t.text('id').primary();
    t.date('utc_day').notNullable();
    t.text('trigger').notNullable();
    t.boolean('force').notNullable().defaultTo(false);
    // The tenants asked for (null: every enabled tenant, resolved when the run starts).
    t.specificType('requested_tenant_ids', 'text[]');
    t.text('state').notNullable();
    t.integer('round').notNullable().defaultTo(0);
    t.integer('tenant_count').notNullable().defaultTo(0);
    t.integer('job_count').notNullable().defaultTo(0);
    t.jsonb('counts').notNullable().defaultTo('{}');
    t.jsonb('rounds').notNullable().defaultTo('[]');
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true });
    t.index(['utc_day']);
  });

  await knex.schema.createTable('hourly_archives', (t) => {
    t.bigIncrements('id').primary();
    t.text('tenant_id').notNullable();
    t.date('utc_day').notNullable();
    t.smallint('hour').notNullable();
    t.text('status').notNullable();
    t.integer('session_count').notNullable().defaultTo(0);
    t.integer('file_count').notNullable().defaultTo(0);
    t.bigInteger('size_bytes').notNullable().defaultTo(0);
    t.text('object_key');
    t.text('sha256');
    t.timestamp('generated_at', { useTz: true });
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.text('last_run_id');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['tenant_id', 'utc_day', 'hour'], { indexName: 'hourly_archives_tenant_day_hour_key' });
    t.index(['status', 'utc_day']);
    t.check('hour between 0 and 23', [], 'hourly_archives_hour_check');
    // The domain's status list gives exactly the constraint this migration always created; a status
    // added later needs a migration of its own that replaces the constraint.
    t.check(`status in (${ARCHIVE_STATUSES.map((status) => `'${status}'`).join(', ')})`, [], 'hourly_archives_status_check');
  });

  await knex.schema.createTable('access_audit_log', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('tenant_id');
    t.text('client_id');
    t.text('utc_day');
    t.integer('status_code').notNullable();
    t.text('remote_address');
    t.text('user_agent');
    t.text('request_id');
    t.index(['tenant_id', 'occurred_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'access_audit_log',
    'hourly_archives',
    'archive_runs',
    'api_clients',
    'tenant_feature_settings',
    'tenants',
    'conversation_audio_files',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
